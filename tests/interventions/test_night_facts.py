"""The night's facts read set-based match the statistics computed pupil by pupil from every mark."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone

from interventions import nightly, selectors
from pupils import statistics as stats
from pupils.models import AttendanceMark
from pupils.services import school_calendar
from tests.factories import PupilFactory
from tests.interventions.conftest import fill_register

FRIDAY = date(2025, 11, 28)
MONDAY = date(2025, 11, 24)

#: Each pupil's week of 24-28 November (Monday first, AM and PM), after weeks of full attendance.
#: None: no marks that day yet.
WEEKS = {
    "absent all week": ["OO", "OO", "OO", "OO", "OO"],
    "absent, then a closure day": ["OO", "OO", "OO", "OO", "##"],
    "absent, then not marked yet": ["OO", "OO", "OO", "OO", None],
    "absent, then unable to attend (Y)": ["II", "II", "II", "YY", "YY"],
    "back on Friday": ["OO", "OO", "OO", "OO", "//"],
    "back on Friday afternoon": ["OO", "OO", "OO", "OO", "O\\"],
    "late on Friday": ["OO", "OO", "OO", "OO", "LL"],
    "absent on Friday only": ["//", "//", "//", "//", "NN"],
    "present all week": ["/\\", "/\\", "/\\", "/\\", "/\\"],
    "absent the week before, unable to attend all week": ["YY", "YY", "YY", "YY", "YY"],
    "absent since October, over half-term": ["OO", "OO", "OO", "OO", "OO"],
}
#: And absent every day from these days on, before that week: the week before (17-21 November), and
#: seven weeks before (a run longer than the night's first read of marks, across half-term).
ABSENT_SINCE = {
    "absent the week before, unable to attend all week": date(2025, 11, 17),
    "absent since October, over half-term": date(2025, 10, 6),
}


@pytest.mark.parametrize("as_of", [FRIDAY, date(2025, 11, 29)])  # the Friday night, and the Saturday after
def test_absence_runs_are_the_runs_the_statistics_count_from_every_mark(ladder, school, as_of):
    calendar = school_calendar(school)
    pupils = {}
    for name, week in WEEKS.items():
        pupil = PupilFactory(school=school, surname=name)
        since = ABSENT_SINCE.get(name, MONDAY)
        fill_register(
            pupil, date(2025, 9, 1), date(2025, 11, 21), lambda d, s, since=since: "O" if d >= since else "/\\"[s]
        )
        for offset, day_codes in enumerate(week):
            if day_codes is not None:
                day = date.fromordinal(MONDAY.toordinal() + offset)
                for session, code in enumerate(day_codes):
                    AttendanceMark.objects.create(
                        pupil=pupil, date=day, session=session, code=code, changed_at=timezone.now()
                    )
        pupils[name] = pupil
    nightly.pupil_weeks_refresh(school=school, start=date(2025, 9, 1), end=as_of, since=None)
    spec = selectors.ladder_spec(ladder)
    facts = selectors.night_facts(school=school, spec=spec, as_of=as_of, calendar=calendar)
    runs, unauthorised_runs = {}, {}
    for name, pupil in pupils.items():
        marks = [stats.MarkFact(m.date, m.session, m.code) for m in AttendanceMark.objects.filter(pupil=pupil)]
        want = stats.consecutive_days_absent(
            marks, calendar=calendar, as_of=as_of, on_roll_from=pupil.start_on, on_roll_to=pupil.leaving_on
        )
        got = (facts.facts[pupil.pk].absence_run_days, facts.facts[pupil.pk].absence_run_started_on)
        assert got == want, name
        runs[name] = got[0]
        unauthorised, _ = stats.consecutive_days_absent(
            marks,
            calendar=calendar,
            as_of=as_of,
            on_roll_from=pupil.start_on,
            on_roll_to=pupil.leaving_on,
            unauthorised=True,
        )
        assert facts.facts[pupil.pk].unauthorised_run_days == unauthorised, name
        unauthorised_runs[name] = unauthorised
    # And the statistics say what a person would: a closure or an unmarked day does not end a run.
    assert runs == {
        "absent all week": 5,
        "absent, then a closure day": 4,
        "absent, then not marked yet": 4,
        "absent, then unable to attend (Y)": 3,
        "back on Friday": 0,
        "back on Friday afternoon": 0,
        "late on Friday": 0,
        "absent on Friday only": 1,
        "present all week": 0,
        "absent the week before, unable to attend all week": 5,
        "absent since October, over half-term": 35,
    }
    # Every run here is of O and N, but for the pupil ill (I) before two days unable to attend.
    assert unauthorised_runs == {**runs, "absent, then unable to attend (Y)": 0}
