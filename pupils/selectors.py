"""Reusable read queries for pupils and their attendance. Never write.

The attendance counts here are the set-based twin of `pupils.statistics`:
one grouped query per school, counting the same categories from the same
code table (`pupils.codes`), so `school_summaries(...)[pupil.pk]` equals
`statistics.summarise(...)` over that pupil's marks. Plain `COUNT(*) FILTER`
aggregates (emulated with CASE on SQLite) keep it portable between SQLite
and PostgreSQL.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Count, F, FilteredRelation, Q, QuerySet
from django.db.models.functions import TruncWeek

from . import codes
from . import statistics as stats
from .models import Pupil, School

#: The name of the filtered join from a pupil to its marks in the window.
_WINDOW = "window_marks"


def _count_conditions() -> dict[str, Q]:
    """Each count field of AttendanceSummary, and the condition on a joined mark that counts towards it."""
    code = f"{_WINDOW}__code"
    return {
        "present": Q(**{f"{code}__in": sorted(stats.PRESENT_CODES)}),
        "aea": Q(**{f"{code}__in": sorted(stats.AEA_CODES)}),
        "authorised": Q(**{f"{code}__in": sorted(stats.AUTHORISED_CODES)}),
        "unauthorised": Q(**{f"{code}__in": sorted(stats.UNAUTHORISED_CODES)}),
        "late_before_close": Q(**{code: codes.LATE_BEFORE_CLOSE}),
        "late_after_close": Q(**{code: codes.LATE_AFTER_CLOSE}),
        "unexplained": Q(**{code: codes.UNEXPLAINED}),
        "illness": Q(**{code: codes.ILLNESS}),
        "holiday": Q(**{f"{code}__in": sorted(codes.HOLIDAY_CODES)}),
        "not_possible": Q(**{f"{code}__in": sorted(stats.NOT_POSSIBLE_CODES)}),
    }


def pupils_on_roll(*, school: School, on: date) -> QuerySet[Pupil]:
    """Pupils on the school's roll on the day `on` (starting and leaving days included)."""
    return pupils_on_roll_between(school=school, start=on, end=on)


def pupils_on_roll_between(*, school: School, start: date, end: date) -> QuerySet[Pupil]:
    """Pupils on the school's roll on at least one day of [start, end]."""
    return Pupil.objects.filter(school=school, start_on__lte=end).filter(
        Q(leaving_on__isnull=True) | Q(leaving_on__gte=start)
    )


def _marks_in_window(*, school: School, start: date, end: date) -> QuerySet[Pupil]:
    """Pupils on roll in the window, each LEFT JOINed to its marks in the window while on roll.

    The conditions sit in the join (a FilteredRelation), not in WHERE, so a
    pupil with no counted marks still comes back, with zero counts.
    """
    return pupils_on_roll_between(school=school, start=start, end=end).annotate(
        **{
            _WINDOW: FilteredRelation(
                "marks",
                condition=Q(marks__date__gte=start, marks__date__lte=end)
                & Q(marks__date__gte=F("start_on"))
                & (Q(leaving_on__isnull=True) | Q(marks__date__lte=F("leaving_on"))),
            )
        }
    )


def _summary_from_row(row: dict[str, Any], session_minutes: int) -> stats.AttendanceSummary:
    return stats.AttendanceSummary(
        session_minutes=session_minutes,
        **{name: int(row[name] or 0) for name in _count_conditions()},
    )


def school_summaries(*, school: School, start: date, end: date) -> dict[int, stats.AttendanceSummary]:
    """Every pupil on roll at any time in [start, end], by id, with their attendance summary.

    One grouped query. Each pupil's marks count only between their starting
    and leaving days (both included); pupils with no marks get zero summaries.
    Codes outside the table are not counted. Raises nothing.
    """
    rows = (
        _marks_in_window(school=school, start=start, end=end)
        .values("pk")
        .annotate(**{name: Count(f"{_WINDOW}__pk", filter=cond) for name, cond in _count_conditions().items()})
        .order_by()
    )
    return {row["pk"]: _summary_from_row(row, school.session_minutes) for row in rows}


def school_weekly_counts(*, school: School, start: date, end: date) -> dict[int, dict[date, stats.AttendanceSummary]]:
    """Per pupil on roll in [start, end], their summary for each Monday-to-Sunday week, keyed by the Monday.

    One grouped query, the same counting as `school_summaries`, so a pupil's
    weeks add up to their window summary. Weeks in which a pupil has no
    counted mark are absent from that pupil's dict (treat them as zero); a
    pupil with no counted marks at all maps to an empty dict. The first and
    last weeks hold only the days inside the window. Raises nothing.
    """
    rows = (
        _marks_in_window(school=school, start=start, end=end)
        .annotate(week=TruncWeek(f"{_WINDOW}__date"))
        .values("pk", "week")
        .annotate(**{name: Count(f"{_WINDOW}__pk", filter=cond) for name, cond in _count_conditions().items()})
        .order_by()
    )
    result: dict[int, dict[date, stats.AttendanceSummary]] = {}
    for row in rows:
        weeks = result.setdefault(row["pk"], {})
        if row["week"] is not None:  # the LEFT JOIN's row for a pupil with no marks
            weeks[row["week"]] = _summary_from_row(row, school.session_minutes)
    return result
