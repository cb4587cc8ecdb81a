"""The school calendar's rules for which days have a register."""

from __future__ import annotations

from datetime import date

import pytest

from pupils.calendar import calendar_from, england_default_half_terms

CALENDAR = calendar_from(england_default_half_terms(2025))  # half-term 27-31 October 2025
TODAY = date(2025, 11, 26)


@pytest.mark.parametrize(
    ("today", "shown"),
    [
        (date(2025, 11, 26), date(2025, 11, 26)),  # a Wednesday in term: today
        (date(2025, 11, 29), date(2025, 11, 28)),  # Saturday: Friday's register
        (date(2025, 11, 30), date(2025, 11, 28)),  # Sunday
        (date(2025, 11, 3), date(2025, 11, 3)),  # the Monday back after half-term
        (date(2025, 10, 29), date(2025, 10, 24)),  # half-term: the Friday before it
    ],
)
def test_the_register_day_is_today_or_the_last_school_day_before_it(today, shown):
    assert CALENDAR.register_day(today) == shown


@pytest.mark.parametrize(
    ("day", "problem"),
    [
        (date(2025, 11, 24), ""),
        (TODAY, ""),
        (date(2025, 11, 27), "Thursday 27 November 2025 is still to come: marks are recorded on the day or after it"),
        (date(2025, 11, 22), "Saturday 22 November 2025 is a weekend, not a school day"),
        (
            date(2025, 10, 27),
            "Monday 27 October 2025 is outside the school's term dates, not a school day"
            " (if the school was open, correct its term dates first)",
        ),
    ],
)
def test_a_register_mark_needs_a_school_day_that_has_come(day, problem):
    assert CALENDAR.register_day_problem(day, today=TODAY) == problem


def test_a_school_without_term_dates_shows_today_rather_than_failing():
    empty = calendar_from([])
    assert empty.previous_school_day(TODAY) is None
    assert empty.register_day(date(2025, 11, 29)) == date(2025, 11, 29)


def test_history_from_a_year_the_calendar_does_not_hold_may_be_marked_on_weekdays():
    assert CALENDAR.register_day_problem(date(2019, 7, 30), today=TODAY) == ""  # a Tuesday, 2018/19
    assert CALENDAR.register_day_problem(date(2019, 7, 27), today=TODAY).endswith("is a weekend, not a school day")


def test_school_weeks_since_skip_holidays_and_go_on_into_a_year_not_yet_entered():
    last_year_only = calendar_from(england_default_half_terms(2025))
    # Wednesday 15 October 2025 to Wednesday 12 November: four weeks, one of them half-term.
    assert last_year_only.school_weeks_since(date(2025, 10, 15), date(2025, 11, 12)) == 3
    # From the summer term over the holiday into September 2026, whose term dates are not entered yet:
    # the school weeks of 2026/27 count as the England default has them (from Wednesday 2 September).
    assert last_year_only.school_weeks_since(date(2026, 7, 13), date(2026, 9, 16)) == 4  # 20 Jul, 31 Aug, 7, 14 Sep
    assert last_year_only.school_weeks_since(date(2025, 11, 12), date(2025, 11, 12)) == 0


def test_school_weeks_before_the_calendars_first_term_are_the_england_default_weeks():
    # A school that gave term dates only from September 2026: the 10 school weeks up to Friday 11
    # September 2026 reach back over the summer holiday into July, as the penalty rule's weeks may.
    this_year_only = calendar_from(england_default_half_terms(2026))
    start, end = this_year_only.school_weeks_back(date(2026, 9, 11), 10)
    # From Wednesday 2 September: 2 weeks this term, then the 8 to the summer's end on 22 July (from 1 June).
    assert (start, end) == (date(2026, 6, 1), date(2026, 9, 11))
    assert this_year_only.school_weeks_back(date(2026, 9, 11), 10) == calendar_from(
        england_default_half_terms(2025) + england_default_half_terms(2026)
    ).school_weeks_back(date(2026, 9, 11), 10)
    assert this_year_only.week_ends_back(date(2026, 9, 11), 3) == [
        date(2026, 9, 11),
        date(2026, 9, 6),
        date(2026, 7, 26),
    ]
