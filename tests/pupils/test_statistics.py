"""Attendance statistics by the DfE method, worked by hand. No database."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from pupils.calendar import HalfTermDates, SchoolCalendar
from pupils.codes import code_table
from pupils.statistics import (
    AttendanceSummary,
    MarkFact,
    StudyLeave,
    consecutive_days_absent,
    format_pct,
    study_leave,
    study_leave_periods,
    summarise,
    unauthorised_in_school_weeks,
)

AM, PM = 0, 1
LONG_AGO = date(2020, 9, 1)
#: A birthday that puts a pupil's Year 11 well after every window here.
YOUNG = date(2016, 10, 1)

#: Written out by hand from attendance-rules.md section 1 (DfE 2025/26 groupings),
#: not read from codes.csv, so a wrong row in the table fails here.
#: code: (possible, attended, authorised, unauthorised, not possible)
EXPECTED_EFFECT = {
    "/": (1, 1, 0, 0, 0),
    "\\": (1, 1, 0, 0, 0),
    "L": (1, 1, 0, 0, 0),
    "K": (1, 1, 0, 0, 0),
    "V": (1, 1, 0, 0, 0),
    "P": (1, 1, 0, 0, 0),
    "W": (1, 1, 0, 0, 0),
    "B": (1, 1, 0, 0, 0),
    "J": (1, 1, 0, 0, 0),  # retired 2024; was AEA, not absence
    "C1": (1, 0, 1, 0, 0),
    "M": (1, 0, 1, 0, 0),
    "J1": (1, 0, 1, 0, 0),
    "S": (1, 0, 1, 0, 0),
    "C2": (1, 0, 1, 0, 0),
    "C": (1, 0, 1, 0, 0),
    "T": (1, 0, 1, 0, 0),
    "R": (1, 0, 1, 0, 0),
    "I": (1, 0, 1, 0, 0),
    "E": (1, 0, 1, 0, 0),
    "H": (1, 0, 1, 0, 0),  # retired 2024
    "F": (1, 0, 1, 0, 0),  # retired 2024
    "G": (1, 0, 0, 1, 0),
    "N": (1, 0, 0, 1, 0),
    "O": (1, 0, 0, 1, 0),
    "U": (1, 0, 0, 1, 0),
    "D": (0, 0, 0, 0, 1),
    "X": (0, 0, 0, 0, 1),
    "Q": (0, 0, 0, 0, 1),
    "Y1": (0, 0, 0, 0, 1),
    "Y2": (0, 0, 0, 0, 1),
    "Y3": (0, 0, 0, 0, 1),
    "Y4": (0, 0, 0, 0, 1),
    "Y5": (0, 0, 0, 0, 1),
    "Y6": (0, 0, 0, 0, 1),
    "Y7": (0, 0, 0, 0, 1),
    "Y": (0, 0, 0, 0, 1),  # retired 2024
    "Z": (0, 0, 0, 0, 1),
    "#": (0, 0, 0, 0, 1),
}
RETIRED = {"H", "F", "J", "Y"}

#: 2024/25 summer 2 and 2025/26 autumn, as a school might publish them.
CALENDAR = SchoolCalendar(
    (
        HalfTermDates(date(2025, 4, 28), date(2025, 5, 23), "Summer 1"),
        HalfTermDates(date(2025, 6, 2), date(2025, 7, 22), "Summer 2"),
        HalfTermDates(date(2025, 9, 2), date(2025, 10, 24), "Autumn 1"),
        HalfTermDates(date(2025, 11, 3), date(2025, 12, 19), "Autumn 2"),
    )
)


def weekdays(first: date, *pairs: tuple[str, str]) -> list[MarkFact]:
    """AM and PM marks for consecutive weekdays from `first`, one (AM, PM) pair a day; "" leaves a session unmarked."""
    marks: list[MarkFact] = []
    day = first
    for am, pm in pairs:
        while day.weekday() >= 5:
            day += timedelta(days=1)
        marks += [MarkFact(day, AM, am), MarkFact(day, PM, pm)]
        day += timedelta(days=1)
    return [m for m in marks if m.code]


def whole_window(marks: list[MarkFact], *, on_roll_from: date = LONG_AGO, on_roll_to: date | None = None, minutes=195):
    return summarise(
        marks,
        start=date(2013, 1, 1),
        end=date(2026, 12, 31),
        on_roll_from=on_roll_from,
        on_roll_to=on_roll_to,
        born=YOUNG,
        session_minutes=minutes,
    )


def test_every_code_in_the_table_has_a_hand_worked_effect():
    assert set(EXPECTED_EFFECT) == set(code_table())


@pytest.mark.parametrize("code", sorted(EXPECTED_EFFECT))
def test_each_code_counts_in_its_dfe_category(code):
    # F (extended holiday) was merged into H in September 2013; the other retired codes lasted to August 2024.
    day = date(2013, 7, 1) if code == "F" else date(2024, 7, 1) if code in RETIRED else date(2025, 11, 26)
    assert code_table()[code].is_valid_on(day)

    s = whole_window([MarkFact(day, AM, code)], on_roll_from=min(day, LONG_AGO))

    assert (s.possible, s.attended, s.authorised, s.unauthorised, s.not_possible) == EXPECTED_EFFECT[code]


def test_mixed_fortnight_worked_by_hand():
    marks = weekdays(
        date(2025, 11, 10),
        ("/", "\\"),
        ("/", "L"),
        ("I", "I"),
        ("/", "\\"),
        ("V", "V"),  # school trip: approved educational activity
        ("G", "G"),  # holiday not granted
        ("/", "U"),
        ("M", "\\"),
        ("#", "#"),  # INSET day
        ("/", "\\"),
    )
    s = whole_window(marks)

    # 20 sessions, 2 closed: 18 possible; 10 present + 2 AEA attended; I, I, M authorised; G, G, U unauthorised.
    assert (s.possible, s.present, s.aea, s.attended) == (18, 10, 2, 12)
    assert (s.authorised, s.unauthorised, s.absent, s.not_possible) == (3, 3, 6, 2)
    assert (s.late_before_close, s.late_after_close, s.late) == (1, 1, 2)
    assert (s.illness, s.holiday, s.unexplained) == (2, 2, 0)
    assert s.attendance_pct.quantize(Decimal("0.0001")) == Decimal("66.6667")
    assert s.absence_pct.quantize(Decimal("0.0001")) == Decimal("33.3333")
    assert format_pct(s.attendance_pct) == "66.7"
    assert format_pct(s.absence_pct) == "33.3"
    assert s.persistent is True
    assert s.severe is False
    assert s.hours_lost == Decimal("19.50")  # 6 sessions x 195 minutes


def test_window_limits_are_inclusive_and_marks_outside_are_ignored():
    marks = weekdays(date(2025, 11, 17), ("N", "N"), ("/", "\\"), ("/", "\\"), ("O", "O"))
    s = summarise(
        marks,
        start=date(2025, 11, 18),
        end=date(2025, 11, 19),
        on_roll_from=LONG_AGO,
        on_roll_to=None,
        born=YOUNG,
        session_minutes=195,
    )
    assert (s.possible, s.attended, s.unauthorised) == (4, 4, 0)


def test_pupil_joining_mid_term_counts_only_from_their_starting_day():
    # Marked N in error on Monday and Tuesday, before they were on roll.
    marks = weekdays(date(2025, 11, 17), ("N", "N"), ("N", "N"), ("/", "\\"), ("I", "I"))
    s = whole_window(marks, on_roll_from=date(2025, 11, 19))
    assert (s.possible, s.attended, s.authorised, s.unauthorised) == (4, 2, 2, 0)
    assert s.attendance_pct == Decimal(50)


def test_pupil_who_left_counts_up_to_and_including_their_leaving_day():
    marks = weekdays(date(2025, 11, 17), ("/", "\\"), ("/", "N"), ("O", "O"), ("O", "O"))
    s = whole_window(marks, on_roll_to=date(2025, 11, 18))
    assert (s.possible, s.attended, s.unauthorised) == (4, 3, 1)


def test_a_correction_replaces_the_earlier_code_for_that_session():
    day = date(2025, 11, 17)
    corrected = whole_window([MarkFact(day, AM, "N"), MarkFact(day, PM, "\\"), MarkFact(day, AM, "I")])
    assert (corrected.possible, corrected.authorised, corrected.unauthorised, corrected.unexplained) == (2, 1, 0, 0)

    # The order decides, not the category: an illness corrected to O is unauthorised.
    reversed_ = whole_window([MarkFact(day, AM, "I"), MarkFact(day, AM, "O")])
    assert (reversed_.possible, reversed_.authorised, reversed_.unauthorised) == (1, 0, 1)


def test_placeholders_for_no_mark_yet_are_not_counted():
    day = date(2025, 11, 17)
    s = whole_window([MarkFact(day, AM, "-"), MarkFact(day, PM, "*"), MarkFact(day + timedelta(days=1), AM, "")])
    assert s == AttendanceSummary(session_minutes=195)


def absences(absent: int, possible: int) -> list[MarkFact]:
    day = date(2025, 9, 1)
    return [MarkFact(day + timedelta(days=i), AM, "O" if i < absent else "/") for i in range(possible)]


@pytest.mark.parametrize(
    ("absent", "possible", "persistent"),
    [(2, 20, True), (3, 30, True), (1, 11, False), (2, 21, False), (19, 190, True), (18, 181, False)],
)
def test_persistent_absence_starts_at_exactly_ten_percent(absent, possible, persistent):
    assert whole_window(absences(absent, possible)).persistent is persistent


@pytest.mark.parametrize(
    ("absent", "possible", "severe"),
    [(10, 20, True), (10, 19, True), (10, 21, False), (95, 190, True), (94, 189, False)],
)
def test_severe_absence_starts_at_exactly_fifty_percent(absent, possible, severe):
    s = whole_window(absences(absent, possible))
    assert s.severe is severe
    assert s.persistent  # severe is a subset of persistent, and these are all over 10%


def test_no_possible_sessions_means_no_percentage_and_no_flags():
    s = whole_window([MarkFact(date(2025, 11, 17), AM, "#"), MarkFact(date(2025, 11, 17), PM, "Y4")])
    assert s.possible == 0
    assert s.attendance_pct is None
    assert s.absence_pct is None
    assert s.persistent is False
    assert s.severe is False
    assert format_pct(s.attendance_pct) == ""


def test_late_before_close_is_present_and_late_after_close_is_unauthorised():
    s = whole_window([MarkFact(date(2025, 11, 17), AM, "L"), MarkFact(date(2025, 11, 17), PM, "U")])
    assert (s.possible, s.present, s.attended, s.unauthorised) == (2, 1, 1, 1)
    assert (s.late_before_close, s.late_after_close) == (1, 1)
    assert s.attendance_pct == Decimal(50)


@pytest.mark.parametrize(
    ("absent", "minutes", "hours"),
    [(0, 195, "0.00"), (3, 195, "9.75"), (1, 50, "0.83"), (2, 50, "1.67"), (4, 150, "10.00")],
)
def test_hours_lost_are_absence_sessions_times_session_length(absent, minutes, hours):
    marks = absences(absent, 10) + [MarkFact(date(2025, 12, 1), AM, "#")]
    assert whole_window(marks, minutes=minutes).hours_lost == Decimal(hours)


def test_summaries_of_disjoint_windows_add_up():
    marks = weekdays(date(2025, 11, 10), ("/", "L"), ("I", "G"), ("#", "#"), ("U", "N"), ("V", "D"))
    week_of = {"start": date(2025, 11, 10), "on_roll_from": LONG_AGO, "on_roll_to": None, "session_minutes": 195}
    week_of["born"] = YOUNG
    first = summarise(marks, **{**week_of, "end": date(2025, 11, 12)})
    second = summarise(marks, **{**week_of, "start": date(2025, 11, 13), "end": date(2025, 11, 16)})

    assert first + second == whole_window(marks)
    assert sum([first, second]) == whole_window(marks)
    assert (first + second).possible == 7


def test_summaries_with_different_session_lengths_do_not_add():
    with pytest.raises(ValueError, match="195 and 180 minutes"):
        AttendanceSummary(session_minutes=195) + AttendanceSummary(session_minutes=180)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("12.25"), "12.3"),  # half up, not to even
        (Decimal("12.35"), "12.4"),
        (Decimal("12.249999"), "12.2"),
        (Decimal("0.05"), "0.1"),
        (Decimal("100"), "100.0"),
        (Decimal("0"), "0.0"),
        (None, ""),
    ],
)
def test_percentages_print_to_one_decimal_place_rounding_half_up(value, text):
    assert format_pct(value) == text


def test_a_third_prints_as_thirty_three_point_three():
    s = whole_window(absences(1, 3))
    assert format_pct(s.absence_pct) == "33.3"
    assert format_pct(s.attendance_pct) == "66.7"


# --- penalty-notice count ---------------------------------------------------


def test_penalty_count_reaches_back_ten_school_weeks_over_the_october_half_term():
    # As of Wed 26 Nov 2025 the ten school weeks are those of 24, 17, 10 and 3 Nov,
    # then (skipping half-term week 27 Oct) 20, 13 and 6 Oct and 29, 22 and 15 Sep.
    marks = [
        MarkFact(date(2025, 9, 12), AM, "N"),  # Friday before the window: out
        MarkFact(date(2025, 9, 12), PM, "N"),
        MarkFact(date(2025, 9, 15), AM, "N"),  # first day of the window: in
        MarkFact(date(2025, 9, 15), PM, "N"),
        MarkFact(date(2025, 10, 22), AM, "G"),
        MarkFact(date(2025, 10, 22), PM, "I"),  # authorised: never counts
        MarkFact(date(2025, 11, 25), AM, "U"),
        MarkFact(date(2025, 11, 26), AM, "O"),
        MarkFact(date(2025, 11, 26), PM, "L"),
        MarkFact(date(2025, 11, 27), AM, "N"),  # after as_of: out
    ]
    count = unauthorised_in_school_weeks(
        marks, calendar=CALENDAR, as_of=date(2025, 11, 26), on_roll_from=LONG_AGO, on_roll_to=None
    )
    assert count == 5


def test_penalty_count_spans_the_summer_holiday_into_the_previous_school_year():
    # As of Wed 17 Sep 2025: weeks of 15, 8 and 1 Sep, then (summer holiday skipped)
    # 21 and 14 Jul, 7 Jul, 30, 23, 16 and 9 Jun 2025.
    marks = [
        MarkFact(date(2025, 6, 6), AM, "G"),  # out: the week of 2 Jun is the eleventh
        MarkFact(date(2025, 6, 9), AM, "G"),
        MarkFact(date(2025, 6, 9), PM, "G"),
        MarkFact(date(2025, 7, 22), AM, "N"),
        MarkFact(date(2025, 7, 22), PM, "N"),
        MarkFact(date(2025, 9, 2), AM, "O"),
        MarkFact(date(2025, 9, 15), AM, "U"),
        MarkFact(date(2025, 9, 15), PM, "U"),
        MarkFact(date(2025, 9, 16), PM, "C"),  # authorised
    ]
    as_of = date(2025, 9, 17)
    assert (
        unauthorised_in_school_weeks(marks, calendar=CALENDAR, as_of=as_of, on_roll_from=LONG_AGO, on_roll_to=None) == 7
    )
    # Shorter window: only the three September weeks.
    assert (
        unauthorised_in_school_weeks(
            marks, calendar=CALENDAR, as_of=as_of, weeks=3, on_roll_from=LONG_AGO, on_roll_to=None
        )
        == 3
    )
    # A pupil who joined this September brings no absences from another school's register.
    assert (
        unauthorised_in_school_weeks(
            marks, calendar=CALENDAR, as_of=as_of, on_roll_from=date(2025, 9, 1), on_roll_to=None
        )
        == 3
    )


def test_penalty_count_takes_the_corrected_code():
    day = date(2025, 11, 24)
    marks = [MarkFact(day, AM, "N"), MarkFact(day, PM, "N"), MarkFact(day, AM, "I")]
    count = unauthorised_in_school_weeks(
        marks, calendar=CALENDAR, as_of=date(2025, 11, 26), on_roll_from=LONG_AGO, on_roll_to=None
    )
    assert count == 1


# --- consecutive days absent -------------------------------------------------


def run_as_of(marks: list[MarkFact], as_of: date, **roll) -> tuple[int, date | None]:
    roll = {"on_roll_from": LONG_AGO, "on_roll_to": None, **roll}
    return consecutive_days_absent(marks, calendar=CALENDAR, as_of=as_of, **roll)


FRIDAY_TO_WEDNESDAY = weekdays(
    date(2025, 11, 20),
    ("/", "\\"),  # Thu 20: present
    ("I", "N"),  # Fri 21: absent all day
    ("#", "#"),  # Mon 24: INSET day, school closed
    ("N", "O"),  # Tue 25: absent
    ("N", ""),  # Wed 26: absent in the morning, afternoon not yet marked
)


def test_absent_run_crosses_a_weekend_and_a_closure_day_without_breaking_or_growing():
    assert run_as_of(FRIDAY_TO_WEDNESDAY, date(2025, 11, 26)) == (3, date(2025, 11, 21))


def test_absent_run_ends_at_the_latest_school_day_with_marks():
    # On Saturday, and on Thursday before Thursday is marked, the run still stands.
    assert run_as_of(FRIDAY_TO_WEDNESDAY, date(2025, 11, 29)) == (3, date(2025, 11, 21))
    assert run_as_of(FRIDAY_TO_WEDNESDAY, date(2025, 11, 27)) == (3, date(2025, 11, 21))
    # As of Tuesday, Wednesday's marks are in the future.
    assert run_as_of(FRIDAY_TO_WEDNESDAY, date(2025, 11, 25)) == (2, date(2025, 11, 21))


def test_attending_any_session_ends_the_run():
    late_today = [*FRIDAY_TO_WEDNESDAY, MarkFact(date(2025, 11, 26), PM, "L")]
    assert run_as_of(late_today, date(2025, 11, 26)) == (0, None)
    trip_on_tuesday = [*FRIDAY_TO_WEDNESDAY, MarkFact(date(2025, 11, 25), PM, "V")]
    assert run_as_of(trip_on_tuesday, date(2025, 11, 26)) == (1, date(2025, 11, 26))


def test_arriving_after_the_register_closed_is_still_absence():
    late_after_close = [*FRIDAY_TO_WEDNESDAY, MarkFact(date(2025, 11, 26), PM, "U")]
    assert run_as_of(late_after_close, date(2025, 11, 26)) == (3, date(2025, 11, 21))


def test_absent_run_crosses_the_half_term_holiday():
    marks = weekdays(date(2025, 10, 22), ("/", "\\"), ("I", "I"), ("I", "I")) + weekdays(
        date(2025, 11, 3), ("I", "I"), ("I", "M")
    )
    assert run_as_of(marks, date(2025, 11, 4)) == (4, date(2025, 10, 23))


def test_absent_run_starts_no_earlier_than_the_starting_day():
    marks = weekdays(date(2025, 11, 17), ("N", "N"), ("N", "N"), ("N", "N"))
    assert run_as_of(marks, date(2025, 11, 19), on_roll_from=date(2025, 11, 18)) == (2, date(2025, 11, 18))


def test_an_unauthorised_run_ends_at_any_authorised_absence_or_attendance():
    marks = weekdays(
        date(2025, 11, 17),
        ("O", "O"),  # Mon 17: unauthorised all day
        ("I", "I"),  # Tue 18: ill
        ("N", "G"),  # Wed 19: unauthorised all day
        ("O", "I"),  # Thu 20: unauthorised in the morning, ill in the afternoon
        ("U", "O"),  # Fri 21: late after the register closed, then away: unauthorised all day
        ("#", "#"),  # Mon 24: closed
        ("N", "N"),  # Tue 25
    )
    assert run_as_of(marks, date(2025, 11, 25)) == (6, date(2025, 11, 17))
    assert run_as_of(marks, date(2025, 11, 25), unauthorised=True) == (2, date(2025, 11, 21))
    assert run_as_of(marks, date(2025, 11, 19), unauthorised=True) == (1, date(2025, 11, 19))


def test_no_absence_means_no_run():
    assert run_as_of([], date(2025, 11, 26)) == (0, None)
    assert run_as_of(weekdays(date(2025, 11, 24), ("/", "\\")), date(2025, 11, 26)) == (0, None)


# --- Year 11 study leave: "for 15-year-olds, sessions and absences in the second half of the summer
# term are removed" (the census splits the summer term at the spring bank holiday) ----------------


@pytest.mark.parametrize(
    ("born", "leave"),
    [
        # Aged 15 on 31 August 2025, so Year 11 in 2025/26: from the spring bank holiday, 25 May 2026.
        (date(2010, 8, 31), (date(2026, 5, 25), date(2026, 7, 31))),
        (date(2009, 9, 1), (date(2026, 5, 25), date(2026, 7, 31))),
        # A September birthday is a year younger in school terms than an August one of the same year.
        (date(2010, 9, 1), (date(2027, 5, 31), date(2027, 7, 31))),
        # The jubilee moved 2022's holiday to Thursday 2 June.
        (date(2006, 5, 5), (date(2022, 6, 2), date(2022, 7, 31))),
    ],
)
def test_study_leave_is_the_summer_second_half_of_the_year_a_pupil_starts_aged_15(born, leave):
    assert study_leave(born) == leave


def test_a_year_11_pupils_summer_second_half_is_removed_and_a_year_10s_is_not():
    # Friday 22 May 2026 (before the holiday), then the week of Monday 1 June 2026 (after half-term).
    marks = weekdays(date(2026, 5, 22), ("N", "N")) + weekdays(date(2026, 6, 1), ("O", "O"), ("/", "\\"), ("S", "S"))
    window = {"start": date(2026, 5, 1), "end": date(2026, 7, 31), "on_roll_from": LONG_AGO, "on_roll_to": None}
    year_11 = summarise(marks, born=date(2010, 3, 1), session_minutes=195, **window)
    year_10 = summarise(marks, born=date(2011, 3, 1), session_minutes=195, **window)
    # Year 11: only the Friday before the spring bank holiday counts, 2 of 2 sessions missed.
    assert (year_11.possible, year_11.unauthorised, year_11.authorised) == (2, 2, 0)
    # Year 10: every session counts. 8 possible, 4 unauthorised (N, O) and 2 authorised (S): 25.0% attendance.
    assert (year_10.possible, year_10.unauthorised, year_10.authorised) == (8, 4, 2)
    assert year_10.attendance_pct == Decimal(25)


def test_study_leave_periods_name_the_pupils_and_days_on_study_leave_in_a_window():
    (period,) = study_leave_periods(date(2025, 9, 1), date(2026, 6, 10))
    assert period == StudyLeave(date(2026, 5, 25), date(2026, 6, 10), date(2009, 9, 1), date(2010, 8, 31))
    assert study_leave_periods(date(2025, 9, 1), date(2026, 5, 24)) == []
    assert [p.first for p in study_leave_periods(date(2024, 1, 1), date(2026, 12, 31))] == [
        date(2024, 5, 27),
        date(2025, 5, 26),
        date(2026, 5, 25),
    ]
