"""Year 11 study leave: the night counts Year 11's summer second half as the DfE does, by leaving it out.

"For 15-year-olds, sessions and absences in the second half of the summer
term are removed" (attendance-rules.md, section 2). The rule's home is
`pupils.statistics.study_leave`; these tests check that the night's stored
weekly counts, and so the placements and figures built on them, follow it.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from interventions import nightly, services
from interventions.models import Placement, PupilWeek
from pupils.models import AttendanceMark
from pupils.selectors import school_weekly_counts
from pupils.services import school_calendar
from tests.factories import PupilFactory, SchoolFactory

SPRING_BANK_HOLIDAY = date(2026, 5, 25)
AS_OF = date(2026, 6, 12)


def test_a_night_leaves_out_year_11s_summer_second_half_and_nobody_elses(db):
    school = SchoolFactory(urn="300021")
    services.ladder_load(school=school, document=services.ladder_file_read("dfe"), activate=True)
    # Aged 15 on 31 August 2025 (Year 11 in 2025/26), and a year younger (Year 10).
    year_11 = PupilFactory(school=school, date_of_birth=date(2010, 3, 1), start_on=date(2026, 5, 11))
    year_10 = PupilFactory(school=school, date_of_birth=date(2011, 3, 1), start_on=date(2026, 5, 11))
    days = list(school_calendar(school).school_days(date(2026, 5, 11), AS_OF))
    stamped = timezone.now() - timedelta(hours=1)
    # Present every session for the two weeks before the holiday, absent (O) every session after half-term.
    AttendanceMark.objects.bulk_create(
        AttendanceMark(
            pupil=pupil,
            date=day,
            session=session,
            code=("/", "\\")[session] if day < SPRING_BANK_HOLIDAY else "O",
            changed_at=stamped,
        )
        for pupil in (year_11, year_10)
        for day in days
        for session in (0, 1)
    )
    assert sum(day > SPRING_BANK_HOLIDAY for day in days) == 10  # 1 to 12 June

    run = nightly.nightly_run(school=school, as_of=AS_OF)

    stored = {(w.pupil_id, w.week_start): w for w in PupilWeek.objects.filter(pupil__school=school)}
    after_half_term = [date(2026, 6, 1), date(2026, 6, 8)]
    assert [stored[(year_10.pk, monday)].unauthorised for monday in after_half_term] == [10, 10]
    assert all(
        (year_11.pk, monday) not in stored or stored[(year_11.pk, monday)].unauthorised == 0
        for monday in after_half_term
    )
    # 20 sessions present and 20 missed for Year 10; Year 11's missed sessions are not counted at all.
    placed = {p.pupil_id: p for p in Placement.objects.filter(pupil__school=school)}
    assert placed[year_10.pk].attendance_pct == 50
    assert placed[year_11.pk].attendance_pct == 100
    # The night's counts (PostgreSQL's own query) are the register's counted the portable way.
    portable = {
        (row["pupil_id"], row["week"]): tuple(row[name] for name in PupilWeek.COUNTS)
        for row in nightly._counts_by_week(
            AttendanceMark.objects.filter(pupil__school=school), start=run.weeks_from, end=AS_OF
        )
    }
    assert {key: tuple(getattr(w, name) for name in PupilWeek.COUNTS) for key, w in stored.items()} == portable
    weekly = school_weekly_counts(school=school, start=run.weeks_from, end=AS_OF)
    assert {monday: week.unauthorised for monday, week in weekly[year_11.pk].items()} == {
        date(2026, 5, 11): 0,
        date(2026, 5, 18): 0,
    }
