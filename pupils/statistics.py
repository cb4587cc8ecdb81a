"""Attendance statistics by the DfE method, for one pupil's marks. Plain Python.

Every mark is classified through `pupils.codes`, the one home of the code
table. The DfE method (see `shared/docs/attendance-rules.md`, sections 1-2):

- possible sessions = present + AEA + authorised + unauthorised; the codes
  that are not possible sessions (D, X, Q, Y1-Y7, Z, #, legacy Y) sit outside
  the denominator;
- attendance = present (/, \\, L) + approved educational activity;
- overall absence = authorised + unauthorised; L counts as present, U as
  unauthorised absence;
- persistent absence: absence >= 10% of the pupil's own possible sessions;
  severe absence: >= 50%;
- counted per enrolment, from the pupil's first day on roll to the leaving day;
- Year 11 study leave: for pupils aged 15 at the start of the school year,
  sessions in the second half of the summer term are removed
  (`study_leave`, `study_leave_periods`).

The set-based counterpart, one grouped query per school, is
`pupils.selectors`; the two must agree mark for mark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import cached_property

from . import codes
from .calendar import SchoolCalendar, last_monday_of_may

#: Enough digits that rounding for display never rounds twice in practice.
_PCT_CONTEXT = Context(prec=28)

PRESENT_CODES = codes.codes_in(codes.Category.PRESENT)
AEA_CODES = codes.codes_in(codes.Category.AEA)
AUTHORISED_CODES = codes.codes_in(codes.Category.AUTHORISED)
UNAUTHORISED_CODES = codes.codes_in(codes.Category.UNAUTHORISED)
NOT_POSSIBLE_CODES = codes.codes_in(codes.Category.NOT_POSSIBLE)
POSSIBLE_CODES = codes.codes_in(*codes.POSSIBLE)
ABSENT_CODES = codes.codes_in(*codes.ABSENT)

#: Persistent absence: absence of at least this percentage of possible sessions; severe: this one.
PERSISTENT_ABSENCE_PCT = 10
SEVERE_ABSENCE_PCT = 50


#: The counts that add up to sessions attended, to sessions absent, and to late sessions
#: (`AttendanceSummary.attended`, `.absent`, `.late`).
ATTENDED_COUNTS = ("present", "aea")
ABSENT_COUNTS = ("authorised", "unauthorised")
LATE_COUNTS = ("late_before_close", "late_after_close")


def is_day_absent(possible_codes: Iterable[str]) -> bool:
    """Whether a day's possible sessions were all absences (L is present; U is absent): it extends a run."""
    return all(code in ABSENT_CODES for code in possible_codes)


def is_day_unauthorised(possible_codes: Iterable[str]) -> bool:
    """Whether a day's possible sessions were all unauthorised absences: it extends an unauthorised run."""
    return all(code in UNAUTHORISED_CODES for code in possible_codes)


def is_persistent(absent: int, possible: int) -> bool:
    """Persistent absence from two counts: absence is 10% or more of possible sessions (in whole numbers)."""
    return possible > 0 and absent * 100 >= PERSISTENT_ABSENCE_PCT * possible


def is_severe(absent: int, possible: int) -> bool:
    """Severe absence from two counts: absence is 50% or more of possible sessions (in whole numbers)."""
    return possible > 0 and absent * 100 >= SEVERE_ABSENCE_PCT * possible


#: Each count of `AttendanceSummary` and the codes that count towards it: the one table
#: the set-based counts (`pupils.selectors`, the night's weekly counts) are built from.
COUNTED_CODES: dict[str, frozenset[str]] = {
    "present": PRESENT_CODES,
    "aea": AEA_CODES,
    "authorised": AUTHORISED_CODES,
    "unauthorised": UNAUTHORISED_CODES,
    "late_before_close": frozenset({codes.LATE_BEFORE_CLOSE}),
    "late_after_close": frozenset({codes.LATE_AFTER_CLOSE}),
    "unexplained": frozenset({codes.UNEXPLAINED}),
    "illness": frozenset({codes.ILLNESS}),
    "holiday": codes.HOLIDAY_CODES,
    "not_possible": NOT_POSSIBLE_CODES,
}


@dataclass(frozen=True)
class MarkFact:
    """One register mark as plain data: a date, a session (0 = AM, 1 = PM) and a stored code."""

    date: date
    session: int
    code: str


@dataclass(frozen=True)
class AttendanceSummary:
    """Session counts for one pupil over one window, and the DfE measures drawn from them.

    `possible` and `attended` are derived from the category counts so they can
    never disagree with them. `session_minutes` is carried only to turn absence
    into hours of lost learning.
    """

    present: int = 0  # / \ L
    aea: int = 0  # approved educational activity: counts as attendance
    authorised: int = 0
    unauthorised: int = 0
    late_before_close: int = 0  # L (already in present)
    late_after_close: int = 0  # U (already in unauthorised)
    unexplained: int = 0  # N (already in unauthorised)
    illness: int = 0  # I (already in authorised)
    holiday: int = 0  # codes.HOLIDAY_CODES (already in authorised or unauthorised)
    not_possible: int = 0  # outside the denominator
    session_minutes: int = 0

    @property
    def attended(self) -> int:
        return self.present + self.aea  # ATTENDED_COUNTS, written out: read for every pupil and window

    @property
    def absent(self) -> int:
        """Overall absence: authorised plus unauthorised sessions (ABSENT_COUNTS)."""
        return self.authorised + self.unauthorised

    @property
    def possible(self) -> int:
        return self.attended + self.absent

    @property
    def late(self) -> int:
        """DfE "late sessions": L plus U (LATE_COUNTS)."""
        return self.late_before_close + self.late_after_close

    @cached_property
    def attendance_pct(self) -> Decimal | None:
        """Attended as a percentage of possible sessions (28 significant digits); None with no possible sessions."""
        return percentage(self.attended, self.possible)

    @property
    def absence_pct(self) -> Decimal | None:
        """Overall absence as a percentage of possible sessions; None with no possible sessions."""
        return percentage(self.absent, self.possible)

    @property
    def persistent(self) -> bool:
        """Persistent absence: absence is 10% or more of possible sessions (decided in whole numbers)."""
        return is_persistent(self.absent, self.possible)

    @property
    def severe(self) -> bool:
        """Severe absence: absence is 50% or more of possible sessions (a subset of persistent)."""
        return is_severe(self.absent, self.possible)

    @property
    def hours_lost(self) -> Decimal:
        """Absence sessions times the session length, in hours, to the nearest hundredth (half up)."""
        hours = Decimal(self.absent * self.session_minutes) / Decimal(60)
        return hours.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def __add__(self, other: object) -> AttendanceSummary:
        """Add summaries of disjoint windows. Raises ValueError if their session lengths differ."""
        if not isinstance(other, AttendanceSummary):
            return NotImplemented
        if self.session_minutes != other.session_minutes:
            raise ValueError(
                f"cannot add summaries with different session lengths "
                f"({self.session_minutes} and {other.session_minutes} minutes)"
            )
        counts = {
            f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if f.name != "session_minutes"
        }
        return AttendanceSummary(session_minutes=self.session_minutes, **counts)

    @classmethod
    def add_up(cls, summaries: Sequence[AttendanceSummary]) -> AttendanceSummary:
        """The sum of summaries of disjoint windows; an empty summary if there are none."""
        if not summaries:
            return AttendanceSummary()
        return sum(summaries[1:], summaries[0])

    def __radd__(self, other: object) -> AttendanceSummary:
        # So that sum(summaries) works: sum() starts from 0.
        if other == 0:
            return self
        return NotImplemented


def percentage(part: int, whole: int) -> Decimal | None:
    """`part` as a percentage of `whole` (28 significant digits); None when `whole` is 0."""
    if whole == 0:
        return None
    return _PCT_CONTEXT.divide(Decimal(part * 100), Decimal(whole))


def format_pct(value: Decimal | None) -> str:
    """A percentage to one decimal place, halves rounded up ("12.25" -> "12.3"); "" for None."""
    if value is None:
        return ""
    return str(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


#: Spring bank holidays that were not the last Monday in May (moved for royal jubilees).
_MOVED_SPRING_BANK_HOLIDAYS = {2002: date(2002, 6, 4), 2012: date(2012, 6, 4), 2022: date(2022, 6, 2)}


def spring_bank_holiday(year: int) -> date:
    """The spring bank holiday: where the DfE splits the summer term into half-terms 5 and 6."""
    return _MOVED_SPRING_BANK_HOLIDAYS.get(year) or last_monday_of_may(year)


def study_leave(born: date) -> tuple[date, date]:
    """The days a pupil born on `born` is on Year 11 study leave, whose sessions the DfE removes.

    The second half of the summer term (from the spring bank holiday, where
    the census splits the summer term, to the end of the data year, 31 July)
    of the school year the pupil starts aged 15 (on the 31 August before it).
    """
    year = born.year + 16 + (1 if born.month >= 9 else 0)
    return spring_bank_holiday(year), date(year, 7, 31)


def on_study_leave(day: date, born: date) -> bool:
    """Whether the DfE removes this pupil's sessions on `day` (Year 11 study leave)."""
    first, last = study_leave(born)
    return first <= day <= last


@dataclass(frozen=True)
class StudyLeave:
    """One summer's study leave, within a window: days [first, last], for pupils born in [born_from, born_to]."""

    first: date
    last: date
    born_from: date
    born_to: date


def study_leave_periods(start: date, end: date) -> list[StudyLeave]:
    """Every summer's study leave that overlaps [start, end], clipped to it: what set-based counts leave out.

    A mark on day D of pupil born B is removed exactly when some period has
    first <= D <= last and born_from <= B <= born_to (`on_study_leave`).
    """
    periods = []
    for year in range(start.year, end.year + 1):
        first, last = max(spring_bank_holiday(year), start), min(date(year, 7, 31), end)
        if first <= last:
            periods.append(StudyLeave(first, last, date(year - 17, 9, 1), date(year - 16, 8, 31)))
    return periods


def on_roll(day: date, on_roll_from: date, on_roll_to: date | None) -> bool:
    """Whether `day` falls in the enrolment: from the starting day to the leaving day, both included."""
    return on_roll_from <= day and (on_roll_to is None or day <= on_roll_to)


def _latest(marks: Iterable[MarkFact]) -> dict[tuple[date, int], str]:
    """One code per (date, session): a later fact corrects an earlier one for the same session.

    The register keeps one mark per session; a correction replaces the code.
    MIS placeholders ("", "-", "*") are not marks and are dropped, but still
    replace an earlier code for that session (the mark was blanked).
    """
    latest: dict[tuple[date, int], str] = {}
    for mark in marks:
        latest[(mark.date, mark.session)] = mark.code
    return {key: code for key, code in latest.items() if code not in codes.NO_MARK}


def _category(code: str) -> codes.Category | None:
    """The code's category, or None for a code not in the table (the importers refuse those)."""
    entry = codes.code_table().get(code)
    return entry.category if entry else None


def summarise(
    marks: Iterable[MarkFact],
    *,
    start: date,
    end: date,
    on_roll_from: date,
    on_roll_to: date | None,
    born: date,
    session_minutes: int,
) -> AttendanceSummary:
    """Count one pupil's marks in [start, end] that fall while the pupil was on roll.

    Marks before the starting day or after the leaving day are ignored, as are
    marks on Year 11 study leave (`on_study_leave`, by the pupil's birthday
    `born`) and codes outside the table: the DfE counts none of them, and
    `pupils.selectors.school_summaries` counts the same way. If two facts name
    the same session, the later one counts (a correction). Raises nothing.
    """
    counts = dict.fromkeys(
        (
            "present",
            "aea",
            "authorised",
            "unauthorised",
            "late_before_close",
            "late_after_close",
            "unexplained",
            "illness",
            "holiday",
            "not_possible",
        ),
        0,
    )
    by_category = {
        codes.Category.PRESENT: "present",
        codes.Category.AEA: "aea",
        codes.Category.AUTHORISED: "authorised",
        codes.Category.UNAUTHORISED: "unauthorised",
        codes.Category.NOT_POSSIBLE: "not_possible",
    }
    for (day, _session), code in _latest(marks).items():
        if not (start <= day <= end and on_roll(day, on_roll_from, on_roll_to)) or on_study_leave(day, born):
            continue
        category = _category(code)
        if category is None:
            continue
        counts[by_category[category]] += 1
        if code == codes.LATE_BEFORE_CLOSE:
            counts["late_before_close"] += 1
        elif code == codes.LATE_AFTER_CLOSE:
            counts["late_after_close"] += 1
        elif code == codes.UNEXPLAINED:
            counts["unexplained"] += 1
        elif code == codes.ILLNESS:
            counts["illness"] += 1
        if code in codes.HOLIDAY_CODES:
            counts["holiday"] += 1
    return AttendanceSummary(session_minutes=session_minutes, **counts)


def unauthorised_in_school_weeks(
    marks: Iterable[MarkFact],
    *,
    calendar: SchoolCalendar,
    as_of: date,
    weeks: int = codes.PENALTY_WEEKS,
    on_roll_from: date,
    on_roll_to: date | None,
) -> int:
    """Sessions coded G, N, O or U (codes.PENALTY_CODES) in the last `weeks` school weeks up to `as_of`.

    This is the penalty-notice threshold count (10 sessions in a rolling 10
    school weeks). A school week is a Monday-to-Sunday week with at least one
    school day; weeks of holiday are skipped, so the window reaches back past
    half-terms and into the previous school year (`calendar.school_weeks_back`).
    Only sessions while the pupil was on roll count. Raises nothing.
    """
    start, end = calendar.school_weeks_back(as_of, weeks)
    return sum(
        1
        for (day, _session), code in _latest(marks).items()
        if code in codes.PENALTY_CODES and start <= day <= end and on_roll(day, on_roll_from, on_roll_to)
    )


def consecutive_days_absent(
    marks: Iterable[MarkFact],
    *,
    calendar: SchoolCalendar,
    as_of: date,
    on_roll_from: date,
    on_roll_to: date | None,
    unauthorised: bool = False,
) -> tuple[int, date | None]:
    """The current run of whole school days absent, and the run's first day: (0, None) if there is none.

    With `unauthorised`, the current run of whole school days of unauthorised
    absence (the local authority's "10 or more consecutive school days"): a
    day with any possible session attended or authorised ends it.

    Walks back through the calendar's school days from `as_of`. A day counts
    only through its possible sessions (codes.POSSIBLE):

    - every possible session that day is an absence (authorised or
      unauthorised, L excepted, U included): the day extends the run;
    - any possible session attended (present, L, or AEA): the run stops;
    - no possible session that day (no marks yet, '#' closure, D, X, Y, Q,
      Z, or the pupil not on roll): the day is skipped, neither breaking nor
      extending the run. So the run "ends at the latest school day on or
      before `as_of` that has possible marks", and a one-day closure or an
      unmarked day in the middle of an absence does not reset the count.

    Decision where the guidance is silent: days the calendar says are not
    school days (weekends, holidays) are never counted, even if marks exist
    for them; a calendar out of step with the register should be corrected.
    The walk stops at the start of the calendar or of the enrolment.
    Raises nothing.
    """
    by_day: dict[date, list[str]] = {}
    for (day, _session), code in _latest(marks).items():
        if day <= as_of and code in POSSIBLE_CODES and on_roll(day, on_roll_from, on_roll_to):
            by_day.setdefault(day, []).append(code)
    if not by_day:
        return 0, None
    earliest = min(by_day)
    run = 0
    first: date | None = None
    day: date | None = as_of if calendar.is_school_day(as_of) else calendar.previous_school_day(as_of)
    while day is not None and day >= earliest:
        day_codes = by_day.get(day)
        if day_codes:
            if not (is_day_unauthorised(day_codes) if unauthorised else is_day_absent(day_codes)):
                break
            run += 1
            first = day
        day = calendar.previous_school_day(day)
    return run, first


# --- figures as people read them ----------------------------------------------------------


def number_text(value: Decimal | int, places: int = 1) -> str:
    """A number to at most `places` decimals, halves up, without trailing zeros: 7, 7.5, 9.75."""
    quantum = Decimal(1).scaleb(-places)
    text = f"{Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def hours_text(hours: Decimal) -> str:
    """Hours of lost learning as printed: 45.5, 9.75, 39."""
    return number_text(hours, 2)


def pct_as_printed(pct: Decimal | None) -> Decimal | None:
    """A percentage as every page and letter shows it: one decimal place, halves up (as DfE prints them).

    The nightly figures are stored this way, so a page that shows a stored
    figure and one that works it out from the register never differ by a
    second rounding (85.246 is 85.2 everywhere, not 85.25 stored and 85.3 shown).
    """
    return None if pct is None else pct.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
