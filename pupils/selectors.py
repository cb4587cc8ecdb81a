"""Reusable read queries for pupils and their attendance. Never write.

The attendance counts here are the set-based twin of `pupils.statistics`:
one grouped query per school, counting the same categories from the same
code table (`pupils.codes`), so `school_summaries(...)[pupil.pk]` equals
`statistics.summarise(...)` over that pupil's marks. Plain `COUNT(*) FILTER`
aggregates (emulated with CASE on SQLite) keep it portable between SQLite
and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    When,
)
from django.db.models.functions import TruncWeek

from . import codes
from . import statistics as stats
from .models import (
    AttendanceMark,
    Contact,
    Flag,
    HalfTerm,
    ImportBatch,
    MarkChange,
    Pupil,
    RegistrationGroup,
    School,
    StaffMembership,
)
from .services import school_calendar

#: The name of the filtered join from a pupil to its marks in the window.
_WINDOW = "window_marks"


def _count_conditions() -> dict[str, Q]:
    """Each count field of AttendanceSummary, and the condition on a joined mark that counts towards it."""
    return {name: Q(**{f"{_WINDOW}__code__in": sorted(codes)}) for name, codes in stats.COUNTED_CODES.items()}


def pupils_on_roll(*, school: School, on: date) -> QuerySet[Pupil]:
    """Pupils on the school's roll on the day `on` (starting and leaving days included)."""
    return pupils_on_roll_between(school=school, start=on, end=on)


def pupils_on_roll_between(*, school: School, start: date, end: date) -> QuerySet[Pupil]:
    """Pupils on the school's roll on at least one day of [start, end]."""
    return Pupil.objects.filter(on_roll_between(start, end), school=school)


def on_roll_between(start: date, end: date) -> Q:
    """A pupil on roll on at least one day of [start, end]: joined by its end, not left before its start."""
    return Q(start_on__lte=end) & (Q(leaving_on__isnull=True) | Q(leaving_on__gte=start))


def on_study_leave(*, start: date, end: date, mark: str = "", pupil: str = "") -> Q:
    """Marks in [start, end] that the DfE removes as Year 11 study leave (`statistics.study_leave_periods`).

    `mark` and `pupil` are the lookups' prefixes from the query's model to the
    mark and to its pupil ("" for the model itself), e.g. `mark="marks__"` from a pupil.
    """
    removed = Q(pk__in=[])
    for period in stats.study_leave_periods(start, end):
        removed |= Q(
            **{
                f"{mark}date__gte": period.first,
                f"{mark}date__lte": period.last,
                f"{pupil}date_of_birth__gte": period.born_from,
                f"{pupil}date_of_birth__lte": period.born_to,
            }
        )
    return removed


def _marks_in_window(*, school: School, start: date, end: date) -> QuerySet[Pupil]:
    """Pupils on roll in the window, each LEFT JOINed to its marks in the window while on roll.

    The conditions sit in the join (a FilteredRelation), not in WHERE, so a
    pupil with no counted marks still comes back, with zero counts. Marks on
    Year 11 study leave are left out, as `statistics.summarise` leaves them out.
    """
    condition = (
        Q(marks__date__gte=start, marks__date__lte=end)
        & Q(marks__date__gte=F("start_on"))
        & (Q(leaving_on__isnull=True) | Q(marks__date__lte=F("leaving_on")))
    )
    if stats.study_leave_periods(start, end):
        condition &= ~on_study_leave(start=start, end=end, mark="marks__")
    return pupils_on_roll_between(school=school, start=start, end=end).annotate(
        **{_WINDOW: FilteredRelation("marks", condition=condition)}
    )


def _summary_from_row(row: dict[str, Any], session_minutes: int) -> stats.AttendanceSummary:
    return stats.AttendanceSummary(
        session_minutes=session_minutes,
        **{name: int(row[name] or 0) for name in _count_conditions()},
    )


def school_summaries(
    *, school: School, start: date, end: date, pupil_ids: Iterable[int] | None = None
) -> dict[int, stats.AttendanceSummary]:
    """Every pupil on roll at any time in [start, end] (or those of `pupil_ids`), by id, with their summary.

    One grouped query. Each pupil's marks count only between their starting
    and leaving days (both included); pupils with no marks get zero summaries.
    Codes outside the table are not counted. Raises nothing.
    """
    pupils = _marks_in_window(school=school, start=start, end=end)
    if pupil_ids is not None:
        pupils = pupils.filter(pk__in=list(pupil_ids))
    rows = (
        pupils.values("pk")
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


# --- the office: imports, the register grid, the first-day calls ---------------------


def import_batch_list(*, school: School) -> QuerySet[ImportBatch]:
    """The school's imports, newest first, with who made them."""
    return ImportBatch.objects.filter(school=school).select_related("created_by").order_by("-created_at", "-pk")


def staff_of(*, school: School) -> QuerySet[StaffMembership]:
    """Everyone's roles at the school, by role then name, with their logins and classes: two queries."""
    role_order = Case(
        *(When(role=value, then=n) for n, value in enumerate(StaffMembership.Role.values)), output_field=IntegerField()
    )
    return (
        StaffMembership.objects.filter(school=school)
        .select_related("user")
        .prefetch_related(Prefetch("classes", queryset=RegistrationGroup.objects.order_by("name")))
        .order_by(role_order, "user__last_name", "user__first_name", "user__username")
    )


def term_dates(*, school: School, on: date) -> QuerySet[HalfTerm]:
    """The half-terms of the school year `on` falls in, and of any later year the school has dates for."""
    return (
        HalfTerm.objects.filter(school=school, academic_year__end_on__gte=on)
        .select_related("academic_year")
        .order_by("start_on")
    )


def registration_group_list(*, school: School) -> QuerySet[RegistrationGroup]:
    """The school's classes youngest first (Reception before Year 1), by name within a year."""
    return RegistrationGroup.objects.filter(school=school).order_by(
        F("year_group__position").asc(nulls_last=True), "name"
    )


@dataclass(frozen=True)
class RegisterCell:
    """One pupil's one session in the register grid."""

    pupil_id: int
    day: date
    session: int
    code: str  # "" when there is no mark yet
    css: str  # the colour: mark-<category>, or mark-none
    meaning: str  # what the code means, in words
    corrected: bool  # the mark has history: corrected by hand or by a later import
    on_roll: bool  # only sessions while the pupil is on roll can be marked
    day_problem: str  # why no mark can be recorded that day (a weekend, a holiday, still to come), or ""

    @property
    def session_name(self) -> str:
        return AttendanceMark.Session(self.session).label

    @property
    def key(self) -> str:
        """Unique in the page: for element ids."""
        return f"{self.pupil_id}-{self.day:%Y%m%d}-{self.session}"


@dataclass(frozen=True)
class RegisterDay:
    day: date
    is_school_day: bool


@dataclass(frozen=True)
class RegisterWeek:
    group: RegistrationGroup
    monday: date
    days: list[RegisterDay]
    #: Each pupil on roll at some time in the week, with ten cells (Monday AM to Friday PM).
    rows: list[tuple[Pupil, list[RegisterCell]]]

    @property
    def friday(self) -> date:
        return self.monday + timedelta(days=4)


def register_cell(
    *, pupil: Pupil, day: date, session: int, code: str, corrected: bool = False, day_problem: str = ""
) -> RegisterCell:
    """A cell as the grid shows it: the code's colour and meaning come from `pupils.codes`."""
    known = codes.code_table().get(code)
    if not code:
        css, meaning = "mark-none", "no mark yet"
    elif known is None:
        css, meaning = "mark-none", "not a code in the DfE table"
    else:
        css, meaning = f"mark-{known.category.value}", known.description
    on_roll = pupil.start_on <= day and (pupil.leaving_on is None or day <= pupil.leaving_on)
    return RegisterCell(pupil.pk, day, session, code, css, meaning, corrected, on_roll, day_problem)


def register_week(*, school: School, group: RegistrationGroup, monday: date, today: date) -> RegisterWeek:
    """A class's register for the Monday-to-Friday week starting `monday`, in three queries whatever its size.

    Every pupil in the class on roll on at least one day of the week, by name;
    each with ten cells, the sessions' marks (or no mark yet) and whether a
    mark has history.
    """
    friday = monday + timedelta(days=4)
    calendar = school_calendar(school)
    pupils = list(
        pupils_on_roll_between(school=school, start=monday, end=friday)
        .filter(registration_group=group)
        .order_by("surname", "forename", "pk")
    )
    marks = (
        AttendanceMark.objects.filter(
            pupil__school=school, pupil__registration_group=group, date__gte=monday, date__lte=friday
        )
        .annotate(corrected=Exists(MarkChange.objects.filter(mark=OuterRef("pk"))))
        .values_list("pupil_id", "date", "session", "code", "corrected")
    )
    by_slot = {(pupil_id, day, session): (code, corrected) for pupil_id, day, session, code, corrected in marks}
    week = [monday + timedelta(days=i) for i in range(5)]
    problems = {day: calendar.register_day_problem(day, today=today) for day in week}
    days = [RegisterDay(day, calendar.is_school_day(day)) for day in week]
    rows = []
    for pupil in pupils:
        cells = []
        for d in days:
            for session in AttendanceMark.Session.values:
                code, corrected = by_slot.get((pupil.pk, d.day, session), ("", False))
                cells.append(
                    register_cell(
                        pupil=pupil,
                        day=d.day,
                        session=session,
                        code=code,
                        corrected=corrected,
                        day_problem=problems[d.day],
                    )
                )
        rows.append((pupil, cells))
    return RegisterWeek(group=group, monday=monday, days=days, rows=rows)


def mark_with_history(*, pupil: Pupil, day: date, session: int) -> AttendanceMark | None:
    """One session's mark with its earlier values (newest first) and who changed them, or None."""
    history = MarkChange.objects.select_related("changed_by", "batch").order_by("-changed_at", "-pk")
    return (
        AttendanceMark.objects.filter(pupil=pupil, date=day, session=session)
        .select_related("recorded_by", "batch")
        .prefetch_related(Prefetch("history", queryset=history))
        .first()
    )


@dataclass(frozen=True)
class FirstDayCall:
    """A pupil absent with no reason yet (N) on `day`, and who to ring."""

    pupil: Pupil
    day: date
    sessions: list[int]  # the sessions marked N
    contacts: list[Contact]  # in priority order
    school_days_open: int = 0  # school days it has waited since, not counting the day itself

    @property
    def overdue(self) -> bool:
        return reason_overdue(self.school_days_open)

    @property
    def session_names(self) -> str:
        return AttendanceMark.Session.in_words(self.sessions)


#: Pupils absent with no reason, as the office calls them and the dashboard lists them: classes youngest
#: first (as `registration_group_list`), then by name.
FIRST_DAY_ORDER = (
    F("registration_group__year_group__position").asc(nulls_last=True),
    "registration_group__name",
    "surname",
    "forename",
    "pk",
)


def first_day_calls(*, pupils: QuerySet[Pupil], on: date) -> list[FirstDayCall]:
    """Pupils (of those given) marked N on `on`, by class and name, with their contacts and flags. Four queries."""
    unexplained = AttendanceMark.objects.filter(date=on, code=codes.UNEXPLAINED).order_by("session")
    found = (
        pupils.filter(Exists(unexplained.filter(pupil=OuterRef("pk"))))
        .select_related("registration_group")
        .prefetch_related(
            Prefetch("marks", queryset=unexplained, to_attr="unexplained"),
            Prefetch("contacts", queryset=Contact.objects.order_by("priority", "name", "pk")),
            Prefetch("flags", queryset=Flag.objects.order_by("name")),
        )
        .order_by(*FIRST_DAY_ORDER)
    )
    return [
        FirstDayCall(pupil=p, day=on, sessions=[m.session for m in p.unexplained], contacts=list(p.contacts.all()))
        for p in found
    ]


#: The most absences the list of every one still waiting shows at once, oldest first.
WAITING_SHOWN = 200


@dataclass(frozen=True)
class Waiting:
    calls: list[FirstDayCall]  # oldest first, then by class and name
    total: int  # pupil-days waiting, of which `calls` are the first WAITING_SHOWN


def waiting_calls(*, school: School, pupils: QuerySet[Pupil], up_to: date) -> Waiting:
    """Every pupil-day this school year up to `up_to` still marked N, oldest first, with who to ring.

    One list for the office to work through, rather than a page a day. Four queries.
    """
    calendar = school_calendar(school)
    start, _ = calendar.academic_year_window(up_to)
    sessions: dict[tuple[date, int], list[int]] = {}
    for pupil_id, day, session in (
        AttendanceMark.objects.filter(pupil__in=pupils, code=codes.UNEXPLAINED, date__gte=start, date__lte=up_to)
        .order_by("date", "session")
        .values_list("pupil_id", "date", "session")
    ):
        sessions.setdefault((day, pupil_id), []).append(session)
    # In FIRST_DAY_ORDER, as the database sorts it: each day's pupils are listed in this order.
    found = (
        Pupil.objects.filter(pk__in={pupil_id for _, pupil_id in sessions})
        .select_related("registration_group")
        .prefetch_related(
            Prefetch("contacts", queryset=Contact.objects.order_by("priority", "name", "pk")),
            Prefetch("flags", queryset=Flag.objects.order_by("name")),
        )
        .order_by(*FIRST_DAY_ORDER)
    )
    by_id = {p.pk: p for p in found}
    rank = {pupil_id: n for n, pupil_id in enumerate(by_id)}
    waited = {day: days_waited(calendar, day, up_to=up_to) for day, _ in sessions}
    keys = sorted(sessions, key=lambda key: (key[0], rank[key[1]]))  # oldest day first
    calls = [
        FirstDayCall(
            pupil=by_id[pupil_id],
            day=day,
            sessions=sessions[day, pupil_id],
            contacts=list(by_id[pupil_id].contacts.all()),
            school_days_open=waited[day],
        )
        for day, pupil_id in keys[:WAITING_SHOWN]
    ]
    return Waiting(calls, len(keys))


#: How many school days an N may wait for its reason before the office's list says it is late.
N_REASON_SCHOOL_DAYS = 5


def reason_overdue(school_days_open: int) -> bool:
    """Guidance expects an N to be replaced within about five school days."""
    return school_days_open > N_REASON_SCHOOL_DAYS


def days_waited(calendar: Any, day: date, *, up_to: date) -> int:
    """How many school days an N from `day` has waited by `up_to`: not counting `day`, counting `up_to`."""
    return sum(1 for _ in calendar.school_days(day + timedelta(days=1), up_to))


@dataclass(frozen=True)
class UnexplainedDay:
    """A day on which some pupils are still marked N, and how long it has waited for a reason."""

    day: date
    pupils: int
    school_days_open: int  # school days since, not counting the day itself

    @property
    def overdue(self) -> bool:
        return reason_overdue(self.school_days_open)


def unexplained_days(*, school: School, pupils: QuerySet[Pupil], before: date) -> list[UnexplainedDay]:
    """The days this academic year before `before` on which some of these pupils are still marked N, latest first."""
    calendar = school_calendar(school)
    start, _ = calendar.academic_year_window(before)
    rows = (
        AttendanceMark.objects.filter(pupil__in=pupils, code=codes.UNEXPLAINED, date__gte=start, date__lt=before)
        .values("date")
        .annotate(pupils=Count("pupil", distinct=True))
        .order_by("-date")
        .values_list("date", "pupils")
    )
    return [UnexplainedDay(day, count, days_waited(calendar, day, up_to=before)) for day, count in rows]


def register_taken(*, pupils: QuerySet[Pupil], on: date) -> bool:
    """Whether any of these pupils has a mark on `on`: an empty list of absences means nothing until then."""
    return AttendanceMark.objects.filter(pupil__in=pupils, date=on).exists()


@dataclass(frozen=True)
class RegisterProgress:
    """How far the register for a day has come: pupils with a mark, of those on roll that day."""

    marked: int
    on_roll: int

    @property
    def partly_taken(self) -> bool:
        """Some marks are in but not everyone's: an empty list of absences may only mean "not yet"."""
        return 0 < self.marked < self.on_roll


def register_progress(*, pupils: QuerySet[Pupil], on: date) -> RegisterProgress:
    """Of these pupils on roll on `on`, how many have a mark that day. Two counts."""
    on_roll = pupils.filter(on_roll_between(on, on))
    marked = on_roll.filter(Exists(AttendanceMark.objects.filter(pupil=OuterRef("pk"), date=on)))
    return RegisterProgress(marked.count(), on_roll.count())


def unexplained_count(*, pupils: QuerySet[Pupil], on: date) -> int:
    """How many of these pupils are marked N (no reason yet) on `on`."""
    return pupils.filter(
        Exists(AttendanceMark.objects.filter(pupil=OuterRef("pk"), date=on, code=codes.UNEXPLAINED))
    ).count()
