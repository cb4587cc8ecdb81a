"""The set-based counts (one grouped query per school) agree with the per-pupil rules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pupils.codes import code_table
from pupils.models import AttendanceMark, Pupil
from pupils.selectors import pupils_on_roll, school_summaries, school_weekly_counts
from pupils.statistics import AttendanceSummary, MarkFact, summarise
from tests.factories import MarkFactory, PupilFactory

AM, PM = 0, 1
WINDOW = {"start": date(2025, 11, 10), "end": date(2025, 11, 21)}


def mark(pupil: Pupil, day: date, session: int, code: str) -> AttendanceMark:
    return MarkFactory(pupil=pupil, date=day, session=session, code=code)


def facts(pupil: Pupil) -> list[MarkFact]:
    return [MarkFact(m.date, m.session, m.code) for m in AttendanceMark.objects.filter(pupil=pupil)]


@pytest.fixture
def alex(pupil):
    """On roll all fortnight: present Monday, ill Tuesday, late both ways Wednesday, INSET Thursday."""
    for session, code in ((AM, "/"), (PM, "\\")):
        mark(pupil, date(2025, 11, 10), session, code)
    for session, code in ((AM, "I"), (PM, "I")):
        mark(pupil, date(2025, 11, 11), session, code)
    mark(pupil, date(2025, 11, 12), AM, "L")
    mark(pupil, date(2025, 11, 12), PM, "U")
    mark(pupil, date(2025, 11, 13), AM, "#")
    mark(pupil, date(2025, 11, 13), PM, "#")
    mark(pupil, date(2025, 11, 17), AM, "G")
    mark(pupil, date(2025, 11, 21), PM, "N")
    mark(pupil, date(2025, 11, 24), AM, "O")  # after the window
    mark(pupil, date(2025, 11, 7), AM, "O")  # before the window
    return pupil


def test_school_summary_counts_a_pupils_fortnight(school, alex, django_assert_num_queries):
    with django_assert_num_queries(1):
        summaries = school_summaries(school=school, **WINDOW)

    s = summaries[alex.pk]
    # Possible: / \ I I L U G N = 8; attended / \ L = 3; authorised I I; unauthorised U G N.
    assert (s.possible, s.attended, s.authorised, s.unauthorised, s.not_possible) == (8, 3, 2, 3, 2)
    assert (s.late_before_close, s.late_after_close, s.unexplained, s.illness, s.holiday) == (1, 1, 1, 2, 1)
    assert s.session_minutes == school.session_minutes
    assert s == summarise(
        facts(alex), on_roll_from=alex.start_on, on_roll_to=None, born=alex.date_of_birth, session_minutes=195, **WINDOW
    )


def test_school_summary_respects_each_pupils_time_on_roll(school, other_school, django_assert_num_queries):
    joiner = PupilFactory(school=school, start_on=date(2025, 11, 12))
    leaver = PupilFactory(school=school, start_on=date(2021, 9, 1), leaving_on=date(2025, 11, 11))
    quiet = PupilFactory(school=school)
    left_before = PupilFactory(school=school, start_on=date(2021, 9, 1), leaving_on=date(2025, 11, 7))
    joins_after = PupilFactory(school=school, start_on=date(2025, 11, 24))
    elsewhere = PupilFactory(school=other_school)
    for p in (joiner, leaver, left_before, joins_after, elsewhere):
        for day in (date(2025, 11, 10), date(2025, 11, 11), date(2025, 11, 12), date(2025, 11, 13)):
            mark(p, day, AM, "O")
            mark(p, day, PM, "\\")

    with django_assert_num_queries(1):
        summaries = school_summaries(school=school, **WINDOW)

    assert set(summaries) == {joiner.pk, leaver.pk, quiet.pk}
    assert (summaries[joiner.pk].possible, summaries[joiner.pk].unauthorised) == (4, 2)  # 12th and 13th only
    assert (summaries[leaver.pk].possible, summaries[leaver.pk].unauthorised) == (4, 2)  # 10th and 11th only
    assert summaries[quiet.pk] == AttendanceSummary(session_minutes=195)
    assert summaries[quiet.pk].attendance_pct is None


def test_weekly_counts_split_the_window_by_monday(school, alex, django_assert_num_queries):
    quiet = PupilFactory(school=school)

    with django_assert_num_queries(1):
        weekly = school_weekly_counts(school=school, **WINDOW)

    assert weekly[quiet.pk] == {}
    assert set(weekly[alex.pk]) == {date(2025, 11, 10), date(2025, 11, 17)}
    first, second = weekly[alex.pk][date(2025, 11, 10)], weekly[alex.pk][date(2025, 11, 17)]
    assert (first.possible, first.attended, first.authorised, first.unauthorised, first.not_possible) == (6, 3, 2, 1, 2)
    assert (second.possible, second.unauthorised, second.holiday, second.unexplained) == (2, 2, 1, 1)
    assert first + second == school_summaries(school=school, **WINDOW)[alex.pk]


def test_a_window_starting_midweek_puts_its_first_days_under_that_weeks_monday(school, alex):
    weekly = school_weekly_counts(school=school, start=date(2025, 11, 12), end=date(2025, 11, 18))
    assert set(weekly[alex.pk]) == {date(2025, 11, 10), date(2025, 11, 17)}
    assert weekly[alex.pk][date(2025, 11, 10)].possible == 2  # Wednesday's L and U
    assert weekly[alex.pk][date(2025, 11, 17)].possible == 1  # Monday's G


def test_a_corrected_mark_counts_with_its_new_code(school, pupil):
    wrong = mark(pupil, date(2025, 11, 10), AM, "N")
    wrong.code = "I"
    wrong.save(update_fields=["code"])
    s = school_summaries(school=school, **WINDOW)[pupil.pk]
    assert (s.possible, s.authorised, s.unauthorised, s.unexplained, s.illness) == (1, 1, 0, 0, 1)


def test_every_code_is_counted_in_sql_as_the_per_pupil_rules_count_it(school):
    # One pupil per code, one mark each, on a day the code was in force.
    pupils = {}
    for code in code_table():
        day = date(2024, 7, 1) if code_table()[code].is_retired else date(2025, 11, 10)
        pupils[code] = (PupilFactory(school=school), day)
        mark(pupils[code][0], day, AM, code)

    summaries = school_summaries(school=school, start=date(2024, 7, 1), end=date(2025, 11, 10))

    for code, (pupil, day) in pupils.items():
        expected = summarise(
            [MarkFact(day, AM, code)],
            start=day,
            end=day,
            on_roll_from=pupil.start_on,
            on_roll_to=None,
            born=pupil.date_of_birth,
            session_minutes=195,
        )
        assert summaries[pupil.pk] == expected, code
    # An agreed holiday (H, retired 2024) was authorised; a holiday not granted (G) is not.
    assert (summaries[pupils["H"][0].pk].holiday, summaries[pupils["H"][0].pk].authorised) == (1, 1)
    assert (summaries[pupils["G"][0].pk].holiday, summaries[pupils["G"][0].pk].unauthorised) == (1, 1)


def test_pupils_on_roll_include_their_starting_and_leaving_days(school):
    starts = PupilFactory(school=school, start_on=date(2025, 11, 10))
    leaves = PupilFactory(school=school, start_on=date(2021, 9, 1), leaving_on=date(2025, 11, 10))
    PupilFactory(school=school, start_on=date(2025, 11, 11))
    PupilFactory(school=school, start_on=date(2021, 9, 1), leaving_on=date(2025, 11, 9))
    assert set(pupils_on_roll(school=school, on=date(2025, 11, 10))) == {starts, leaves}


# --- property: set-based equals per-pupil ------------------------------------

FIRST_DAY = date(2024, 5, 20)  # the range spans Year 11 study leave from 27 May, and the 2024 code change (19 August)
DAYS = 140


def valid_codes_on(day: date) -> list[str]:
    return sorted(c.code for c in code_table().values() if c.is_valid_on(day))


#: Birthdays either side of the edges of the cohort on Year 11 study leave from 27 May to 31 July 2024
#: (aged 15 on 31 August 2023: born 1 September 2007 to 31 August 2008), and one far from it.
BIRTHDAYS = [
    date(2007, 8, 31),
    date(2007, 9, 1),
    date(2008, 3, 1),
    date(2008, 8, 31),
    date(2008, 9, 1),
    date(2016, 10, 1),
]

pupil_plans = st.tuples(
    st.sampled_from(BIRTHDAYS) | st.just(date(2008, 3, 1)),  # often one on study leave in summer 2024
    st.just(0) | st.integers(0, DAYS - 1),  # start_on, as days after FIRST_DAY: often on roll from the first
    st.one_of(st.none(), st.integers(0, DAYS - 1)),  # days on roll before leaving, if they left
    st.dictionaries(  # (day, session) -> index into the codes valid that day
        keys=st.tuples(st.integers(0, DAYS - 1), st.sampled_from([AM, PM])),
        values=st.integers(0, 1000),
        max_size=60,
    ),
)


@contextmanager
def rolled_back() -> Iterator[None]:
    """Run the block in a savepoint and throw its rows away, so each example starts clean."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plans=st.lists(pupil_plans, min_size=1, max_size=4),
    window=st.tuples(st.integers(0, DAYS - 1), st.integers(0, DAYS - 1)).map(sorted),
)
def test_set_based_counts_equal_the_per_pupil_rules(school, plans, window):
    start, end = (FIRST_DAY + timedelta(days=d) for d in window)
    with rolled_back():
        expected_facts: dict[int, tuple[Pupil, list[MarkFact]]] = {}
        rows = []
        for born, start_offset, stay, marks in plans:
            start_on = FIRST_DAY + timedelta(days=start_offset)
            leaving_on = None if stay is None else start_on + timedelta(days=stay)
            pupil = PupilFactory(school=school, start_on=start_on, leaving_on=leaving_on, date_of_birth=born)
            pupil_facts = []
            for (offset, session), index in marks.items():
                day = FIRST_DAY + timedelta(days=offset)
                codes = valid_codes_on(day)
                code = codes[index % len(codes)]
                pupil_facts.append(MarkFact(day, session, code))
                rows.append(
                    AttendanceMark(pupil=pupil, date=day, session=session, code=code, changed_at=timezone.now())
                )
            expected_facts[pupil.pk] = (pupil, pupil_facts)
        AttendanceMark.objects.bulk_create(rows)

        summaries = school_summaries(school=school, start=start, end=end)
        weekly = school_weekly_counts(school=school, start=start, end=end)

        on_roll = {
            pk
            for pk, (p, _) in expected_facts.items()
            if p.start_on <= end and (p.leaving_on is None or p.leaving_on >= start)
        }
        assert set(summaries) == on_roll
        assert set(weekly) == on_roll
        for pk in on_roll:
            pupil, pupil_facts = expected_facts[pk]
            roll = {
                "on_roll_from": pupil.start_on,
                "on_roll_to": pupil.leaving_on,
                "born": pupil.date_of_birth,
                "session_minutes": 195,
            }
            expected = summarise(pupil_facts, start=start, end=end, **roll)
            assert summaries[pk] == expected
            assert sum(weekly[pk].values(), AttendanceSummary(session_minutes=195)) == expected
            for monday, week in weekly[pk].items():
                assert monday.weekday() == 0
                week_start, week_end = max(start, monday), min(end, monday + timedelta(days=6))
                assert week == summarise(pupil_facts, start=week_start, end=week_end, **roll)
