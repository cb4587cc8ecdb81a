"""create_school: a school with its flags, year groups and calendar."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone

from pupils import calendar as cal
from pupils.models import AcademicYear, Flag, HalfTerm, School, YearGroup
from tests.pupils.importing import run, run_rejected, write

CALENDAR = """name,start,end
Autumn 1,2025-09-03,2025-10-24
Autumn 2,2025-11-03,2025-12-19
Spring 1,2026-01-05,2026-02-13
Spring 2,2026-02-23,2026-03-27
Summer 1,2026-04-13,2026-05-22
Summer 2,2026-06-01,2026-07-21
"""


def nothing_created():
    return not (School.objects.exists() or HalfTerm.objects.exists() or AcademicYear.objects.exists())


def test_creates_a_school_with_the_england_default_calendar_for_three_years(db):
    out = run("create_school", "--urn", "123456", "--name", "Oakfield Primary")
    school = School.objects.get(urn="123456")
    assert school.name == "Oakfield Primary"
    year = cal.academic_year_start(timezone.localdate())
    names = list(AcademicYear.objects.filter(school=school).values_list("name", flat=True))
    assert names == [cal.academic_year_name(y) for y in (year - 1, year, year + 1)]
    assert HalfTerm.objects.filter(school=school).count() == 18
    assert "Created Oakfield Primary (URN 123456) with 18 half-terms" in out
    assert "from the England default calendar" in out


def test_a_new_school_has_the_standard_flags_and_year_groups(db):
    run("create_school", "--urn", "123456", "--name", "Oakfield Primary")
    school = School.objects.get()
    assert set(Flag.objects.filter(school=school).values_list("key", flat=True)) == set(Flag.STANDARD)
    assert {"R", "1", "6"} <= set(YearGroup.objects.filter(school=school).values_list("code", flat=True))


def test_creates_a_school_with_the_calendar_from_a_file(tmp_path, db):
    out = run(
        "create_school",
        "--urn",
        "123456",
        "--name",
        "Oakfield Primary",
        "--calendar",
        write(tmp_path, "cal.csv", CALENDAR),
    )
    school = School.objects.get()
    terms = list(HalfTerm.objects.filter(school=school).values_list("name", "start_on", "end_on"))
    assert terms[0] == ("Autumn 1", date(2025, 9, 3), date(2025, 10, 24))
    assert terms[-1] == ("Summer 2", date(2026, 6, 1), date(2026, 7, 21))
    assert len(terms) == 6
    assert AcademicYear.objects.get(school=school).name == "2025/26"
    assert "with 6 half-terms from 2025-09-03 to 2026-07-21, from cal.csv" in out


def test_calendar_header_names_are_case_insensitive(tmp_path, db):
    run(
        "create_school",
        "--urn",
        "123456",
        "--name",
        "Oakfield Primary",
        "--calendar",
        write(tmp_path, "cal.csv", CALENDAR.replace("name,start,end", "Name,Start,End")),
    )
    assert HalfTerm.objects.count() == 6


def test_a_bad_calendar_lists_every_problem_and_creates_nothing(tmp_path, db):
    bad = "name,start,end\nAutumn 1,2025-09-03,2025-10-24\n,3rd Nov 2025,2025-12-19\nSpring 1,2026-02-13,2026-01-05\n"
    message = run_rejected(
        "create_school", "--urn", "123456", "--name", "Oakfield", "--calendar", write(tmp_path, "cal.csv", bad)
    )
    assert "cal.csv was rejected and no school was created: 3 problem(s)." in message
    assert "row 3, column start: '3rd Nov 2025' is not a date (write YYYY-MM-DD or DD/MM/YYYY)" in message
    assert "row 3, column name: a half-term needs a name" in message
    assert "row 4, column end: the half-term ends before it starts" in message
    assert nothing_created()


def test_calendar_dates_may_be_written_as_excel_writes_them(tmp_path, db):
    excel = "name,start,end\r\nAutumn 1,03/09/2025,24/10/2025\r\nAutumn 2,3/11/2025,19/12/2025\r\n"
    run("create_school", "--urn", "123456", "--name", "Oakfield", "--calendar", write(tmp_path, "cal.csv", excel))
    assert [(t.start_on, t.end_on) for t in HalfTerm.objects.order_by("start_on")] == [
        (date(2025, 9, 3), date(2025, 10, 24)),
        (date(2025, 11, 3), date(2025, 12, 19)),
    ]


def test_overlapping_half_terms_are_named_by_their_rows(tmp_path, db):
    overlap = "name,start,end\nAutumn 2,2025-11-03,2025-12-19\nAutumn 1,2025-09-03,2025-11-04\n"
    message = run_rejected(
        "create_school", "--urn", "123456", "--name", "Oakfield", "--calendar", write(tmp_path, "cal.csv", overlap)
    )
    assert "row 2, column start: Autumn 2 overlaps Autumn 1 (row 3), which ends 4 Nov 2025" in message
    assert nothing_created()


def test_a_calendar_missing_a_column_creates_nothing(tmp_path, db):
    message = run_rejected(
        "create_school",
        "--urn",
        "123456",
        "--name",
        "Oakfield",
        "--calendar",
        write(tmp_path, "cal.csv", "name,start\n"),
    )
    assert "row 1, column end: required column is missing" in message
    assert nothing_created()


def test_a_taken_urn_is_refused_and_nothing_changes(db):
    run("create_school", "--urn", "123456", "--name", "Oakfield Primary")
    before = (School.objects.count(), HalfTerm.objects.count())
    message = run_rejected("create_school", "--urn", "123456", "--name", "Birchwood Primary")
    assert message == "A school with URN 123456 already exists."
    assert (School.objects.count(), HalfTerm.objects.count()) == before
    assert School.objects.get().name == "Oakfield Primary"


def test_the_letterhead_can_be_given_when_the_school_is_created(db):
    run(
        "create_school",
        "--urn",
        "137654",
        "--name",
        "Northfield Academy",
        "--address",
        "Mill Road; Leeds ;LS1 4AB",
        "--phone",
        "0113 496 0000",
        "--email",
        "office@northfield.example",
        "--signatory-name",
        "Ms R. Patel",
    )
    school = School.objects.get(urn="137654")
    assert (school.address, school.phone, school.email) == (
        "Mill Road\nLeeds\nLS1 4AB",
        "0113 496 0000",
        "office@northfield.example",
    )
    assert (school.signatory_name, school.signatory_role) == ("Ms R. Patel", "Headteacher")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--urn", "abc", "--name", "Test"], "--urn: a URN is six digits, like 137654 (Get Information about Schools)"),
        (["--urn", "1234567", "--name", "Test"], "--urn: a URN is six digits"),
        (["--urn", "137654", "--name", "  "], "--name: This field cannot be blank."),
        (["--urn", "137654", "--name", "Test", "--email", "office at school"], "--email: Enter a valid email address."),
    ],
)
def test_bad_details_are_refused_naming_the_option_and_nothing_is_created(db, args, expected):
    message = run_rejected("create_school", *args)
    assert message.startswith(expected)
    assert nothing_created()


def test_a_missing_calendar_file_is_refused(tmp_path, db):
    message = run_rejected("create_school", "--urn", "1", "--name", "X", "--calendar", tmp_path / "nope.csv")
    assert message.startswith("Cannot read")
    assert nothing_created()
