"""`manage.py attendance_summary`: the summary CSV for a small school, line by line."""

from __future__ import annotations

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from pupils.management.commands import attendance_summary
from tests.factories import MarkFactory, PupilFactory, make_upn

HEADER = (
    "upn,possible,attended,authorised,unauthorised,late_before_close,late_after_close,attendance_pct,persistent,severe"
)
MONDAY = date(2025, 11, 17)


def week(pupil, *pairs: tuple[str, str], monday: date = MONDAY) -> None:
    """One (AM, PM) pair of codes a day from Monday; "" leaves a session unmarked."""
    for offset, pair in enumerate(pairs):
        for session, code in enumerate(pair):
            if code:
                MarkFactory(pupil=pupil, date=monday + timedelta(days=offset), session=session, code=code)


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("attendance_summary", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.fixture
def small_school(school, other_school):
    mixed = PupilFactory(school=school, upn=make_upn(900))  # Q801200000900
    week(mixed, ("/", "\\"), ("I", "N"), ("L", "U"), ("G", "G"), ("/", "\\"))
    PupilFactory(school=school, upn=make_upn(901))  # E801200000901: no marks at all
    joiner = PupilFactory(school=school, upn=make_upn(902), start_on=date(2025, 11, 19))  # U801200000902
    week(joiner, ("N", "N"), ("N", "N"), ("/", "\\"), ("/", "\\"), ("/", "O"))
    left = PupilFactory(school=school, upn=make_upn(903), leaving_on=date(2025, 11, 14))  # H801200000903
    week(left, ("O", "O"), monday=date(2025, 11, 10))
    elsewhere = PupilFactory(school=other_school, upn=make_upn(904))  # X801200000904
    week(elsewhere, ("O", "O"))
    appointment = PupilFactory(school=school, upn=make_upn(905))  # L801200000905
    week(appointment, ("/", "\\"), ("M", "\\"), ("/", "\\"), ("/", "\\"), ("/", "\\"))
    return school


def test_prints_one_row_per_pupil_on_roll_ordered_by_upn(small_school):
    lines = run("--school", "100001", "--from", "2025-11-17", "--to", "2025-11-23")

    assert lines == [
        HEADER,
        "E801200000901,0,0,0,0,0,0,,no,no",
        # Nine present and one appointment: exactly 10% absence is persistent.
        "L801200000905,10,9,1,0,0,0,90.0,yes,no",
        # Half the week missed (I, N, U, G, G) is severe; L is present but late.
        "Q801200000900,10,5,1,4,1,1,50.0,yes,yes",
        # Joined on Wednesday: Monday's and Tuesday's marks are not theirs to count.
        "U801200000902,6,5,0,1,0,0,83.3,yes,no",
    ]


def test_window_limits_are_inclusive(small_school):
    lines = run("--school", "100001", "--from", "2025-11-21", "--to", "2025-11-21")
    assert lines[1:] == [
        "E801200000901,0,0,0,0,0,0,,no,no",
        "L801200000905,2,2,0,0,0,0,100.0,no,no",
        "Q801200000900,2,2,0,0,0,0,100.0,no,no",
        "U801200000902,2,1,0,1,0,0,50.0,yes,yes",
    ]


def test_default_window_runs_from_the_start_of_the_academic_year_to_today(school, monkeypatch):
    monkeypatch.setattr(attendance_summary, "school_today", lambda school: date(2025, 11, 19))
    pupil = PupilFactory(school=school, upn=make_upn(900))
    MarkFactory(pupil=pupil, date=date(2025, 7, 22), code="O")  # last day of last year
    MarkFactory(pupil=pupil, date=date(2025, 9, 2), code="/")  # first day of this year (default calendar)
    MarkFactory(pupil=pupil, date=date(2025, 11, 19), code="I")  # today
    MarkFactory(pupil=pupil, date=date(2025, 11, 20), code="O")  # tomorrow

    assert run("--school", "100001") == [HEADER, "Q801200000900,2,1,1,0,0,0,50.0,yes,yes"]
    # With only --to, the window starts at that academic year's first day.
    assert run("--school", "100001", "--to", "2025-07-31") == [HEADER, "Q801200000900,1,0,0,1,0,0,0.0,yes,yes"]
    # With only --from, it ends today.
    assert run("--school", "100001", "--from", "2025-11-19") == [HEADER, "Q801200000900,1,0,1,0,0,0,0.0,yes,yes"]


def test_unknown_urn_is_refused_by_name(school):
    with pytest.raises(CommandError, match="no school with URN '999999'"):
        run("--school", "999999")


@pytest.mark.parametrize("option", ["--from", "--to"])
def test_a_malformed_date_is_refused_by_name(school, option):
    with pytest.raises(CommandError, match=f"{option} '2025-13-01' is not a date in the form YYYY-MM-DD"):
        run("--school", "100001", option, "2025-13-01")


def test_a_window_ending_before_it_starts_is_refused(school):
    with pytest.raises(CommandError, match="--to 2025-11-01 is before --from 2025-11-17"):
        run("--school", "100001", "--from", "2025-11-17", "--to", "2025-11-01")
