"""import_pupils: insert or update pupils by UPN, all rows or none, every problem by row and column."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.utils import timezone

from pupils.imports import ImportReport, parse_pupils_csv, year_group_aliases
from pupils.models import AcademicYear, Contact, Flag, ImportBatch, Pupil, RegistrationGroup
from pupils.words import row_spans
from tests.factories import ContactFactory, MarkFactory, PupilFactory, born_in_year, make_upn
from tests.pupils.importing import database_picture, run, run_rejected, write

HEADER = "upn,surname,forename,date_of_birth,year_group,registration_group\n"
FULL_HEADER = (
    "upn,surname,forename,date_of_birth,year_group,registration_group,sen,flags,"
    "contact_name,contact_address,contact_email,contact_phone,start_date,leaving_date\n"
)
#: Alex's birthday in the files below: Year 4 by age (an import warns about a pupil out of their year group).
ALEX_BORN = born_in_year(4).isoformat()
ALEX = make_upn(1)
SAM = make_upn(2)


def import_pupils(tmp_path, text, name="pupils.csv"):
    return run("import_pupils", "--school", "100001", write(tmp_path, name, text))


def rejected(tmp_path, text):
    before = database_picture()
    message = run_rejected("import_pupils", "--school", "100001", write(tmp_path, "pupils.csv", text))
    assert database_picture() == before
    batch = ImportBatch.objects.latest("id")
    assert (batch.kind, batch.status) == (ImportBatch.Kind.PUPILS, ImportBatch.Status.FAILED)
    return message


# --- what a good file does ----------------------------------------------------------------------


def test_inserts_pupils_with_every_column(tmp_path, school):
    out = import_pupils(
        tmp_path,
        FULL_HEADER + f"{ALEX},Smith,Alex,{ALEX_BORN},4,4B,K,fsm;social_worker,Jo Smith,2 Home Road;Townsville;TS1 2BB,"
        "jo@example.org,01234 567890,2021-09-01,\n",
    )
    assert out.strip().splitlines()[-1] == "Imported pupils.csv: rows=1 inserted=1 updated=0 unchanged=0 warnings=0"
    alex = Pupil.objects.get(school=school, upn=ALEX)
    assert (alex.surname, alex.forename, alex.date_of_birth.isoformat()) == ("Smith", "Alex", ALEX_BORN)
    assert (alex.year_group.code, alex.registration_group.name, alex.sen) == ("4", "4B", "K")
    assert (alex.start_on, alex.leaving_on) == (date(2021, 9, 1), None)
    assert sorted(f.key for f in alex.flags.all()) == ["fsm", "social_worker"]
    contact = alex.contacts.get()
    assert contact.name == "Jo Smith"
    assert contact.address_lines == ["2 Home Road", "Townsville", "TS1 2BB"]
    assert (contact.email, contact.phone, contact.priority) == ("jo@example.org", "01234 567890", 1)
    batch = ImportBatch.objects.get()
    assert (batch.status, batch.rows, batch.inserted) == (ImportBatch.Status.DONE, 1, 1)


@pytest.mark.parametrize(
    ("written", "code"),
    [("3", "3"), ("Year 3", "3"), ("year 03", "3"), ("Y3", "3"), ("R", "R"), ("Reception", "R"), ("rec", "R")],
)
def test_year_groups_are_found_by_code_or_name(tmp_path, school, written, code):
    import_pupils(tmp_path, HEADER + f"{ALEX},Smith,Alex,2016-10-01,{written},3A\n")
    assert Pupil.objects.get(upn=ALEX).year_group.code == code


def test_header_names_are_case_insensitive_and_dates_may_be_day_first(tmp_path, school):
    import_pupils(
        tmp_path,
        "UPN,Surname,Forename,Date_Of_Birth,Year_Group,Registration_Group,Start_Date\n"
        f"{ALEX},Smith,Alex,01/10/2016,4,4B,02/09/2024\n",
    )
    alex = Pupil.objects.get(upn=ALEX)
    assert (alex.date_of_birth, alex.start_on) == (date(2016, 10, 1), date(2024, 9, 2))


def test_registration_groups_are_created_as_needed(tmp_path, school):
    out = import_pupils(tmp_path, HEADER + f"{ALEX},Smith,Alex,2016-10-01,4,Oak\n{SAM},Jones,Sam,2016-11-01,4,Oak\n")
    group = RegistrationGroup.objects.get(school=school, name="Oak")
    assert group.year_group.code == "4"
    assert Pupil.objects.filter(registration_group=group).count() == 2
    assert "Created registration group Oak (row 2)." in out


def test_a_class_written_in_another_case_or_spacing_is_the_schools_class_not_a_new_one(tmp_path, school):
    """A file saying "4b" for the school's 4B once made a class 4b and took the pupil out of their teacher's list."""
    import_pupils(tmp_path, HEADER + f"{ALEX},Smith,Alex,{ALEX_BORN},4,4B\n")
    out = import_pupils(
        tmp_path,
        HEADER + f"{ALEX},Smith,Alex,{ALEX_BORN},4,4b\n{SAM},Jones,Sam,{ALEX_BORN},4, 4 B \n",
        name="again.csv",
    )

    assert list(RegistrationGroup.objects.filter(school=school).values_list("name", flat=True)) == ["4B"]
    assert {p.registration_group.name for p in Pupil.objects.filter(upn__in=[ALEX, SAM])} == {"4B"}
    assert "Row 2: class '4b' taken as 4B." in out
    assert "Created registration group" not in out


def test_a_school_with_two_classes_alike_keeps_each_and_a_spelling_between_them_is_refused(tmp_path, school):
    """Where an older import made 4a beside 4A, a file saying 4A means 4A; "4 a" could be either."""
    four_a = RegistrationGroup.objects.create(school=school, name="4A")
    RegistrationGroup.objects.create(school=school, name="4a")

    import_pupils(tmp_path, HEADER + f"{ALEX},Smith,Alex,{ALEX_BORN},4,4A\n")
    assert Pupil.objects.get(upn=ALEX).registration_group == four_a

    message = rejected(tmp_path, HEADER + f"{SAM},Jones,Sam,{ALEX_BORN},4,4 a\n")
    assert "'4 a' could be any of the classes 4A, 4a: write it exactly as one of them" in message
    assert RegistrationGroup.objects.filter(school=school).count() == 2


def test_two_spellings_of_a_new_class_in_one_file_make_one_class(tmp_path, school):
    import_pupils(tmp_path, HEADER + f"{ALEX},Smith,Alex,2016-10-01,4,Oak 1\n{SAM},Jones,Sam,2016-11-01,4,OAK1\n")
    assert list(RegistrationGroup.objects.filter(school=school).values_list("name", flat=True)) == ["Oak 1"]
    assert Pupil.objects.filter(registration_group__name="Oak 1").count() == 2


def test_unknown_flags_become_the_schools_own_and_the_report_says_so(tmp_path, school):
    out = import_pupils(
        tmp_path,
        "upn,surname,forename,date_of_birth,year_group,registration_group,flags,start_date\n"
        f"{ALEX},Smith,Alex,{ALEX_BORN},4,4B,FSM; Forest School,2021-09-01\n",
    )
    flag = Flag.objects.get(school=school, key="forest_school")
    assert (flag.name, flag.is_standard) == ("Forest school", False)
    assert sorted(f.key for f in Pupil.objects.get(upn=ALEX).flags.all()) == ["forest_school", "fsm"]
    assert (
        "warning: row 2, column flags: 'forest_school' is not a known flag: created it as one of the school's own"
        in out
    )
    assert "warnings=1" in out


def test_a_flag_close_to_one_the_school_has_is_a_typing_mistake_and_the_file_is_refused(tmp_path, school):
    header = "upn,surname,forename,date_of_birth,year_group,registration_group,flags,start_date\n"
    import_pupils(tmp_path, header + f"{ALEX},Smith,Alex,{ALEX_BORN},4,4B,fsm,2021-09-01\n")
    message = rejected(tmp_path, header + f"{ALEX},Smith,Alex,{ALEX_BORN},4,4B,fms,2021-09-01\n")
    assert (
        "row 2, column flags: 'fms' is not one of the school's flags (did you mean 'fsm'?): correct it. "
        "A new flag this close to one the school has is not made from a file; the system administrator can add it"
    ) in message
    assert not Flag.objects.filter(key="fms").exists()
    assert [f.key for f in Pupil.objects.get(upn=ALEX).flags.all()] == ["fsm"]  # free school meals kept
    rows = "".join(f"{make_upn(n)},Pupil,P{n},{ALEX_BORN},4,4B,fms,2021-09-01\n" for n in range(10, 14))
    message = rejected(tmp_path, header + rows)  # one line for the slip, however many rows repeat it
    assert message.splitlines()[1:] == [
        "row 2, column flags: 'fms' is not one of the school's flags (did you mean 'fsm'?) (also on rows 3 to 5): "
        "correct it. A new flag this close to one the school has is not made from a file; the system administrator "
        "can add it"
    ]


def test_a_new_pupil_without_a_start_date_is_on_roll_from_the_start_of_the_year(tmp_path, school):
    out = import_pupils(tmp_path, HEADER + f"{ALEX},Smith,Alex,2016-10-01,4,4B\n")
    this_year = AcademicYear.objects.filter(school=school, start_on__lte=timezone.localdate()).latest("start_on")
    assert Pupil.objects.get(upn=ALEX).start_on == this_year.start_on
    start = this_year.start_on
    assert f"warning: row 2, column start_date: no start date: on roll from {start.day} {start:%b %Y}" in out


def test_new_pupils_without_start_dates_get_one_warning_not_one_each(tmp_path, school):
    header = HEADER.replace("registration_group\n", "registration_group,start_date\n")
    # Rows 2 to 8; the pupil on row 5 joined in January.
    body = "".join(
        f"{make_upn(n)},Pupil,P{n},{ALEX_BORN},4,4B,{'2026-01-05' if n == 13 else ''}\n" for n in range(10, 17)
    )
    out = import_pupils(tmp_path, header + body)
    start = AcademicYear.objects.filter(school=school, start_on__lte=timezone.localdate()).latest("start_on").start_on
    warnings = [line for line in out.splitlines() if "start_date" in line]
    assert warnings == [
        f"warning: file, column start_date: no start date for 6 new pupils (rows 2 to 4 and 6 to 8): each on roll "
        f"from {start.day} {start:%b %Y}, the start of the school year; give start_date for any who joined later"
    ]
    assert Pupil.objects.filter(start_on=start).count() == 6


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ([7], "7"),
        ([2, 3, 4], "2 to 4"),
        ([9, 2, 3], "2, 3 and 9"),
        ([2, 3, 4, 9, 12, 13, 14], "2 to 4, 9 and 12 to 14"),
    ],
)
def test_rows_are_named_in_runs(rows, words):
    assert row_spans(rows) == words


def test_updates_pupils_by_upn_and_counts_unchanged_ones(tmp_path, school):
    alex = PupilFactory(school=school, upn=ALEX, surname="Smith", forename="Alex", date_of_birth=date(2016, 10, 1))
    sam = PupilFactory(school=school, upn=SAM, surname="Jones", forename="Sam", date_of_birth=date(2016, 11, 1))
    out = import_pupils(
        tmp_path,
        HEADER + f"{ALEX},Smith-Brown,Alex,2016-10-01,4,4B\n{SAM},Jones,Sam,2016-11-01,4,4B\n",
    )
    assert "rows=2 inserted=0 updated=1 unchanged=1" in out
    alex.refresh_from_db()
    assert alex.surname == "Smith-Brown"
    assert Pupil.objects.get(pk=sam.pk).updated_at == sam.updated_at


def test_what_an_import_changes_about_a_pupil_is_kept_in_the_audit_trail(tmp_path, school, attendance_lead):
    from pupils.models import AuditEvent
    from pupils.services import pupils_import

    import_pupils(tmp_path, HEADER + f"{ALEX},Davies,Alex,{ALEX_BORN},4,4B\n{SAM},Jones,Sam,{ALEX_BORN},4,4B\n")
    # New pupils: their record is the trail; the import itself is one line.
    assert [(e.pupil, e.what) for e in AuditEvent.objects.all()] == [
        (
            None,
            f"imported Pupils CSV pupils.csv (import #{ImportBatch.objects.get().pk}): 2 new, 0 changed, 0 unchanged",
        )
    ]
    path = write(
        tmp_path,
        "spring.csv",
        HEADER + f"{ALEX},Davies-Smith,Alex,{ALEX_BORN},4,4C\n{SAM},Jones,Sam,{ALEX_BORN},4,4B\n",
    )
    pupils_import(school=school, path=path, filename="spring.csv", user=attendance_lead, today=timezone.localdate())
    (event,) = AuditEvent.objects.filter(pupil__isnull=False)
    assert (event.pupil.upn, event.user, event.verb) == (ALEX, attendance_lead, "change")
    assert event.what == "surname Davies → Davies-Smith; class 4B → 4C (pupils import spring.csv)"


def test_importing_the_same_file_twice_changes_nothing(tmp_path, school):
    text = (
        FULL_HEADER
        + f"{ALEX},Smith,Alex,2016-10-01,4,4B,E,ehcp;forest_school,Jo Smith,2 Home Road,jo@example.org,01234,"
        "2021-09-01,\n"
        f"{SAM},Jones,Sam,2016-11-01,Year 4,4C,,,,,,,2022-01-04,2025-07-18\n"
    )
    import_pupils(tmp_path, text)
    before = database_picture()
    out = import_pupils(tmp_path, text)
    assert database_picture() == before
    assert "rows=2 inserted=0 updated=0 unchanged=2" in out


def test_flags_in_the_file_replace_the_pupils_flags(tmp_path, school):
    alex = PupilFactory(school=school, upn=ALEX)
    alex.flags.add(Flag.objects.get(school=school, key="fsm"))
    import_pupils(
        tmp_path,
        f"upn,surname,forename,date_of_birth,year_group,registration_group,flags\n{ALEX},S,A,2016-10-01,4,4B,ehcp\n",
    )
    assert [f.key for f in alex.flags.all()] == ["ehcp"]


def test_optional_columns_missing_from_the_file_leave_values_alone(tmp_path, school):
    alex = PupilFactory(school=school, upn=ALEX, sen="E", leaving_on=date(2026, 7, 20))
    alex.flags.add(Flag.objects.get(school=school, key="fsm"))
    ContactFactory(pupil=alex, name="Jo Smith")
    import_pupils(tmp_path, HEADER + f"{ALEX},Smith,Alex,2016-10-01,4,4B\n")
    alex.refresh_from_db()
    assert (alex.sen, alex.leaving_on, alex.start_on) == ("E", date(2026, 7, 20), date(2021, 9, 1))
    assert [f.key for f in alex.flags.all()] == ["fsm"]
    assert [c.name for c in alex.contacts.all()] == ["Jo Smith"]


def test_contact_columns_update_the_first_contact(tmp_path, school):
    alex = PupilFactory(school=school, upn=ALEX)
    first = ContactFactory(pupil=alex, name="Jo Smith", priority=1)
    second = ContactFactory(pupil=alex, name="Chris Smith", priority=2)
    out = import_pupils(
        tmp_path,
        f"upn,surname,forename,date_of_birth,year_group,registration_group,contact_name,contact_phone\n"
        f"{ALEX},{alex.surname},{alex.forename},2016-10-01,4,4B,Jo Smith,07700 900123\n",
    )
    assert "updated=1" in out
    first.refresh_from_db()
    assert (first.name, first.phone) == ("Jo Smith", "07700 900123")
    assert Contact.objects.get(pk=second.pk).name == "Chris Smith"


def test_contact_salutation_is_how_letters_greet_them_and_a_blank_one_greets_by_name(tmp_path, school):
    alex = PupilFactory(school=school, upn=ALEX)
    jo = ContactFactory(pupil=alex, name="Jo Smith", priority=1)
    header = "upn,surname,forename,date_of_birth,year_group,registration_group,contact_name,contact_salutation\n"
    import_pupils(tmp_path, header + f"{ALEX},{alex.surname},{alex.forename},2016-10-01,4,4B,Jo Smith,Mrs Smith\n")
    jo.refresh_from_db()
    assert jo.salutation == "Mrs Smith"
    # A file without the column leaves it; a blank one clears it.
    import_pupils(tmp_path, HEADER + f"{ALEX},{alex.surname},{alex.forename},2016-10-01,4,4B\n")
    jo.refresh_from_db()
    assert jo.salutation == "Mrs Smith"
    import_pupils(tmp_path, header + f"{ALEX},{alex.surname},{alex.forename},2016-10-01,4,4B,Jo Smith,\n")
    jo.refresh_from_db()
    assert jo.salutation == ""  # letters greet Jo by name


def test_a_salutation_too_long_is_an_error_naming_the_row(tmp_path, school):
    header = "upn,surname,forename,date_of_birth,year_group,registration_group,contact_name,contact_salutation\n"
    message = rejected(tmp_path, header + f"{ALEX},Smith,Alex,2016-10-01,4,4B,Jo Smith,{'Mrs ' * 21}\n")
    assert "row 2, column contact_salutation: is 83 characters long; the most allowed is 80" in message


def test_contact_columns_missing_from_the_file_leave_those_details_alone(tmp_path, school):
    alex = PupilFactory(school=school, upn=ALEX)
    first = ContactFactory(
        pupil=alex, name="Jo Smith", relationship="Mother", address="2 Home Road\nTS1 2BB", email="jo@example.org"
    )
    import_pupils(
        tmp_path,
        f"upn,surname,forename,date_of_birth,year_group,registration_group,contact_name,contact_phone\n"
        f"{ALEX},{alex.surname},{alex.forename},2016-10-01,4,4B,jo  SMITH,07700 900123\n",
    )
    first.refresh_from_db()
    assert (first.name, first.relationship, first.address_lines, first.email, first.phone) == (
        "jo  SMITH",
        "Mother",
        ["2 Home Road", "TS1 2BB"],
        "jo@example.org",
        "07700 900123",
    )
    assert alex.contacts.count() == 1


def test_a_different_first_contact_is_added_first_and_the_one_it_replaces_is_kept(tmp_path, school):
    alex = PupilFactory(school=school, upn=ALEX)
    father = ContactFactory(pupil=alex, name="Tariq Bailey", relationship="Father", address="117 Victoria Street")
    out = import_pupils(
        tmp_path,
        f"upn,surname,forename,date_of_birth,year_group,registration_group,contact_name,contact_phone\n"
        f"{ALEX},{alex.surname},{alex.forename},2016-10-01,4,4B,Mary Adams,07700 900123\n",
    )
    assert (
        "row 2, column contact_name: Mary Adams is now the first contact, ahead of Tariq Bailey; the file gives no "
        "address for them, so they are not sent letters until one is added" in out
    )
    mary, tariq = alex.contacts.order_by("priority")
    assert (mary.name, mary.phone, mary.address, mary.relationship, mary.receives_letters) == (
        "Mary Adams",
        "07700 900123",
        "",
        "Parent/carer",
        False,
    )
    assert tariq.receives_letters
    assert (tariq.pk, tariq.name, tariq.relationship, tariq.address) == (
        father.pk,
        "Tariq Bailey",
        "Father",
        "117 Victoria Street",
    )
    assert tariq.priority > mary.priority


def test_a_contact_we_hold_who_becomes_first_moves_up_and_is_not_added_twice(tmp_path, school):
    alex = PupilFactory(school=school, upn=ALEX)
    jo = ContactFactory(pupil=alex, name="Jo Smith", priority=0)
    sam = ContactFactory(pupil=alex, name="Sam Smith", priority=2, phone="")
    header = "upn,surname,forename,date_of_birth,year_group,registration_group,contact_name,contact_phone\n"
    row = f"{ALEX},{alex.surname},{alex.forename},2016-10-01,4,4B,Sam Smith,07700 900456\n"
    out = import_pupils(tmp_path, header + row)
    assert "Sam Smith is now the first contact, ahead of Jo Smith" in out and "no address" not in out
    assert [(c.pk, c.phone) for c in alex.contacts.order_by("priority", "id")] == [
        (sam.pk, "07700 900456"),
        (jo.pk, jo.phone),
    ]
    again = import_pupils(tmp_path, header + row)  # the MIS sends the same file the next night
    assert "first contact" not in again and alex.contacts.count() == 2


def test_contact_details_without_a_name_column_need_a_contact_to_update(tmp_path, school):
    alex = PupilFactory(school=school, upn=ALEX)
    jo = ContactFactory(pupil=alex, name="Jo Smith", phone="")
    sam = PupilFactory(school=school, upn=SAM)
    message = rejected(
        tmp_path,
        f"upn,surname,forename,date_of_birth,year_group,registration_group,contact_phone\n"
        f"{ALEX},{alex.surname},{alex.forename},2016-10-01,4,4B,07700 900123\n"
        f"{SAM},{sam.surname},{sam.forename},2016-10-01,4,4B,07700 900456\n",
    )
    assert "row 3, column contact_name: a new contact needs a name: the file has no contact_name column" in message
    assert "row 2" not in message
    import_pupils(
        tmp_path,
        f"upn,surname,forename,date_of_birth,year_group,registration_group,contact_phone\n"
        f"{ALEX},{alex.surname},{alex.forename},2016-10-01,4,4B,07700 900123\n",
    )
    jo.refresh_from_db()
    assert (jo.name, jo.phone) == ("Jo Smith", "07700 900123")


def test_pupils_not_in_the_file_are_left_on_roll(tmp_path, school):
    stays = PupilFactory(school=school)
    import_pupils(tmp_path, HEADER + f"{ALEX},Smith,Alex,2016-10-01,4,4B\n")
    assert Pupil.objects.filter(pk=stays.pk).exists()


def test_a_leaving_date_that_strands_marks_is_warned(tmp_path, school):
    alex = PupilFactory(school=school, upn=ALEX, surname="Smith", forename="Alex", date_of_birth=date(2016, 10, 1))
    MarkFactory(pupil=alex, date=date(2025, 11, 24))
    out = import_pupils(
        tmp_path,
        "upn,surname,forename,date_of_birth,year_group,registration_group,leaving_date\n"
        f"{ALEX},Smith,Alex,2016-10-01,4,4B,2025-11-21\n",
    )
    assert "warning: row 2, column leaving_date: 1 stored mark(s) now fall outside the pupil's time on roll" in out


# --- bad files change nothing -----------------------------------------------------------------------


def test_a_pupil_out_of_their_year_group_by_age_is_imported_with_a_warning(tmp_path, school):
    out = import_pupils(
        tmp_path,
        HEADER + f"{ALEX},Smith,Alex,{ALEX_BORN},4,4B\n{SAM},Jones,Sam,{born_in_year(6).isoformat()},4,4B\n",
    )
    sam_born = born_in_year(6)
    assert (
        f"warning: row 3, column year_group: born {sam_born.day} {sam_born:%b %Y}, which is Year 6 by age in "
    ) in out
    assert ", not Year 4: imported as the file says, but check the date of birth" in out
    assert "row 2, column year_group" not in out  # Alex is in Year 4 by age
    assert Pupil.objects.get(upn=SAM).year_group.code == "4"


def year_group_warnings(rows: str, *, today: date) -> list[str]:
    report = ImportReport(filename="pupils.csv", kind="pupils")
    groups = [("N", "Nursery"), ("R", "Reception"), *((str(y), f"Year {y}") for y in range(1, 14))]
    parse_pupils_csv(io.StringIO(HEADER + rows), year_groups=year_group_aliases(groups), today=today, report=report)
    assert report.ok
    return [str(w) for w in report.warnings.kept]


@pytest.mark.parametrize(
    ("born", "group", "today", "warned"),
    [
        # 2025/26: the 31 August before it is 31 Aug 2025.
        ("2014-09-01", "6", date(2025, 11, 26), False),  # 10 on 31 Aug 2025, the oldest of Year 6
        ("2015-08-31", "6", date(2025, 11, 26), False),  # 10 on 31 Aug 2025, the youngest of Year 6
        ("2015-09-01", "6", date(2025, 11, 26), True),  # 9 on 31 Aug 2025: Year 5
        ("2014-08-31", "6", date(2025, 11, 26), True),  # 11 on 31 Aug 2025: Year 7
        ("2021-08-31", "R", date(2025, 11, 26), False),  # 4 on 31 Aug 2025: Reception
        ("2021-08-31", "1", date(2025, 11, 26), True),
        ("2022-06-01", "N", date(2025, 11, 26), False),  # 3 on 31 Aug 2025: Nursery
        ("2023-02-01", "N", date(2026, 3, 2), False),  # 2 then: joined Nursery the term after turning 3
        ("2010-03-01", "11", date(2026, 1, 5), False),  # 15 on 31 Aug 2025: Year 11
        ("2008-03-01", "13", date(2026, 1, 5), False),  # 17 on 31 Aug 2025: Year 13
        # In the summer, next year's group fits too: the MIS may have moved everyone up already.
        ("2015-03-01", "6", date(2026, 7, 20), False),  # Year 6 until 31 August, Year 7 from September
        ("2015-03-01", "7", date(2026, 7, 20), False),
        ("2015-03-01", "5", date(2026, 7, 20), True),
        ("2015-03-01", "7", date(2026, 5, 20), True),  # May: not yet
    ],
)
def test_the_year_group_warning_goes_by_age_on_the_31_august_before_the_year(born, group, today, warned):
    warnings = year_group_warnings(f"{ALEX},Smith,Alex,{born},{group},G1\n", today=today)
    assert bool(warnings) == warned, warnings


def test_the_year_group_warning_names_the_group_the_age_gives():
    assert year_group_warnings(f"{ALEX},Smith,Alex,2015-09-01,6,G1\n", today=date(2025, 11, 26)) == [
        "row 2, column year_group: born 1 Sep 2015, which is Year 5 by age in 2025/26, not Year 6: imported as the "
        "file says, but check the date of birth (compulsory school age and Year 11 study leave go by it)"
    ]
    assert year_group_warnings(f"{ALEX},Smith,Alex,2021-08-31,1,G1\n", today=date(2025, 11, 26))[0].startswith(
        "row 2, column year_group: born 31 Aug 2021, which is Reception by age in 2025/26, not Year 1:"
    )
    assert (
        "which is outside Nursery to Year 13 by age in 2025/26, not Year 6"
        in year_group_warnings(f"{ALEX},Smith,Alex,2000-01-01,6,G1\n", today=date(2025, 11, 26))[0]
    )


def test_a_missing_required_column_is_an_error(tmp_path, school):
    message = rejected(tmp_path, f"upn,surname,forename,year_group,registration_group\n{ALEX},Smith,Alex,4,4B\n")
    assert "row 1, column date_of_birth: required column is missing" in message


def test_a_upn_with_a_wrong_check_letter_is_an_error(tmp_path, school):
    wrong = ("A" if ALEX[0] != "A" else "B") + ALEX[1:]
    message = rejected(tmp_path, HEADER + f"{SAM},Jones,Sam,2016-11-01,4,4B\n{wrong},Smith,Alex,2016-10-01,4,4B\n")
    assert f"row 3, column upn: UPN '{wrong}' looks mistyped: its first letter" in message
    assert "1 problem(s)" in message


def test_a_upn_twice_in_the_file_is_an_error(tmp_path, school):
    message = rejected(tmp_path, HEADER + f"{ALEX},Smith,Alex,2016-10-01,4,4B\n{ALEX},Smith,Alexa,2016-10-01,4,4B\n")
    assert f"row 3, column upn: UPN {ALEX} is already on row 2" in message


def test_an_unknown_year_group_is_an_error(tmp_path, school):
    message = rejected(tmp_path, HEADER + f"{ALEX},Smith,Alex,2016-10-01,Year 14,4B\n")
    assert "row 2, column year_group: unknown year group 'Year 14' (known: N, R, 1, 2, 3" in message


def test_bad_dates_are_errors(tmp_path, school):
    message = rejected(
        tmp_path,
        "upn,surname,forename,date_of_birth,year_group,registration_group,start_date,leaving_date\n"
        f"{ALEX},Smith,Alex,2016-02-30,4,4B,yesterday,\n"
        f"{SAM},Jones,Sam,2099-01-01,4,4B,2024-09-02,2024-09-01\n",
    )
    assert "row 2, column date_of_birth: '2016-02-30' is not a date (write YYYY-MM-DD or DD/MM/YYYY)" in message
    assert "row 2, column start_date: 'yesterday' is not a date" in message
    assert "row 3, column date_of_birth: 2099-01-01 is not in the past" in message
    assert "row 3, column leaving_date: the pupil leaves (2024-09-01) before starting (2024-09-02)" in message


def test_a_leaving_date_before_the_stored_start_date_is_an_error(tmp_path, school):
    PupilFactory(school=school, upn=ALEX, start_on=date(2021, 9, 1))
    message = rejected(
        tmp_path,
        "upn,surname,forename,date_of_birth,year_group,registration_group,leaving_date\n"
        f"{ALEX},Smith,Alex,2016-10-01,4,4B,2020-07-20\n",
    )
    assert "row 2, column leaving_date: the pupil would leave (2020-07-20) before starting (2021-09-01)" in message


def test_a_bad_sen_status_is_an_error(tmp_path, school):
    message = rejected(
        tmp_path,
        f"upn,surname,forename,date_of_birth,year_group,registration_group,sen\n{ALEX},Smith,Alex,2016-10-01,4,4B,X\n",
    )
    assert "row 2, column sen: SEN status must be N, K or E, not 'X'" in message


def test_bad_contact_details_are_errors(tmp_path, school):
    message = rejected(
        tmp_path,
        FULL_HEADER
        + f"{ALEX},Smith,Alex,2016-10-01,4,4B,,,Jo Smith,,not-an-email,,,\n"
        + f"{SAM},Jones,Sam,2016-11-01,4,4B,,,,1 Road,,01234,,\n",
    )
    assert "row 2, column contact_email: 'not-an-email' is not an e-mail address" in message
    assert "row 3, column contact_name: a contact needs a name when other contact details are given" in message


def test_a_bad_flag_key_is_an_error(tmp_path, school):
    message = rejected(
        tmp_path,
        f"upn,surname,forename,date_of_birth,year_group,registration_group,flags\n{ALEX},S,A,2016-10-01,4,4B,fsm;£5\n",
    )
    assert "row 2, column flags: '£5' is not a flag key" in message


def test_missing_names_are_errors(tmp_path, school):
    message = rejected(tmp_path, HEADER + f"{ALEX},,Alex,2016-10-01,4,\n")
    assert "row 2, column surname: a value is required" in message
    assert "row 2, column registration_group: a value is required" in message


def test_a_bad_row_rejects_the_good_ones_too(tmp_path, school):
    message = rejected(tmp_path, HEADER + f"{ALEX},Smith,Alex,2016-10-01,4,4B\n{SAM},Jones,Sam,2016-11-01,Year 99,4B\n")
    assert "row 3, column year_group" in message
    assert not Pupil.objects.exists()
    assert not RegistrationGroup.objects.filter(name="4B").exists()


def test_every_problem_is_listed_and_stored_on_the_batch(tmp_path, school):
    message = rejected(tmp_path, HEADER + f"BAD,Smith,Alex,not-a-date,Year 99,4B\n{SAM},,Sam,2016-11-01,4,4B\n")
    assert "4 problem(s)" in message
    stored = ImportBatch.objects.latest("id").errors
    assert [(e["row"], e["column"]) for e in stored] == [
        (2, "upn"),
        (2, "date_of_birth"),
        (2, "year_group"),
        (3, "surname"),
    ]


def test_a_header_without_rows_is_an_error(tmp_path, school):
    message = rejected(tmp_path, HEADER)
    assert "file: the file has a header but no pupils" in message


def test_a_windows_1252_file_is_read_with_a_warning(tmp_path, school):
    path = tmp_path / "pupils.csv"
    path.write_bytes((HEADER + f"{ALEX},Brontë,Zoë,2016-10-01,4,4B\n").encode("cp1252"))
    out = run("import_pupils", "--school", "100001", path)
    assert "warning: file: the file is not UTF-8: read as Windows-1252" in out
    assert Pupil.objects.get(upn=ALEX).forename == "Zoë"


def test_a_utf16_file_is_refused_with_advice(tmp_path, school):
    before = database_picture()
    path = tmp_path / "pupils.csv"
    path.write_bytes((HEADER + f"{ALEX},Smith,Alex,2016-10-01,4,4B\n").encode("utf-16"))
    message = run_rejected("import_pupils", "--school", "100001", path)
    assert "file: this is UTF-16 text: save it as CSV (UTF-8) and try again" in message
    assert database_picture() == before


def test_a_byte_order_mark_does_not_hide_the_first_column(tmp_path, school):
    path = tmp_path / "pupils.csv"
    path.write_bytes((HEADER + f"{ALEX},Smith,Alex,2016-10-01,4,4B\n").encode("utf-8-sig"))
    run("import_pupils", "--school", "100001", path)
    assert Pupil.objects.filter(upn=ALEX).exists()


@pytest.mark.parametrize(("separator", "words"), [(";", "semicolons"), ("\t", "tabs"), ("|", "bars")])
def test_a_file_separated_by_something_else_is_refused_with_what_to_do(tmp_path, school, separator, words):
    text = HEADER.replace(",", separator) + separator.join([ALEX, "Smith", "Alex", ALEX_BORN, "4", "4B"]) + "\n"
    message = rejected(tmp_path, text)
    assert f"row 1: the columns are separated by {words}, not commas: save the file as CSV" in message
    assert "required column is missing" not in message


def test_a_misspelt_column_is_named_with_the_one_it_may_be(tmp_path, school):
    message = rejected(
        tmp_path, HEADER.replace("date_of_birth", "date_of_brith") + f"{ALEX},Smith,Alex,{ALEX_BORN},4,4B\n"
    )
    assert (
        "row 1, column date_of_birth: required column is missing: the file has a column 'date_of_brith'; if that is "
        "date_of_birth, correct its spelling"
    ) in message


def test_an_optional_column_misspelt_is_ignored_with_a_warning_naming_the_one_it_may_be(tmp_path, school):
    out = import_pupils(tmp_path, HEADER.replace("\n", ",leaving_dat\n") + f"{ALEX},Smith,Alex,{ALEX_BORN},4,4B,\n")
    assert "row 1, column leaving_dat: not a column this import uses (did you mean 'leaving_date'?): ignored" in out
