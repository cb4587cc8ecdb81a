"""School calendars: half-terms, school days and school weeks. Plain Python.

A school day is a weekday inside a half-term. A school week is a Monday-to-
Sunday week with at least one school day (the penalty-notice framework's
definition). Closures inside a half-term (INSET days, polling days) are marked
`#` in the register and so never count as possible sessions.
"""

from __future__ import annotations

import bisect
import csv
import functools
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

TERMS = ("autumn", "spring", "summer")


def academic_year_start(day: date) -> int:
    """The calendar year an academic year starts in (data years run 1 August to 31 July)."""
    return day.year if day.month >= 8 else day.year - 1


def academic_year_name(start_year: int) -> str:
    return f"{start_year}/{(start_year + 1) % 100:02d}"


def term_for(start: date) -> str:
    if start.month >= 8:
        return "autumn"
    return "spring" if start.month <= 3 else "summer"


def long_date(day: date) -> str:
    """A day as messages name it: "Saturday 22 November 2025"."""
    return f"{day:%A} {day.day} {day:%B %Y}"


#: Why a day has no school (`SchoolCalendar.closed_reason`).
WEEKEND, HOLIDAY = "weekend", "holiday"


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True, order=True)
class HalfTermDates:
    start: date
    end: date
    name: str = field(compare=False)

    @property
    def term(self) -> str:
        return term_for(self.start)

    @property
    def academic_year(self) -> int:
        return academic_year_start(self.start)


@dataclass(frozen=True)
class SchoolCalendar:
    half_terms: tuple[HalfTermDates, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.half_terms))
        object.__setattr__(self, "half_terms", ordered)
        object.__setattr__(self, "_starts", [h.start for h in ordered])

    # --- days -------------------------------------------------------------
    def half_term_of(self, day: date) -> HalfTermDates | None:
        """The half-term containing `day`, or None in a holiday."""
        i = bisect.bisect_right(self._starts, day) - 1  # type: ignore[attr-defined]
        if i >= 0 and self.half_terms[i].end >= day:
            return self.half_terms[i]
        return None

    def current_half_term(self, day: date) -> HalfTermDates | None:
        """The half-term containing `day` or, in a holiday, the one just ended."""
        i = bisect.bisect_right(self._starts, day) - 1  # type: ignore[attr-defined]
        return self.half_terms[i] if i >= 0 else None

    def is_school_day(self, day: date) -> bool:
        return day.weekday() < 5 and self.half_term_of(day) is not None

    def register_day_problem(self, day: date, *, today: date) -> str:
        """Why no register mark can be recorded for `day`, or "" when one can.

        A mark records a session that happened: a school day, today or earlier.
        Not a weekend, not outside the school's term dates (a school open on a
        day its term dates miss needs the term dates corrected first), not a
        day still to come. Closures inside a term are school days marked `#`.
        In an academic year the calendar holds no term dates for (older
        history), any weekday that has come may be marked.
        """
        when = long_date(day)
        if day > today:
            return f"{when} is still to come: marks are recorded on the day or after it"
        closed = self.closed_reason(day)
        if closed == WEEKEND:
            return f"{when} is a weekend, not a school day"
        if closed == HOLIDAY:
            return (
                f"{when} is outside the school's term dates, not a school day"
                " (if the school was open, correct its term dates first)"
            )
        return ""

    def closed_reason(self, day: date) -> str:
        """WEEKEND, HOLIDAY (outside the term dates of a year the calendar holds), or "" for a day with school.

        A weekday in an academic year the calendar holds no term dates for is
        not called a holiday: older history may predate the calendar.
        """
        if day.weekday() >= 5:
            return WEEKEND
        if self.half_term_of(day) is None and self.knows_year_of(day):
            return HOLIDAY
        return ""

    def knows_year_of(self, day: date) -> bool:
        """Does the calendar hold term dates for `day`'s academic year? (History from older years may predate it.)"""
        year = academic_year_start(day)
        return any(h.academic_year == year for h in self.half_terms)

    def school_days(self, start: date, end: date) -> Iterator[date]:
        day = start
        while day <= end:
            if self.is_school_day(day):
                yield day
            day += timedelta(days=1)

    def add_school_days(self, day: date, n: int) -> date:
        """The school day `n` school days after `day` (n=0: `day` itself if a school day, else the next)."""
        current = day
        if n == 0:
            while not self.is_school_day(current) and current <= self._last_day:
                current += timedelta(days=1)
            return current
        count = 0
        while count < n:
            current += timedelta(days=1)
            if current > self._last_day:
                # Past the calendar's end: count weekdays so due dates still exist.
                if current.weekday() < 5:
                    count += 1
                continue
            if self.is_school_day(current):
                count += 1
        return current

    def register_day(self, today: date) -> date:
        """The day the morning's pages show: today on a school day, else the last school day before it."""
        if self.is_school_day(today):
            return today
        return self.previous_school_day(today) or today

    def previous_school_day(self, day: date) -> date | None:
        if not self.half_terms:
            return None
        current = day - timedelta(days=1)
        while current >= self._first_day:
            if self.is_school_day(current):
                return current
            current -= timedelta(days=1)
        return None

    @property
    def _first_day(self) -> date:
        return self.half_terms[0].start if self.half_terms else date.min

    @property
    def _last_day(self) -> date:
        return self.half_terms[-1].end if self.half_terms else date.min

    # --- windows ----------------------------------------------------------
    def academic_year_window(self, day: date) -> tuple[date, date]:
        year = academic_year_start(day)
        terms = [h for h in self.half_terms if h.academic_year == year]
        start = terms[0].start if terms else date(year, 9, 1)
        return start, day

    def term_window(self, day: date) -> tuple[date, date]:
        current = self.current_half_term(day)
        if current is None:
            return self.academic_year_window(day)
        same_term = [h for h in self.half_terms if h.academic_year == current.academic_year and h.term == current.term]
        return same_term[0].start, day

    def half_term_window(self, day: date) -> tuple[date, date]:
        current = self.current_half_term(day)
        if current is None:
            return self.academic_year_window(day)
        return current.start, day

    def school_weeks_back(self, day: date, weeks: int) -> tuple[date, date]:
        """The window covering the last `weeks` school weeks up to `day`, `day`'s own week included.

        Weeks before the calendar's first term count as the England default
        calendar has them (`is_school_week`), for up to a year before it.
        """
        monday = monday_of(day)
        found = 0
        start = monday
        while found < weeks and monday >= self._walk_back_limit:
            if self.is_school_week(monday):
                found += 1
                start = monday
            monday -= timedelta(days=7)
        return start, day

    def school_weeks_since(self, since: date, day: date) -> int:
        """School weeks begun after `since`'s week, up to and including `day`'s: a holiday adds none.

        With no holidays between, this is at least the whole weeks from `since` to `day`.
        A week in an academic year the calendar holds no term dates for (a new
        year not yet entered) is judged by the England default calendar, so the
        count does not stop while the school catches up with its term dates.
        """
        count, monday = 0, monday_of(since) + timedelta(days=7)
        while monday <= day:
            friday = monday + timedelta(days=4)
            known = self if self.knows_year_of(friday) else _england_default_calendar(academic_year_start(friday))
            count += known.is_school_week(monday)
            monday += timedelta(days=7)
        return count

    def is_school_week(self, monday: date) -> bool:
        """Whether the week from `monday` had a school day ("a week with at least one session").

        A week before the calendar's first term is judged by the England
        default calendar for its year: a school whose calendar starts this
        September may hold last year's marks, and a rolling window (the
        penalty rule's 10 school weeks) reaches back into them across the
        summer, not over it as if the holiday were school weeks, nor stopping short.
        """
        days = [monday + timedelta(days=i) for i in range(5)]
        if not self.half_terms or days[-1] >= self._first_day:
            return any(self.is_school_day(d) for d in days)
        before = _england_default_calendar(academic_year_start(monday))
        return any(before.is_school_day(d) for d in days)

    @property
    def _walk_back_limit(self) -> date:
        """How far back a walk over school weeks goes: a year before the calendar's first term."""
        return self._first_day - timedelta(days=371) if self.half_terms else date.max  # no terms: no school weeks

    def week_ends_back(self, day: date, weeks: int) -> list[date]:
        """The last day of each of the last `weeks` school weeks up to `day`, newest first.

        The newest is `day` itself; earlier ones are the Sundays closing each earlier school week.
        """
        ends = [day]
        monday = monday_of(day) - timedelta(days=7)
        while len(ends) < weeks and monday >= self._walk_back_limit:
            if self.is_school_week(monday):
                ends.append(monday + timedelta(days=6))
            monday -= timedelta(days=7)
        return ends


# --- England default and CSV ---------------------------------------------


def easter_sunday(year: int) -> date:
    """Gregorian Easter (the anonymous algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def last_monday_of_may(year: int) -> date:
    """The late-May bank holiday as the calendar has it (the spring bank holiday, unless moved that year)."""
    return _weekday_on_or_before(date(year, 5, 31), 0)


def _weekday_on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def _weekday_on_or_before(day: date, weekday: int) -> date:
    return day - timedelta(days=(day.weekday() - weekday) % 7)


def england_default_half_terms(start_year: int) -> list[HalfTermDates]:
    """A typical English state-school year, used when a school gives no calendar.

    Autumn starts on the first weekday on or after 2 September; October half-term
    is the week of the last Monday in October; Christmas from the Friday on or
    before 19 December; spring from the first Monday on or after 4 January;
    February half-term the week of the third Monday; Easter two weeks from the
    Monday before Easter Sunday; summer half-term the week of the late-May bank
    holiday; the year ends on the last weekday on or before 22 July.
    """
    y, n = start_year, start_year + 1
    first = date(y, 9, 2)
    while first.weekday() >= 5:
        first += timedelta(days=1)
    october_break = _weekday_on_or_before(date(y, 10, 31), 0)
    christmas_end = _weekday_on_or_before(date(y, 12, 19), 4)
    spring_start = _weekday_on_or_after(date(n, 1, 4), 0)
    february_break = _weekday_on_or_after(date(n, 2, 1), 0) + timedelta(days=14)
    easter = easter_sunday(n)
    easter_break = easter - timedelta(days=6)
    may_bank_holiday = last_monday_of_may(n)
    summer_end = date(n, 7, 22)
    while summer_end.weekday() >= 5:
        summer_end -= timedelta(days=1)
    week = timedelta(days=7)
    return [
        HalfTermDates(first, october_break - timedelta(days=3), "Autumn 1"),
        HalfTermDates(october_break + week, christmas_end, "Autumn 2"),
        HalfTermDates(spring_start, february_break - timedelta(days=3), "Spring 1"),
        HalfTermDates(february_break + week, easter_break - timedelta(days=3), "Spring 2"),
        HalfTermDates(easter_break + 2 * week, may_bank_holiday - timedelta(days=3), "Summer 1"),
        HalfTermDates(may_bank_holiday + week, summer_end, "Summer 2"),
    ]


@functools.lru_cache(maxsize=16)
def _england_default_calendar(start_year: int) -> SchoolCalendar:
    return SchoolCalendar(tuple(england_default_half_terms(start_year)))


@dataclass(frozen=True)
class CalendarProblem:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def parse_date(raw: str) -> date:
    """A date written YYYY-MM-DD or, as English spreadsheets do, DD/MM/YYYY. Raises ValueError."""
    text = raw.strip()
    match = _DMY.match(text)
    if match:
        day, month, year = (int(g) for g in match.groups())
        return date(year, month, day)
    if len(text) != 10:
        raise ValueError(text)
    return date.fromisoformat(text)


def date_problem(raw: str) -> str:
    """What is wrong with a date `parse_date` refused, in words for the person who typed it."""
    if not raw.strip():
        return "a date is required"
    return f"{raw.strip()!r} is not a date (write YYYY-MM-DD or DD/MM/YYYY)"


def parse_calendar_csv(text: str) -> tuple[list[HalfTermDates], list[CalendarProblem]]:
    """Read `name,start,end` rows (one per half-term). Returns the half-terms or the problems."""
    problems: list[CalendarProblem] = []
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("name", "start", "end") if c not in header]
    if missing:
        return [], [CalendarProblem(1, c, "required column is missing") for c in missing]
    reader.fieldnames = header
    result: list[HalfTermDates] = []
    rows: dict[HalfTermDates, int] = {}  # each half-term's row in the file
    for number, row in enumerate(reader, start=2):
        name = (row.get("name") or "").strip()
        parsed: dict[str, date] = {}
        for column in ("start", "end"):
            raw = row.get(column) or ""
            try:
                parsed[column] = parse_date(raw)
            except ValueError:
                problems.append(CalendarProblem(number, column, date_problem(raw)))
        if not name:
            problems.append(CalendarProblem(number, "name", "a half-term needs a name"))
        if len(parsed) == 2:
            if parsed["end"] < parsed["start"]:
                problems.append(CalendarProblem(number, "end", "the half-term ends before it starts"))
            else:
                result.append(HalfTermDates(parsed["start"], parsed["end"], name))
                rows[result[-1]] = number
    ordered = sorted(result)
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        if later.start <= earlier.end:
            problems.append(
                CalendarProblem(
                    rows[later],
                    "start",
                    f"{later.name} overlaps {earlier.name} (row {rows[earlier]}), which ends {earlier.end:%-d %b %Y}",
                )
            )
    if not result and not problems:
        problems.append(CalendarProblem(2, "name", "the file has no half-terms"))
    return ordered, problems


def calendar_from(half_terms: Iterable[HalfTermDates]) -> SchoolCalendar:
    return SchoolCalendar(tuple(half_terms))
