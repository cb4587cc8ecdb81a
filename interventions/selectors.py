"""Reads for the ladder engine: turn a school's register into `PupilFacts`, set-based."""

from __future__ import annotations

import bisect
import copy
import itertools
import operator
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Prefetch, QuerySet, Subquery
from django.utils import timezone

from pupils import codes
from pupils import statistics as stats
from pupils.access import Access, visible_pupils
from pupils.calendar import SchoolCalendar, monday_of
from pupils.flags import held as pupil_flags_held
from pupils.models import AttendanceMark, Flag, Pupil, School, StaffMembership
from pupils.people import person_name
from pupils.selectors import (
    FIRST_DAY_ORDER,
    pupils_on_roll,
    pupils_on_roll_between,
    school_summaries,
    school_weekly_counts,
)
from pupils.services import school_calendar

from .models import (
    ActionCorrection,
    ActionLog,
    Ladder,
    NightlyRun,
    Placement,
    Proposal,
    PupilWeek,
    Referral,
    SchoolWeek,
    Stage,
    StageChange,
    Task,
)
from .rules import (
    COMPULSORY_SCHOOL_AGE,
    RUN_MEASURES,
    CurrentPlacement,
    Evaluator,
    LadderSpec,
    PupilFacts,
    RunningTotals,
    measure,
    only_while_unexplained,
)

#: The running totals of a pupil with no stored weeks.
_NO_WEEKS = RunningTotals((), (), 0)


def ladder_spec(ladder: Ladder) -> LadderSpec:
    from .services import ladder_document  # the document form is built in one place

    return LadderSpec.from_document(ladder_document(ladder))


def _weeks_needed(criterion: Any) -> int:
    """The most school weeks any window or held_for in a criterion tree looks back."""
    if not criterion:
        return 0
    ((kind, body),) = criterion.items()
    if kind in ("all", "any"):
        return max((_weeks_needed(c) for c in body), default=0)
    if kind == "not":
        return _weeks_needed(body)
    if kind == "held_for":
        return int(body["weeks"]) + _weeks_needed(body["criterion"])
    if isinstance(body, dict) and isinstance(body.get("window"), dict):
        return int(body["window"]["weeks"])
    return 0


@dataclass
class SchoolFacts:
    """A school's pupils on roll on `as_of`, each pupil's facts, and its calendar."""

    as_of: date
    calendar: SchoolCalendar
    pupils: list[Pupil]
    facts: dict[int, PupilFacts]

    def year_to_date(self, pupil_id: int, spec: LadderSpec) -> Decimal | None:
        evaluator = Evaluator(self.facts[pupil_id], self.calendar, self.as_of, spec.min_possible, None)
        return evaluator.totals("year").attendance_pct


def facts_window_start(*, spec: LadderSpec, calendar: SchoolCalendar, as_of: date) -> date:
    """The first day whose marks the engine can look at on `as_of`: the year's start, or further back for week windows."""
    weeks_back = max((_weeks_needed(c) for s in spec.stages for c in s.every_criterion), default=0)
    year_start = calendar.academic_year_window(as_of)[0]
    return min(year_start, calendar.school_weeks_back(as_of, weeks_back + 1)[0] if weeks_back else year_start)


def school_facts(*, school: School, spec: LadderSpec, as_of: date) -> SchoolFacts:
    """Everything the engine needs for every pupil on roll on `as_of`, in a fixed number of queries."""
    calendar = school_calendar(school)
    start = facts_window_start(spec=spec, calendar=calendar, as_of=as_of)
    weekly = school_weekly_counts(school=school, start=start, end=as_of)
    return _school_facts_from(school=school, spec=spec, as_of=as_of, calendar=calendar, weekly=weekly)


def _on_roll_with_flags(*, school: School, as_of: date) -> tuple[list[Pupil], dict[int, set[str]]]:
    """Pupils on roll on `as_of` (ordered by UPN), and each one's flag keys, in two light queries."""
    pupils = list(pupils_on_roll(school=school, on=as_of).order_by("upn"))
    flags: dict[int, set[str]] = defaultdict(set)
    on_roll = {p.pk for p in pupils}
    through = Pupil.flags.through.objects.filter(pupil__school=school)  # a join, not a list of every pupil's id
    for pupil_id, key in through.values_list("pupil_id", "flag__key"):
        if pupil_id in on_roll:
            flags[pupil_id].add(key)
    return pupils, flags


def _school_facts_from(
    *,
    school: School,
    spec: LadderSpec,
    as_of: date,
    calendar: SchoolCalendar,
    weekly: Mapping[int, Mapping[date, stats.AttendanceSummary]] | None = None,
    running: Mapping[int, RunningTotals] | None = None,
    on_roll: tuple[list[Pupil], dict[int, set[str]]] | None = None,
) -> SchoolFacts:
    """Each pupil's facts from their weekly counts, or from their running totals (the night's).

    `on_roll` is `_on_roll_with_flags`, if already read.
    """
    pupils, pupil_flags = on_roll or _on_roll_with_flags(school=school, as_of=as_of)
    runs = _absence_runs(school=school, pupils=pupils, calendar=calendar, as_of=as_of)
    contacts = dict(
        ActionLog.objects.filter(school=school, kind__in=ActionLog.FAMILY_CONTACT, occurred_on__lte=as_of)
        .values("pupil_id")
        .annotate(last=Max("occurred_on"))
        .values_list("pupil_id", "last")
    )
    facts: dict[int, PupilFacts] = {}
    for pupil in pupils:
        flags = pupil_flags_held(pupil_flags.get(pupil.pk, ()), sen=pupil.sen)
        if codes.is_compulsory_school_age(pupil.date_of_birth, as_of):
            flags.add(COMPULSORY_SCHOOL_AGE)
        run = runs.get(pupil.pk, _NO_RUN)
        facts[pupil.pk] = PupilFacts(
            pupil_id=pupil.pk,
            weeks=weekly.get(pupil.pk, {}) if weekly is not None else {},
            running=running.get(pupil.pk, _NO_WEEKS) if running is not None else None,
            flags=frozenset(flags),
            absence_run_days=run.days,
            absence_run_started_on=run.started_on,
            unauthorised_run_days=run.unauthorised_days,
            last_family_contact_on=contacts.get(pupil.pk),
        )
    _rank(facts, calendar=calendar, as_of=as_of, min_possible=spec.min_possible)
    return SchoolFacts(as_of=as_of, calendar=calendar, pupils=pupils, facts=facts)


# --- the night's facts, from the stored weekly counts ----------------------------------


def night_facts(*, school: School, spec: LadderSpec, as_of: date, calendar: SchoolCalendar) -> SchoolFacts:
    """`school_facts`, read from the night's stored weekly counts (`PupilWeek`) instead of the register.

    The engine only ever adds up whole weeks between two Mondays that the
    ladder and the calendar fix for `as_of` (`window_cuts`). Weeks between two
    such cuts are always counted together, so they are summed here, in SQL,
    into one bucket keyed by the bucket's first Monday, and the buckets are
    added up as they go (a running total a pupil): every window total the
    engine takes is then one subtraction (`RunningTotals`), and comes out
    exactly as from week-by-week counts. A ladder using a criterion this
    function does not know gets plain weeks. Reads; never writes.
    """
    start = facts_window_start(spec=spec, calendar=calendar, as_of=as_of)
    cuts = window_cuts(spec=spec, calendar=calendar, as_of=as_of)
    pupils, flags = _on_roll_with_flags(school=school, as_of=as_of)
    qn = connection.ops.quote_name
    columns = [qn(PupilWeek._meta.get_field(name).column) for name in PupilWeek.COUNTS]
    if cuts:
        # Each bucket by its number: keys[n] is its first Monday.
        keys = [cuts[0] - timedelta(days=7), *cuts]  # first, the weeks before every window: no window reaches it
        whens = " ".join(f"WHEN week_start < %s THEN {n}" for n in range(len(cuts)))
        bucket, bucket_params = f"CASE {whens} ELSE {len(cuts)} END", list(cuts)
    else:
        bucket, bucket_params = "week_start", []
    # By pupil id, not through a join to pupils: the (pupil, week) index finds a school's rows
    # without reading the whole local authority's. Plain rows, without the ORM's converters.
    # Added up as they go by the database (a window sum a count), ready for RunningTotals.
    pupils_sql, pupils_params = _id_list([pupil.pk for pupil in pupils])
    sums = ", ".join(f"SUM({c}) AS {c}" for c in columns)
    running_sums = ", ".join(f"CAST(SUM({c}) OVER pupil_so_far AS INTEGER)" for c in columns)
    sql = (
        f"SELECT pupil_id, bucket, {running_sums} FROM ("
        f"SELECT pupil_id, {bucket} AS bucket, {sums} FROM {qn(PupilWeek._meta.db_table)} "
        f"WHERE pupil_id {pupils_sql} AND week_start >= %s AND week_start <= %s GROUP BY 1, 2"
        ") AS buckets WINDOW pupil_so_far AS (PARTITION BY pupil_id ORDER BY bucket) ORDER BY 1, 2"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*bucket_params, *pupils_params, monday_of(start), monday_of(as_of)])
        rows = cursor.fetchall()
    mondays: dict[int, list[date]] = defaultdict(list)
    running: dict[int, list[tuple[int, ...]]] = defaultdict(list)
    for row in rows:
        pupil_id, key = row[0], row[1]
        mondays[pupil_id].append(keys[key] if cuts else _as_date(key))
        running[pupil_id].append(row[2:])
    minutes = school.session_minutes
    return _school_facts_from(
        school=school,
        spec=spec,
        as_of=as_of,
        calendar=RememberingCalendar.of(calendar),
        running={pupil_id: RunningTotals(mondays[pupil_id], totals, minutes) for pupil_id, totals in running.items()},
        on_roll=(pupils, flags),
    )


def _id_list(ids: Sequence[int]) -> tuple[str, list[Any]]:
    """SQL for "is one of these ids", and its parameters: one array on PostgreSQL, a list elsewhere."""
    if connection.vendor == "postgresql":
        return "= ANY(%s)", [list(ids)]
    if not ids:
        return "IN (NULL)", []
    return f"IN ({', '.join(['%s'] * len(ids))})", list(ids)


class RememberingCalendar(SchoolCalendar):
    """A SchoolCalendar that remembers its answers: the engine asks the same few questions for every pupil."""

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "_answers", {})

    @classmethod
    def of(cls, calendar: SchoolCalendar) -> RememberingCalendar:
        return calendar if isinstance(calendar, cls) else cls(calendar.half_terms)

    def _remember(self, question: tuple[Any, ...], work: Any) -> Any:
        answers = self.__dict__["_answers"]
        if question not in answers:
            answers[question] = work()
        return answers[question]

    def is_school_day(self, day: date) -> bool:
        return self._remember(("school_day", day), lambda: super(RememberingCalendar, self).is_school_day(day))

    def academic_year_window(self, day: date) -> tuple[date, date]:
        return self._remember(("year", day), lambda: super(RememberingCalendar, self).academic_year_window(day))

    def term_window(self, day: date) -> tuple[date, date]:
        return self._remember(("term", day), lambda: super(RememberingCalendar, self).term_window(day))

    def half_term_window(self, day: date) -> tuple[date, date]:
        return self._remember(("half_term", day), lambda: super(RememberingCalendar, self).half_term_window(day))

    def school_weeks_back(self, day: date, weeks: int) -> tuple[date, date]:
        return self._remember(
            ("weeks_back", day, weeks), lambda: super(RememberingCalendar, self).school_weeks_back(day, weeks)
        )

    def week_ends_back(self, day: date, weeks: int) -> list[date]:
        ends = self._remember(
            ("week_ends", day, weeks), lambda: tuple(super(RememberingCalendar, self).week_ends_back(day, weeks))
        )
        return list(ends)


def window_cuts(*, spec: LadderSpec, calendar: SchoolCalendar, as_of: date) -> list[date] | None:
    """Every Monday where a window the engine (or the night's figures) adds up on `as_of` starts or stops.

    A window over weeks [F, L] contributes the cuts F and L + 7 days. Returns
    them sorted, or None if the ladder uses a criterion not known here (then
    nothing may be merged).
    """
    probe = Evaluator.probe(calendar, as_of, spec.min_possible)
    used: set[tuple[Any, date]] = set()

    def walk(criterion: Any, ends: list[date]) -> bool:
        if not criterion:
            return True
        ((kind, body),) = criterion.items()
        if kind in ("all", "any"):
            return all(walk(child, ends) for child in body)
        if kind == "not":
            return walk(body, ends)
        if kind == "attendance" or (kind == "count" and body.get("measure") not in RUN_MEASURES):
            used.update(probe.window(body.get("window"), end) for end in ends)
            return True
        if kind == "held_for":
            return all(walk(body["criterion"], calendar.week_ends_back(end, int(body["weeks"]))) for end in ends)
        if kind == "at_stage_for":
            used.update(probe.window("year", end) for end in ends)
            return True
        if kind == "bottom_percent":
            used.add(probe.window("year", as_of))
            return True
        return kind in ("flag", "no_contact", "manual", "count")

    if not all(walk(criterion, [as_of]) for stage in spec.stages for criterion in stage.every_criterion):
        return None
    # The night's own figures and ranks: the year to date, the year TREND_WEEKS ago, the half-term,
    # and this week alone (the weekly chart's newest week, `this_week_figures`).
    used.add(probe.window("year", as_of))
    used.add(probe.window("half_term", as_of))
    used.add((monday_of(as_of), as_of))
    week_ends = calendar.week_ends_back(as_of, TREND_WEEKS + 1)
    if len(week_ends) > TREND_WEEKS:
        used.add(probe.window("year", week_ends[-1]))
    cuts: set[date] = set()
    for first, last in used:
        cuts.add(monday_of(first))
        cuts.add(monday_of(last) + timedelta(days=7))
    return sorted(cuts)


def _rank(facts: dict[int, PupilFacts], *, calendar: SchoolCalendar, as_of: date, min_possible: int) -> None:
    """Fill each pupil's percentile rank for year-to-date attendance (share of pupils at or below)."""
    pcts: dict[int, Decimal] = {}
    for pupil_id, f in facts.items():
        totals = Evaluator(f, calendar, as_of, min_possible, None).totals("year")
        if totals.possible >= min_possible and totals.attendance_pct is not None:
            pcts[pupil_id] = totals.attendance_pct
    ordered = sorted(pcts.values())
    n = len(ordered)
    for pupil_id, pct in pcts.items():
        # The share of pupils at or below this one: ties at the top are nobody's "bottom 10%".
        at_or_below = bisect.bisect_right(ordered, pct)
        object.__setattr__(facts[pupil_id], "attendance_rank_pct", at_or_below * 100 / n)


#: How far back the night reads marks to count a run of days absent: first a few weeks, which holds
#: nearly every run, then, for the runs that reach back to the first day read, this far.
ABSENCE_RUN_FIRST_READ_DAYS = 21
ABSENCE_RUN_DAYS_BACK = 120
#: How many school days back the night looks for a pupil's latest day with possible marks, one query a
#: day for the pupils not yet found; a pupil with none in that time has their marks read and counted anyway.
_LATEST_DAY_LOOKBACK = 5


@dataclass(frozen=True)
class AbsenceRun:
    """A pupil's current run of whole school days absent, when it started, and how many of its latest days
    were wholly unauthorised absence (`statistics.consecutive_days_absent`, without and with `unauthorised`)."""

    days: int
    started_on: date | None
    unauthorised_days: int = 0


_NO_RUN = AbsenceRun(0, None)


def _absence_runs(
    *, school: School, pupils: list[Pupil], calendar: SchoolCalendar, as_of: date
) -> dict[int, AbsenceRun]:
    """Each pupil's current run of whole days absent (`statistics.consecutive_days_absent`), for those who have one.

    A run of unauthorised days is never longer than the run of absent days it
    ends, so it is counted from the same marks, for the same pupils.

    A run is going on only if, on the pupil's latest school day with possible
    marks, every possible session was an absence: days with no possible marks
    (not marked yet, a closure, Y) neither break nor extend a run. So the
    latest school day's marks are read first, for every pupil in one query,
    and a day further back only for the few with no possible marks on it (on a
    closure day, everyone: one more query). Only the pupils with a run going on
    have their marks read and counted: the last ABSENCE_RUN_FIRST_READ_DAYS
    days, and then the last ABSENCE_RUN_DAYS_BACK for those whose run goes
    back to the first day with possible marks that was read (it may go on
    before it).
    """
    qn = connection.ops.quote_name
    marks = qn(AttendanceMark._meta.db_table)
    possible_codes = sorted(stats.POSSIBLE_CODES)
    day = as_of if calendar.is_school_day(as_of) else calendar.previous_school_day(as_of)
    unresolved = {p.pk for p in pupils}
    running: set[int] = set()
    for _ in range(_LATEST_DAY_LOOKBACK):
        if not unresolved or day is None:
            break
        ids_sql, ids_params = _id_list(sorted(unresolved))
        sql = (
            f"SELECT pupil_id, code FROM {marks} WHERE pupil_id {ids_sql} AND date = %s "
            f"AND code IN ({', '.join(['%s'] * len(possible_codes))})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*ids_params, day, *possible_codes])
            codes: dict[int, list[str]] = defaultdict(list)
            for pupil_id, code in cursor.fetchall():
                codes[pupil_id].append(code)
        running.update(pupil_id for pupil_id, day_codes in codes.items() if stats.is_day_absent(day_codes))
        unresolved -= codes.keys()
        day = calendar.previous_school_day(day)
    running |= unresolved  # no possible marks for days: let the count decide
    result: dict[int, AbsenceRun] = {}
    on_roll = {pupil.pk: pupil for pupil in pupils}
    for days_back in (ABSENCE_RUN_FIRST_READ_DAYS, ABSENCE_RUN_DAYS_BACK):
        if not running:
            break
        ids_sql, ids_params = _id_list(sorted(running))
        sql = (
            f"SELECT pupil_id, date, session, code FROM {marks} WHERE pupil_id {ids_sql} AND date >= %s AND date <= %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*ids_params, as_of - timedelta(days=days_back), as_of])
            rows = cursor.fetchall()
        by_pupil: dict[int, list[stats.MarkFact]] = defaultdict(list)
        for pupil_id, day_of, session, code in rows:
            by_pupil[pupil_id].append(stats.MarkFact(_as_date(day_of), session, code))
        reaching_back = set()
        for pupil_id, pupil_marks in by_pupil.items():
            pupil = on_roll[pupil_id]
            roll = {
                "calendar": calendar,
                "as_of": as_of,
                "on_roll_from": pupil.start_on,
                "on_roll_to": pupil.leaving_on,
            }
            days, started_on = stats.consecutive_days_absent(pupil_marks, **roll)
            unauthorised, _ = (
                stats.consecutive_days_absent(pupil_marks, unauthorised=True, **roll) if days else (0, None)
            )
            result[pupil_id] = AbsenceRun(days, started_on, unauthorised)
            first_read = min((m.date for m in pupil_marks if m.code in stats.POSSIBLE_CODES), default=None)
            if started_on is not None and started_on == first_read:
                reaching_back.add(pupil_id)
        running = reaching_back
    return result


def current_placements(
    *, ladder: Ladder, stages: Sequence[Stage] | None = None
) -> dict[int, tuple[Placement, CurrentPlacement]]:
    """Each placed pupil's Placement row (only what the night reads or writes) and its engine form.

    Pass the ladder's `stages` if they are already read.
    """
    by_pk = {stage.pk: stage for stage in (ladder.stages.all() if stages is None else stages)}
    rows = Placement.objects.filter(ladder=ladder).only(
        "pk", "pupil_id", "ladder_id", "stage_id", "since", "entry_attendance_pct", "improving_since"
    )
    placements = {}
    for p in rows:
        p.stage = stage = by_pk[p.stage_id]
        placements[p.pupil_id] = (
            p,
            CurrentPlacement(
                stage_key=stage.key,
                since=p.since,
                entry_attendance_pct=p.entry_attendance_pct,
                improving_since=p.improving_since,
            ),
        )
    return placements


@dataclass(frozen=True)
class PupilFigures:
    attendance_pct: Decimal | None
    attendance_change: Decimal | None
    lates_half_term: int
    persistent: bool
    severe: bool


@dataclass(frozen=True)
class WeekFigures:
    """One week of the school's chart: attendance that week, and the year to date as it stood at the week's end."""

    week_start: date
    attendance_pct: Decimal | None
    persistent_absence_pct: Decimal | None
    pupils: int
    year_attendance_pct: Decimal | None
    severe_absence_pct: Decimal | None


@dataclass(frozen=True)
class SchoolFigures:
    pupils: dict[int, PupilFigures]
    weeks: list[WeekFigures]


TREND_WEEKS = 4


def school_figures(*, facts: SchoolFacts, spec: LadderSpec, weeks: list[WeekFigures] | None = None) -> SchoolFigures:
    """Per-pupil headline figures and whole-school weekly figures, from the night's facts (no queries).

    Pass `weeks` when the facts hold merged buckets rather than single weeks
    (`night_facts`): the night reads them with `school_week_figures`, for the
    chart's pupils (`chart_pupils`, leavers too). Without, the weeks are those
    of the pupils in `facts` only, week by week from their summaries: the
    independent computation the tests check the night's against.
    """
    calendar, as_of = facts.calendar, facts.as_of
    week_ends = calendar.week_ends_back(as_of, TREND_WEEKS + 1)
    earlier = week_ends[-1] if len(week_ends) > TREND_WEEKS else None
    pupils: dict[int, PupilFigures] = {}
    for pupil_id, f in facts.facts.items():
        evaluator = Evaluator(f, calendar, as_of, spec.min_possible, None)
        year = evaluator.totals("year")
        now = year.attendance_pct
        then = evaluator.totals("year", earlier).attendance_pct if earlier else None
        pupils[pupil_id] = PupilFigures(
            attendance_pct=now,
            attendance_change=(now - then) if now is not None and then is not None else None,
            lates_half_term=measure(evaluator.totals("half_term"), "lates"),
            persistent=year.persistent,
            severe=year.severe,
        )
    return SchoolFigures(pupils=pupils, weeks=_weekly_school_figures(facts) if weeks is None else weeks)


def _weekly_school_figures(facts: SchoolFacts) -> list[WeekFigures]:
    year_start = facts.calendar.academic_year_window(facts.as_of)[0]
    mondays = sorted({m for f in facts.facts.values() for m in f.weeks if m >= year_start - timedelta(days=6)})
    standing: dict[date, list[tuple[stats.AttendanceSummary | None, stats.AttendanceSummary]]] = {
        m: [] for m in mondays
    }
    for f in facts.facts.values():
        so_far = stats.AttendanceSummary()
        for monday in mondays:
            week = f.weeks.get(monday)
            if week is not None:
                so_far = week + so_far if so_far.possible else week
            standing[monday].append((week, so_far))
    return [_week_figures(m, standing[m]) for m in mondays]


def chart_pupils(*, school: School, calendar: SchoolCalendar, as_of: date) -> set[int]:
    """The pupils the weekly chart counts on `as_of`: every enrolment of compulsory school age on roll on
    some day of the year so far.

    As the DfE counts attendance and persistent absence (and so the national
    lines the chart is drawn against): each enrolment once, a leaver up to
    their leaving day, pupils aged 5 to 15 on the 31 August before the school
    year only. So the chart's latest week agrees with the absence-by-group
    list, and a pupil who leaves does not drop out of the weeks they were here for.
    """
    year_start = calendar.academic_year_window(as_of)[0]
    born_after, born_by = codes.compulsory_birth_dates(as_of)
    on_roll = pupils_on_roll_between(school=school, start=year_start, end=as_of)
    cohort = on_roll.filter(date_of_birth__gt=born_after, date_of_birth__lte=born_by)
    return set(cohort.values_list("pk", flat=True))


def this_week_figures(facts: SchoolFacts, *, counted: set[int]) -> list[WeekFigures]:
    """The chart's row for the week of `facts.as_of`, from the night's running totals: one small query.

    What `school_week_figures(since=that Monday)` gives for the same pupils
    (nothing if none of them has a week stored then), read off the running
    totals `night_facts` built: `window_cuts` always cuts at that Monday and
    the next, and at the year's first Monday, so the week and the year so far
    are each one subtraction a pupil. `counted` are the chart's pupils
    (`chart_pupils`); those no longer on roll have no facts, so their few
    stored weeks are read.
    """
    leavers = sorted(counted - set(facts.facts))
    monday = monday_of(facts.as_of)
    year_monday = monday_of(facts.calendar.academic_year_window(facts.as_of)[0])
    standing = []
    for pupil_id, f in facts.facts.items():
        if pupil_id not in counted:
            continue
        running = f.running
        if running is None:
            raise ValueError("this_week_figures needs the running totals of night_facts")
        has_week = monday in running.mondays
        standing.append((running.between(monday, monday) if has_week else None, running.between(year_monday, monday)))
    standing += _standing_from_weeks(pupil_ids=leavers, first=year_monday, monday=monday)
    stored = any(week is not None for week, _ in standing)
    return [_week_figures(monday, standing)] if stored else []


def _standing_from_weeks(
    *, pupil_ids: Sequence[int], first: date, monday: date
) -> list[tuple[stats.AttendanceSummary | None, stats.AttendanceSummary]]:
    """Each pupil's (counts in the week of `monday`, or None; counts from `first` to that week's end), stored weeks."""
    if not pupil_ids:
        return []
    rows = (
        PupilWeek.objects.filter(pupil_id__in=pupil_ids, week_start__gte=first, week_start__lte=monday)
        .order_by("pupil_id", "week_start")
        .values_list("pupil_id", "week_start", *PupilWeek.COUNTS)
    )
    standing = []
    for _, weeks in itertools.groupby(rows, key=operator.itemgetter(0)):
        so_far, this_week = stats.AttendanceSummary(), None
        for _, week_start, *counts in weeks:
            week = stats.AttendanceSummary(**dict(zip(PupilWeek.COUNTS, counts, strict=True)))
            so_far = so_far + week
            this_week = week if week_start == monday else this_week
        standing.append((this_week, so_far))
    return standing


def _week_figures(
    monday: date, standing: Sequence[tuple[stats.AttendanceSummary | None, stats.AttendanceSummary]]
) -> WeekFigures:
    """One week of the chart from each pupil's (counts that week, or None if none stored; year so far at its end).

    Attendance over every session that week; persistent absence among the
    pupils with any possible session so far, as their year stood at the week's end.
    """
    attended = possible = year_attended = year_possible = counted = persistent = severe = 0
    for week, so_far in standing:
        if week is not None:
            attended += week.attended
            possible += week.possible
        if so_far.possible:
            year_attended += so_far.attended
            year_possible += so_far.possible
            counted += 1
            persistent += so_far.persistent
            severe += so_far.severe
    return _week_row(
        monday,
        attended=attended,
        possible=possible,
        year_attended=year_attended,
        year_possible=year_possible,
        pupils=counted,
        persistent=persistent,
        severe=severe,
    )


def _week_row(
    monday: date,
    *,
    attended: int,
    possible: int,
    year_attended: int,
    year_possible: int,
    pupils: int,
    persistent: int,
    severe: int,
) -> WeekFigures:
    """A week of the chart from the school's sessions that week and in the year to its end, and its pupils'
    standing at the week's end (each enrolment with a possible session so far; how many persistently and
    severely absent)."""
    return WeekFigures(
        week_start=monday,
        attendance_pct=stats.percentage(attended, possible),
        persistent_absence_pct=stats.percentage(persistent, pupils),
        pupils=pupils,
        year_attendance_pct=stats.percentage(year_attended, year_possible),
        severe_absence_pct=stats.percentage(severe, pupils),
    )


def school_week_figures(
    *, school: School, pupil_ids: Sequence[int], as_of: date, since: date | None = None
) -> list[WeekFigures]:
    """`_weekly_school_figures`, from the stored weekly counts of these pupils (one light query).

    Per school week of the year to date: attendance over all the pupils'
    sessions that week and over the year to the week's end, and the shares
    of pupils with any possible session so far who are persistently and
    severely absent year to date at the week's end. With
    `since` (a Monday), only the weeks from it on: earlier weeks are added up
    per pupil in the query rather than read week by week, which is what makes
    the night's partial chart cheap.
    """
    year_start = school_calendar(school).academic_year_window(as_of)[0]
    first = year_start - timedelta(days=6)
    since = max(since or first, first)
    qn = connection.ops.quote_name
    column = {name: qn(PupilWeek._meta.get_field(name).column) for name in PupilWeek.COUNTS}
    pupils_sql, pupils_params = _id_list(pupil_ids)
    # Each pupil's weeks from `since` in order, after one row (week NULL) adding up their weeks before it.
    table = qn(PupilWeek._meta.db_table)
    attended = " + ".join(column[name] for name in stats.ATTENDED_COUNTS)
    absent = " + ".join(column[name] for name in stats.ABSENT_COUNTS)
    sql = f"""
        SELECT pupil_id, NULL AS week, SUM({attended}), SUM({absent}) FROM {table}
        WHERE pupil_id {pupils_sql} AND week_start >= %s AND week_start < %s GROUP BY pupil_id
        UNION ALL
        SELECT pupil_id, week_start, {attended}, {absent} FROM {table}
        WHERE pupil_id {pupils_sql} AND week_start >= %s AND week_start <= %s
        ORDER BY 1, 2 NULLS FIRST
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*pupils_params, first, since, *pupils_params, since, monday_of(as_of)])
        rows = cursor.fetchall()
    # A pupil counts (and is persistently absent or not) from their first week with a possible session,
    # as their year so far stands at each week's end. Each week holds the changes in pupils' standing
    # that week; adding them up along the weeks gives the school's counts for each week.
    # Each count: the school's total before `since` (key None), then what each week adds to it.
    attended: dict[date | None, int] = defaultdict(int)
    possible: dict[date | None, int] = defaultdict(int)
    counted: dict[date | None, int] = defaultdict(int)
    persistent: dict[date | None, int] = defaultdict(int)
    severe: dict[date | None, int] = defaultdict(int)
    for _, weeks in itertools.groupby(rows, key=operator.itemgetter(0)):
        so_far_possible = so_far_absent = was_counted = was_persistent = was_severe = 0
        for _, monday, week_attended, week_absent in weeks:
            monday = None if monday is None else _as_date(monday)
            so_far_possible += int(week_attended) + int(week_absent)
            so_far_absent += int(week_absent)
            now_counted = int(so_far_possible > 0)
            now_persistent = int(stats.is_persistent(so_far_absent, so_far_possible))
            now_severe = int(stats.is_severe(so_far_absent, so_far_possible))
            attended[monday] += int(week_attended)
            possible[monday] += int(week_attended) + int(week_absent)
            counted[monday] += now_counted - was_counted
            persistent[monday] += now_persistent - was_persistent
            severe[monday] += now_severe - was_severe
            was_counted, was_persistent, was_severe = now_counted, now_persistent, now_severe
    figures = []
    year_attended, year_possible = attended[None], possible[None]
    pupils, absentees, severely = counted[None], persistent[None], severe[None]
    for monday in sorted(m for m in attended if m is not None):
        year_attended += attended[monday]
        year_possible += possible[monday]
        pupils += counted[monday]
        absentees += persistent[monday]
        severely += severe[monday]
        figures.append(
            _week_row(
                monday,
                attended=attended[monday],
                possible=possible[monday],
                year_attended=year_attended,
                year_possible=year_possible,
                pupils=pupils,
                persistent=absentees,
                severe=severely,
            )
        )
    return figures


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


# --- the night's health -------------------------------------------------------------


@dataclass(frozen=True)
class NightStatus:
    """How last night went for a school: `state` is ok, running, failed, missed, first (no night has ever run:
    a school just starting) or off (no active ladder)."""

    state: str
    night_of: date
    run: NightlyRun | None
    #: For a failed night: will the schedule try it again (`night_attempts_exhausted`)?
    will_retry: bool = False

    @property
    def words(self) -> str:
        """In a few words, for the list of schools and its CSV: "Night of Mon 7 Dec: done"."""
        night = f"Night of {self.night_of:%a} {self.night_of.day} {self.night_of:%b}"
        return {
            "ok": f"{night}: done",
            "running": f"{night}: running",
            "failed": f"{night}: failed" + (", to be tried again" if self.will_retry else ""),
            "missed": f"{night}: did not run",
            "first": "Starting: no night has run yet",
        }.get(self.state, "No active ladder: no night runs")

    @property
    def may_run_now(self) -> bool:
        """May a person start this night now (`night_run_now`)? When it has not succeeded, nor is running."""
        return self.state in ("failed", "missed", "first")


@dataclass(frozen=True)
class SchoolStart:
    """A school with no active ladder yet: how far it has got (the dashboard's first page)."""

    on_roll: int
    last_marked: date | None
    #: The school's own ladders (copies made, none active yet), by name.
    ladders: list[Ladder]


def school_start(*, school: School, on: date) -> SchoolStart:
    return SchoolStart(
        on_roll=pupils_on_roll(school=school, on=on).count(),
        last_marked=AttendanceMark.objects.filter(pupil__school=school).aggregate(last=Max("date"))["last"],
        ladders=list(Ladder.objects.filter(school=school).order_by("name")),
    )


def nightly_local_time() -> time:
    hours, _, minutes = settings.NIGHTLY_LOCAL_TIME.partition(":")
    return time(int(hours), int(minutes or 0))


def night_due(*, school: School, now: datetime) -> date:
    """The latest night that should have run by `now`: the register day it closes, in the school's time zone.

    The night of day D runs at NIGHTLY_LOCAL_TIME (02:00) on D + 1, local time.
    """
    local = now.astimezone(ZoneInfo(school.time_zone))
    return local.date() - timedelta(days=1 if local.time() >= nightly_local_time() else 2)


def nightly_status(*, school: School, today: date | None = None, now: datetime | None = None) -> NightStatus:
    """Did last night run? For the dashboard: ok, running, failed (it ran and failed), missed (it never ran),
    first (no night has ever run for the school: not a missed night, a school just starting).

    `today` asks about the night before that morning; without it, the latest
    night due by `now`, or yesterday's if it has already run (by hand, before
    the schedule's hour). "off" means the school has no active ladder, so no night runs.
    """
    return nightly_statuses([school], today=today, now=now)[school.pk]


def nightly_statuses(
    schools: Sequence[School], *, today: date | None = None, now: datetime | None = None
) -> dict[int, NightStatus]:
    """`nightly_status` of each school, by id, in a fixed number of queries however many schools there are."""
    if today is not None:
        nights = {school.pk: today - timedelta(days=1) for school in schools}
    else:
        now = now or timezone.now()
        nights = {school.pk: night_due(school=school, now=now) for school in schools}
        # Before the schedule's hour, yesterday's night if it has already run (by hand).
        yesterdays = {
            school.pk: now.astimezone(ZoneInfo(school.time_zone)).date() - timedelta(days=1) for school in schools
        }
        early = {pk: yesterdays[pk] for pk, night in nights.items() if night < yesterdays[pk]}
        if early:
            done = NightlyRun.objects.filter(
                school_id__in=list(early), run_on__in=set(early.values()), status=NightlyRun.Status.DONE
            )
            for pk, run_on in done.values_list("school_id", "run_on"):
                if early[pk] == run_on:
                    nights[pk] = run_on
    runs: dict[int, list[NightlyRun]] = defaultdict(list)
    for run in NightlyRun.objects.filter(school_id__in=list(nights), run_on__in=set(nights.values())).order_by(
        "-started_at"
    ):
        if run.run_on == nights[run.school_id]:
            runs[run.school_id].append(run)
    active = set(Ladder.objects.filter(school_id__in=list(nights), is_active=True).values_list("school_id", flat=True))
    quiet = [pk for pk in nights if pk not in runs]
    ran_before = set(NightlyRun.objects.filter(school_id__in=quiet).values_list("school_id", flat=True).distinct())
    return {
        pk: _night_status(night_of, runs[pk], active=pk in active, ran_before=pk in ran_before)
        for pk, night_of in nights.items()
    }


def _night_status(night_of: date, runs: list[NightlyRun], *, active: bool, ran_before: bool) -> NightStatus:
    """A school's status for the night of `night_of` from that night's attempts, newest first."""
    done = _night_made(runs)
    if done is not None:
        return NightStatus("ok", night_of, done)
    if not active:
        return NightStatus("off", night_of, None)
    if runs and runs[0].status == NightlyRun.Status.RUNNING:
        return NightStatus("running", night_of, runs[0])
    if runs:
        return NightStatus("failed", night_of, runs[0], will_retry=not _attempts_exhausted(runs))
    if not ran_before:
        return NightStatus("first", night_of, None)
    return NightStatus("missed", night_of, None)


#: What a night made: a run again adds only what the runs before it did not, so the night's own count is
#: every successful attempt's added up (the last one alone says 0 after a re-run).
_MADE = ("moved", "proposed", "tasks_created", "letters_queued", "reviews_created")


def _night_made(runs: Sequence[NightlyRun]) -> NightlyRun | None:
    """The night's latest successful attempt, as a copy carrying what all its successful attempts made
    (`_MADE`, added up); None if none succeeded. The copy is for showing: never saved."""
    done = [run for run in runs if run.status == NightlyRun.Status.DONE]
    if not done:
        return None
    latest = max(done, key=lambda run: run.started_at)
    if len(done) == 1:
        return latest
    shown = copy.copy(latest)
    for name in _MADE:
        setattr(shown, name, sum(getattr(run, name) for run in done))
    return shown


def too_many_failures(failures: int) -> bool:
    """Has a night that has not succeeded failed often enough for the schedule to leave it for a person?"""
    return failures >= settings.NIGHTLY_MAX_ATTEMPTS


def night_attempts_exhausted(*, school: School, night: date) -> bool:
    """Has this night failed NIGHTLY_MAX_ATTEMPTS times (and not since succeeded)? Then the schedule leaves it."""
    return _attempts_exhausted(NightlyRun.objects.filter(school=school, run_on=night).only("status"))


def _attempts_exhausted(runs: Iterable[NightlyRun]) -> bool:
    """`night_attempts_exhausted`, from a night's attempts."""
    statuses = [run.status for run in runs]
    return NightlyRun.Status.DONE not in statuses and too_many_failures(statuses.count(NightlyRun.Status.FAILED))


def nights_due(*, now: datetime) -> list[tuple[School, date]]:
    """Schools with an active ladder whose latest due night has not yet succeeded (nor a later one), nor failed too often."""
    schools = School.objects.filter(ladders__is_active=True).order_by("pk")
    wanted = [(school, night_due(school=school, now=now)) for school in schools]
    if not wanted:
        return []
    runs = NightlyRun.objects.filter(school__in=[s for s, _ in wanted], run_on__in={d for _, d in wanted})
    # A night is done once it, or a later one, has succeeded (a later night decides from the same register).
    latest_done = dict(
        NightlyRun.objects.filter(school__in=[s for s, _ in wanted], status=NightlyRun.Status.DONE)
        .values("school_id")
        .annotate(last=Max("run_on"))
        .values_list("school_id", "last")
    )
    attempts = {
        (school_id, run_on): n
        for school_id, run_on, n in runs.filter(status=NightlyRun.Status.FAILED)
        .values("school_id", "run_on")
        .annotate(n=Count("id"))
        .values_list("school_id", "run_on", "n")
    }
    return [
        (school, night)
        for school, night in wanted
        if latest_done.get(school.pk, date.min) < night and not too_many_failures(attempts.get((school.pk, night), 0))
    ]


@dataclass(frozen=True)
class NightRow:
    """One night in a school's run history: how it ended, and the attempt that says so."""

    night_of: date
    #: ok, running, failed (every attempt failed) or missed (never tried).
    state: str
    #: The attempt that succeeded (the latest, if it was run again, carrying what every successful attempt made:
    #: `_night_made`), else the latest one; None for a missed night.
    run: NightlyRun | None
    #: Attempts until it first succeeded, or all of them if it never has.
    attempts: int
    #: For a failed or missed night: a later night succeeded, and decided from the same register.
    caught_up: bool = False
    #: Pupils the night placed on the ladder for the first time (the ladder's first night, newcomers), and
    #: pupils it moved from one stage to another, as the dashboard counts them: what the night's stage
    #: changes say, whichever attempt made them (a night run again adds only what the first did not do).
    placed: int = 0
    moved: int = 0
    #: For a failed night: it failed NIGHTLY_MAX_ATTEMPTS times, so the schedule will not try it again,
    #: and whether NIGHTLY_ALERT_EMAILS were told.
    given_up: bool = False
    alerted: bool = False


def night_history(*, school: School, now: datetime | None = None, nights: int = 30) -> list[NightRow]:
    """The school's last `nights` nights, latest first, from its first run: missed nights included.

    A night runs every calendar day (weekends and holidays too: reviews fall
    due and windows slide), so a day without an attempt is a missed night.
    Days before the school's first run are not nights it missed.
    """
    bounds = NightlyRun.objects.filter(school=school).aggregate(first=Min("run_on"), latest=Max("run_on"))
    first, latest = bounds["first"], bounds["latest"]
    if first is None:
        return []
    if Ladder.objects.filter(school=school, is_active=True).exists():  # else no night is due, none is missed
        latest = max(latest, night_due(school=school, now=now or timezone.now()))
    start = max(first, latest - timedelta(days=nights - 1))
    attempts: dict[date, list[NightlyRun]] = defaultdict(list)
    for run in NightlyRun.objects.filter(school=school, run_on__range=(start, latest)).order_by("-started_at"):
        attempts[run.run_on].append(run)
    changes = {
        (on, kind): n
        for on, kind, n in StageChange.objects.filter(
            pupil__school=school, kind__in=StageChange.BY_THE_NIGHT, on__range=(start, latest)
        )
        .values("on", "kind")
        .annotate(n=Count("id"))
        .values_list("on", "kind", "n")
    }
    rows: list[NightRow] = []
    done_later = False
    for offset in range((latest - start).days + 1):
        night = latest - timedelta(days=offset)
        runs = attempts.get(night, [])
        done = _night_made(runs)
        if done is not None:
            placed, moved = (changes.get((night, kind), 0) for kind in StageChange.BY_THE_NIGHT)
            first_success = min(r.started_at for r in runs if r.status == NightlyRun.Status.DONE)
            tries = sum(1 for r in runs if r.started_at <= first_success)
            rows.append(NightRow(night, "ok", done, tries, placed=placed, moved=moved))
        elif runs and runs[0].status == NightlyRun.Status.RUNNING:
            rows.append(NightRow(night, "running", runs[0], len(runs)))
        else:
            state = "failed" if runs else "missed"
            failures = sum(1 for r in runs if r.status == NightlyRun.Status.FAILED)
            rows.append(
                NightRow(
                    night,
                    state,
                    runs[0] if runs else None,
                    len(runs),
                    caught_up=done_later,
                    given_up=too_many_failures(failures),
                    alerted=any(r.alerted for r in runs),
                )
            )
        done_later = done_later or done is not None
    return rows


# --- pages ------------------------------------------------------------------------


#: Stage columns a list row never shows: large JSON the database would otherwise sort and send.
_STAGE_DETAIL = ("criteria", "actions", "letters", "description", "extra", "roles")


def placements_for(*, ladder: Ladder, pupils: QuerySet[Pupil]) -> QuerySet[Placement]:
    """The ladder's placements for these pupils, with what a list row shows, in one query."""
    return (
        Placement.objects.filter(ladder=ladder, pupil__in=pupils)
        .select_related("stage", "pupil", "pupil__registration_group", "pupil__year_group")
        .defer(*(f"stage__{name}" for name in _STAGE_DETAIL))
        .order_by("-stage__position", "attendance_pct", "pupil__surname")
    )


@dataclass(frozen=True)
class NotPlacedYet:
    """A class list's row for a pupil on roll whom no night has placed on the ladder yet (a new pupil,
    imported today): read as a placement row is, with no stage and no figures."""

    pupil: Pupil
    stage: None = None
    reasons: tuple[str, ...] = ()
    attendance_pct: None = None
    attendance_change: None = None
    lates_half_term: int = 0

    @property
    def pupil_id(self) -> int:
        return self.pupil.pk


def not_placed_yet(*, ladder: Ladder, pupils: QuerySet[Pupil], on: date) -> list[NotPlacedYet]:
    """These pupils on roll on `on` with no placement on the ladder: the next night places them. One query."""
    found = (
        pupils_on_roll(school=ladder.school, on=on)
        .filter(pk__in=pupils)
        .exclude(placements__ladder=ladder)
        .select_related("registration_group")
        .order_by("surname", "forename", "pk")
    )
    return [NotPlacedYet(pupil) for pupil in found]


def placements_version(*, ladder: Ladder) -> str:
    """Changes whenever a placement, a pupil, the ladder or a night changes: a key for cached lists.

    Nights write their figures with bulk updates (which leave `updated_at` alone),
    so the latest run is part of the key too.
    """
    placed = Placement.objects.filter(ladder=ladder).aggregate(n=Count("id"), at=Max("updated_at"))
    pupils = Pupil.objects.filter(school_id=ladder.school_id).aggregate(n=Count("id"), at=Max("updated_at"))
    night = NightlyRun.objects.filter(school_id=ladder.school_id).aggregate(n=Max("id"), at=Max("finished_at"))
    parts = [
        ladder.pk,
        ladder.updated_at,
        placed["n"],
        placed["at"],
        pupils["n"],
        pupils["at"],
        night["n"],
        night["at"],
    ]
    return ".".join(f"{p:%s%f}" if isinstance(p, datetime) else str(p) for p in parts)


def stage_counts(*, ladder: Ladder, placements: QuerySet[Placement]) -> list[tuple[Stage, int]]:
    counts = dict(placements.order_by().values("stage_id").annotate(n=Count("id")).values_list("stage_id", "n"))
    return [(stage, counts.get(stage.pk, 0)) for stage in ladder.stages.all()]


def kept_lineage(change_ids: Collection[int]) -> dict[int, list[int]]:
    """Each stage change with the changes it was kept from (`StageChange.kept_from`), itself first.

    The work those gave counts as its own. One query per ladder the pupils were kept across (usually one).
    """
    lineage = {change_id: [change_id] for change_id in change_ids}
    asking = {change_id: change_id for change_id in change_ids}  # the change to ask about -> whose lineage
    while asking:
        found = (
            StageChange.objects.filter(pk__in=list(asking), kept_from__isnull=False)
            .order_by()
            .values_list("pk", "kept_from_id")
        )
        asking = {kept_from: asking[pk] for pk, kept_from in found}
        for kept_from, change_id in asking.items():
            lineage[change_id].append(kept_from)
    return lineage


def overnight_moves(*, ladder: Ladder, pupils: QuerySet[Pupil], on: date | None) -> QuerySet[StageChange]:
    if on is None:
        return StageChange.objects.none()
    return (
        StageChange.objects.filter(ladder=ladder, pupil__in=pupils, on=on)
        .exclude(kind__in=StageChange.PLACED_NOT_MOVED)
        .select_related("pupil", "from_stage", "to_stage", "decided_by")
        .order_by("-to_stage__position")
    )


def first_placements(*, ladder: Ladder, pupils: QuerySet[Pupil], on: date | None) -> QuerySet[StageChange]:
    """Pupils placed on the ladder for the first time that night (the ladder's first night, or newcomers)."""
    if on is None:
        return StageChange.objects.none()
    return StageChange.objects.filter(ladder=ladder, pupil__in=pupils, on=on, kind=StageChange.Kind.INITIAL)


def pending_proposals(*, ladder: Ladder, pupils: QuerySet[Pupil]) -> QuerySet[Proposal]:
    """Moves waiting for a person: the oldest first, and among those made the same night the lowest attendance."""
    attendance = Placement.objects.filter(ladder=ladder, pupil=OuterRef("pupil")).values("attendance_pct")[:1]
    return (
        Proposal.objects.filter(ladder=ladder, pupil__in=pupils, status=Proposal.Status.PENDING)
        .select_related("pupil", "from_stage", "to_stage")
        .annotate(attendance_pct=Subquery(attendance))
        .order_by("proposed_on", F("attendance_pct").asc(nulls_last=True), "pk")
    )


#: How long a move a person declined rests: the night (`nightly`) and the simulation do not propose it again
#: for this many school days (four school weeks), whatever the data, so a decision made with a reason
#: ("review in four weeks") stands.
DECLINE_RESTS_SCHOOL_DAYS = 20


@dataclass(frozen=True)
class Resting:
    """A move a person declined lately: the night of `until` may propose it again, for staff on `back_on`."""

    declined_on: date
    by: str
    reason: str
    until: date
    back_on: date


def decline_rests_until(*, calendar: SchoolCalendar, declined_on: date) -> date:
    """The day whose night may propose a move declined on `declined_on` again: DECLINE_RESTS_SCHOOL_DAYS on."""
    return calendar.add_school_days(declined_on, DECLINE_RESTS_SCHOOL_DAYS)


def decline_back_on(*, calendar: SchoolCalendar, declined_on: date) -> date:
    """The first school day a move declined on `declined_on` can be waiting on the dashboard again: the
    morning after the night of `decline_rests_until`. What staff are told."""
    return calendar.add_school_days(decline_rests_until(calendar=calendar, declined_on=declined_on), 1)


def declined_lately(*, school: School, calendar: SchoolCalendar, as_of: date) -> dict[tuple[int, str], Resting]:
    """The moves a person declined within the last DECLINE_RESTS_SCHOOL_DAYS school days before `as_of`,
    by (pupil id, stage key): the night does not propose them again yet.

    By stage key, on any of the school's ladders: an edited copy, once active, is the same ladder to the
    people who decided (its placements and waiting moves carry over by key too). The latest decline of
    a move is the one that rests.
    """
    # Four school weeks span at most about eleven calendar weeks, across the summer holiday: read well back.
    recent = (
        Proposal.objects.filter(
            ladder__school=school,
            status=Proposal.Status.DECLINED,
            decided_at__date__gte=as_of - timedelta(days=150),
        )
        .select_related("decided_by", "to_stage")
        .only("pupil_id", "decided_at", "decision_reason", "to_stage__key", "decided_by")
        .order_by("decided_at", "pk")
    )
    resting = {}
    for proposal in recent:
        declined_on = timezone.localdate(proposal.decided_at)
        until = decline_rests_until(calendar=calendar, declined_on=declined_on)
        if until > as_of:
            by = person_name(proposal.decided_by)  # "" for someone no longer here
            back_on = decline_back_on(calendar=calendar, declined_on=declined_on)
            resting[proposal.pupil_id, proposal.to_stage.key] = Resting(
                declined_on, by, proposal.decision_reason, until, back_on
            )
    return resting


def for_deciding(*, school: School, proposals: Sequence[Proposal], today: date) -> list[Proposal]:
    """The proposals, each with what whoever decides should see first.

    `absence`: the pupil's summary for this school year up to yesterday, so
    they can see what the absence was (illness or unauthorised) before a
    letter or a penalty-notice task follows from it; `flags`: the pupil's
    flags (a social worker, a young carer, a mental-health need), by name;
    `referrals`: their referrals still open; `declined_before`: the last time
    a person declined this very move, if one did. A fixed number of queries.
    For the pages where moves are decided, which only those who see the
    referrals list open.
    """
    proposals = list(proposals)
    pupil_ids = {p.pupil_id for p in proposals}
    start, end = school_calendar(school).academic_year_window(today - timedelta(days=1))
    summaries = school_summaries(school=school, start=start, end=end, pupil_ids=pupil_ids)
    flags: dict[int, list[str]] = defaultdict(list)
    for pupil_id, name in Pupil.flags.through.objects.filter(pupil_id__in=pupil_ids).values_list(
        "pupil_id", "flag__name"
    ):
        flags[pupil_id].append(name)
    referrals: dict[int, list[Referral]] = defaultdict(list)
    still_open = Referral.objects.filter(pupil_id__in=pupil_ids).exclude(
        status__in=[Referral.Status.DECLINED, Referral.Status.CLOSED]
    )
    for referral in still_open.order_by("made_on", "pk"):
        referrals[referral.pupil_id].append(referral)
    declined: dict[tuple[int, str], Proposal] = {}
    for earlier in (
        Proposal.objects.filter(pupil_id__in=pupil_ids, status=Proposal.Status.DECLINED)
        .select_related("decided_by", "to_stage")
        .only("pupil_id", "decided_at", "decision_reason", "to_stage__key", "decided_by")
        .order_by("decided_at", "pk")
    ):
        declined[earlier.pupil_id, earlier.to_stage.key] = earlier  # the latest last; by key, as the night rests it
    for proposal in proposals:
        proposal.absence = summaries.get(proposal.pupil_id)
        proposal.flags = sorted(flags.get(proposal.pupil_id, []))
        proposal.referrals = referrals.get(proposal.pupil_id, [])
        earlier = declined.get((proposal.pupil_id, proposal.to_stage.key))
        proposal.declined_before = earlier if earlier is not None and earlier.pk != proposal.pk else None
    return proposals


def tasks_due(*, school: School, pupils: QuerySet[Pupil], on: date) -> QuerySet[Task]:
    """Every open task for these pupils due on or before `on` (the lead's dashboard: everyone's work)."""
    tasks = Task.objects.filter(school=school, pupil__in=pupils, status=Task.Status.OPEN, due_on__lte=on)
    return tasks.select_related("pupil", "assigned_to").order_by("due_on", "pk")


@dataclass(frozen=True)
class TaskGroup:
    """Open tasks that ask the same thing, for several pupils: "Phone the family", "Review at Stage 2".

    A long group lists its first few tasks (the soonest due) and folds the
    rest away (`shown`, `folded`), so a page of several hundred stays readable.
    """

    heading: str
    tasks: list[Task]

    #: How many tasks a long group lists before folding; a group at most two longer lists them all.
    SHOWN = 5

    @property
    def shown(self) -> list[Task]:
        return self.tasks if len(self.tasks) <= self.SHOWN + 2 else self.tasks[: self.SHOWN]

    @property
    def folded(self) -> list[Task]:
        return self.tasks[len(self.shown) :]

    @property
    def due_from(self) -> date:
        return self.tasks[0].due_on

    @property
    def due_to(self) -> date:
        return self.tasks[-1].due_on


def tasks_for(access: Access, *, on: date) -> tuple[list[TaskGroup], list[TaskGroup], list[TaskGroup]]:
    """This person's open tasks (`_open_tasks_of`), as (overdue, due on `on`, coming up).

    Each part is grouped by what the task asks (a review by the stage, as its
    title names the pupil), the group due first coming first, and within a
    group by due date and pupil.
    """
    tasks = (
        _open_tasks_of(access)
        .select_related("pupil", "assigned_to", "stage_change__to_stage")
        .order_by("due_on", "pupil__surname", "pupil__forename", "pk")
    )
    parts: tuple[dict[str, list[Task]], ...] = ({}, {}, {})
    for task in tasks:
        part = parts[0] if task.is_overdue_on(on) else parts[1] if task.due_on == on else parts[2]
        if task.kind == Task.Kind.REVIEW and task.stage_change is not None:
            heading = f"Review at {task.stage_change.to_stage.name}"
        else:
            heading = task.title
        part.setdefault(heading, []).append(task)  # dicts keep order: the group due first comes first
    overdue, today, later = ([TaskGroup(heading, group) for heading, group in part.items()] for part in parts)
    return overdue, today, later


def follow_ups_note_waiting(tasks: Iterable[Task]) -> None:
    """Give each follow-up task among these the days its pupil still has an N (`task.unexplained_days`).

    A follow-up is a stage action asked for only while an N waits (its `when`,
    `rules.only_while_unexplained`), such as the DfE first-day follow-up: its row
    says which days still wait, as marking it done does not record the reason.
    Other tasks get an empty list. One query for the marks.
    """
    tasks = list(tasks)
    follow_ups = [task for task in tasks if _is_follow_up(task)]
    days: dict[int, list[date]] = defaultdict(list)
    for pupil_id, day in (
        AttendanceMark.objects.filter(pupil_id__in={t.pupil_id for t in follow_ups}, code=codes.UNEXPLAINED)
        .order_by("date")
        .values_list("pupil_id", "date")
        .distinct()
    ):
        days[pupil_id].append(day)
    for task in tasks:
        task.unexplained_days = days.get(task.pupil_id, []) if task in follow_ups else []


def _is_follow_up(task: Task) -> bool:
    if task.kind != Task.Kind.ACTION or task.stage_change is None:
        return False
    action = next((a for a in task.stage_change.to_stage.actions if a.get("key") == task.template_key), {})
    return bool(action.get("when")) and only_while_unexplained(action["when"])


def open_stage_action_task(*, pupil: Pupil, stage: Stage, key: str) -> Task | None:
    """The pupil's open task for the action `key` of `stage`, from their latest stage change, if that
    change put them at `stage`. A task left open from an earlier time at the stage is not this one."""
    entry = _stage_entry(pupil=pupil, stage=stage)
    if entry is None:
        return None
    return Task.objects.filter(
        stage_change=entry, kind=Task.Kind.ACTION, template_key=key, status=Task.Status.OPEN
    ).first()


def stage_actions_done(*, pupil: Pupil, stage: Stage | None) -> dict[str, date]:
    """The actions of `stage` whose tasks from the pupil's time there (their latest stage change, as
    `open_stage_action_task`) are done, each with the day it was marked done."""
    entry = _stage_entry(pupil=pupil, stage=stage) if stage is not None else None
    if entry is None:
        return {}
    done = Task.objects.filter(stage_change=entry, kind=Task.Kind.ACTION, status=Task.Status.DONE)
    return {key: timezone.localdate(at) for key, at in done.values_list("template_key", "completed_at") if at}


def _stage_entry(*, pupil: Pupil, stage: Stage) -> StageChange | None:
    """The pupil's latest stage change on `stage`'s ladder, if it put them at `stage`."""
    latest = StageChange.objects.filter(pupil=pupil, ladder_id=stage.ladder_id).order_by("-on", "-pk").first()
    return latest if latest is not None and latest.to_stage_id == stage.pk else None


def open_task_logged_as(*, pupil: Pupil, kind: str, access: Access, occurred_on: date) -> Task | None:
    """The pupil's open stage task that logging an action of `kind` on `occurred_on` does (its action's
    `logged_as`), if it is this person's to do (`Access.may_do`): the one due soonest. Not a task given
    after that day: a call from September written up now does not do last night's."""
    tasks = Task.objects.filter(
        pupil=pupil,
        kind=Task.Kind.ACTION,
        status=Task.Status.OPEN,
        stage_change__isnull=False,
        created_at__date__lte=occurred_on,
    ).select_related("stage_change__to_stage")
    for task in tasks.order_by("due_on", "pk"):
        if logged_as_does(task, kind=kind, occurred_on=occurred_on) and access.may_do(
            role=task.role, assigned_to_id=task.assigned_to_id
        ):
            return task
    return None


def logged_as_does(task: Task, *, kind: str, occurred_on: date) -> bool:
    """Does logging an action of `kind` that happened on `occurred_on` do this ladder task?

    When the stage action it came from is `logged_as` that kind, and the action happened
    on or after the day the task was given. Reads `task.stage_change.to_stage`.
    """
    if task.stage_change_id is None or occurred_on < timezone.localdate(task.created_at):
        return False
    action = next((a for a in task.stage_change.to_stage.actions if a.get("key") == task.template_key), {})
    return action.get("logged_as") == kind


def tasks_waiting_count(access: Access, *, on: date) -> int:
    """How many of this person's open tasks are due on or before `on`."""
    return _open_tasks_of(access).filter(due_on__lte=on).count()


def tasks_coming_up_count(access: Access, *, on: date) -> int:
    """How many of this person's open tasks are due after `on`."""
    return _open_tasks_of(access).filter(due_on__gt=on).count()


def _open_tasks_of(access: Access) -> QuerySet[Task]:
    """Open tasks that are this person's own (`Access.owns`), for pupils they can see."""
    return Task.objects.filter(
        access.owned(), school=access.school, pupil__in=visible_pupils(access), status=Task.Status.OPEN
    )


@dataclass(frozen=True)
class TasksOf:
    """How many of some tasks are one person's or one role's, and how many of those are overdue."""

    whom: str
    count: int
    overdue: int


def tasks_by_whom(tasks: QuerySet[Task], *, on: date) -> list[TasksOf]:
    """These tasks counted by whose they are (the person assigned, else the role), most first."""
    roles = dict(StaffMembership.Role.choices)
    rows = list(
        tasks.order_by()
        .values("assigned_to", "role")
        .annotate(count=Count("pk"), overdue=Count("pk", filter=Task.overdue_on(on)))
    )
    people = get_user_model().objects.in_bulk({row["assigned_to"] for row in rows if row["assigned_to"]})
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        person = people.get(row["assigned_to"])
        whom = person_name(person) if person is not None else roles.get(row["role"], "anyone")
        found[whom][0] += row["count"]
        found[whom][1] += row["overdue"]
    return sorted((TasksOf(whom, n, late) for whom, (n, late) in found.items()), key=lambda t: (-t.count, t.whom))


def first_day_absences(*, pupils: QuerySet[Pupil], on: date) -> QuerySet[Pupil]:
    """Pupils marked absent today with no reason yet (N), classes youngest first, with their flags (a
    safeguarding lead looks for the vulnerable children among them)."""
    unexplained = AttendanceMark.objects.filter(pupil=OuterRef("pk"), date=on, code="N")
    return (
        pupils.filter(Exists(unexplained))
        .select_related("registration_group")
        .prefetch_related(Prefetch("flags", queryset=Flag.objects.order_by("name")))
        .order_by(*FIRST_DAY_ORDER)
    )


def last_run(*, school: School) -> NightlyRun | None:
    return NightlyRun.objects.filter(school=school).order_by("-started_at").first()


def last_good_run(*, school: School) -> NightlyRun | None:
    """The night whose figures the pupils' placements hold: the last to finish well."""
    return NightlyRun.objects.filter(school=school, status=NightlyRun.Status.DONE).order_by("-finished_at").first()


def simulation_day(*, school: School, night: NightlyRun | None = None) -> date:
    """The day a ladder simulation reads the register as of: the last good night's (`night`, if given).

    The placements ("now") and the dashboard come from that night. A simulation as of today would
    slide every week's window into a week whose register is not yet taken, and disagree with them.
    With no good night yet, yesterday.
    """
    night = night or last_good_run(school=school)
    return night.run_on if night else timezone.localdate() - timedelta(days=1)


def school_weeks(*, school: School, since: date) -> list[SchoolWeek]:
    return list(SchoolWeek.objects.filter(school=school, week_start__gte=since).order_by("week_start"))


@dataclass(frozen=True)
class ChartWeeks:
    """The weeks the school's weekly chart draws, and the first weeks it leaves out."""

    weeks: list[SchoolWeek]
    left_out: list[SchoolWeek]

    @property
    def note(self) -> str:
        """Why the chart starts where it does, in words; "" when it leaves nothing out."""
        if not self.left_out:
            return ""
        few = max(w.pupils for w in self.left_out)
        most = max(w.pupils for w in self.weeks)
        return (
            f"Weeks before {self.weeks[0].week_start:%-d %b %Y} are not drawn: they hold registers for at most "
            f"{few} pupils, against {most} in the weeks drawn, too few to stand for the school."
        )


def chart_weeks(*, school: School, since: date) -> ChartWeeks:
    """The school's weeks since `since`, less a first run of weeks whose registers cover under half the pupils
    the best-covered week counts: a school that imported only its recent registers (and a few pupils' from
    further back) would otherwise chart those few as the whole school."""
    weeks = school_weeks(school=school, since=since)
    most = max((w.pupils for w in weeks), default=0)
    first = next((i for i, w in enumerate(weeks) if w.pupils * 2 >= most), 0)
    return ChartWeeks(weeks[first:], weeks[:first])


def registers_start(*, school: School, calendar: SchoolCalendar, today: date) -> tuple[date, date] | None:
    """(the Monday of the first week with registers this school year, the year's first school day), when the
    registers held start a week or more after the year began, so that "this school year" counts only from
    there (a school that imported only its recent registers). None when they start with the year, or none yet."""
    year_began = calendar.add_school_days(calendar.academic_year_window(today)[0], 0)
    weeks = SchoolWeek.objects.filter(school=school, week_start__gte=monday_of(year_began), pupils__gt=0)
    first = weeks.order_by("week_start").values_list("week_start", flat=True).first()
    if first is None or first <= monday_of(year_began):
        return None
    return first, year_began


@dataclass(frozen=True)
class HeatCell:
    day: date
    session: int
    code: str
    css: str
    title: str


@dataclass(frozen=True)
class PupilRecord:
    placement: Placement | None
    year: stats.AttendanceSummary
    half_term: stats.AttendanceSummary
    heatmap: list[tuple[date, list[HeatCell | None]]]
    timeline: list[StageChange]
    proposals: list[Proposal]
    #: Moves a person declined, latest first, with who and why ("kept on the record", the form says).
    declined: list[Proposal]
    actions: list[ActionLog]
    tasks: list[Task]
    letters: list[Any]
    contacts: list[Any]
    flags: list[Any]

    @property
    def off_roll_days(self) -> bool:
        """Does the heatmap show school days the pupil was not on roll (joined or left during the year)?"""
        return any(cell and cell.css == "mark-off-roll" for _, cells in self.heatmap for cell in cells)

    @property
    def codes_used(self) -> list[tuple[str, str]]:
        """Each code in the heatmap with its meaning, in the code table's order: the key a phone can read."""
        used = {cell.code for _, cells in self.heatmap for cell in cells if cell and cell.code}
        return [(code, entry.description) for code, entry in codes.code_table().items() if code in used]


#: How long a one-click log may be taken back by the person who logged it (`services.action_undo`).
UNDO_MINUTES = 10


def undo_refusal(*, action: ActionLog, user: Any) -> str:
    """Why this person may not take back this logged action, or "" if they may (`services.action_undo`).

    Only a one-click log, only by the person who logged it, within UNDO_MINUTES.
    """
    if not action.one_click:
        return "Only a conversation logged in one click can be taken back."
    if action.by_id != user.pk:
        return "Only the person who logged this can take it back."
    if action.corrections.exists():
        return "It has been corrected since, so it stays on the record."
    if timezone.now() - action.created_at >= timedelta(minutes=UNDO_MINUTES):
        return (
            f"The conversation with {action.pupil.full_name} was logged more than {UNDO_MINUTES} minutes ago, so it "
            "stays on the record: log another action to correct it."
        )
    return ""


def task_reopen_refusal(*, task: Task, user: Any) -> str:
    """Why this person may not take back marking this task done, or "" if they may (`services.task_reopen`).

    Only a task marked done with its Done button (not closed by logging a full action, which stays on the
    record), only by the person who pressed it, within UNDO_MINUTES.
    """
    if task.status != Task.Status.DONE:
        return "This task is not marked done."
    if task.completed_by_id != user.pk:
        return "Only the person who marked this task done can take it back."
    if task.completed_at is None or timezone.now() - task.completed_at >= timedelta(minutes=UNDO_MINUTES):
        return (
            f"This was marked done more than {UNDO_MINUTES} minutes ago, so it stays on the record: "
            "log an action to correct it."
        )
    log = task_done_log(task=task)
    if log is None:
        return "This task was closed by logging an action: that action stays on the record."
    if log.corrections.exists():
        return "What Done put on the record has been corrected since, so it stays there, and the task stays done."
    if task_stage_left(task=task):
        return "The pupil has moved stage since: this task belongs to the stage they left."
    return ""


def _timeline(changes: QuerySet[StageChange], ladder: Ladder | None) -> list[StageChange]:
    """The pupil's stage changes on `ladder`, newest first; with, where the ladder kept them at the stage
    of the one it replaced, that ladder's changes before it (and so on back)."""
    if ladder is None:
        return list(changes)
    timeline = list(changes.filter(ladder=ladder))
    while timeline and timeline[-1].kind == StageChange.Kind.KEPT and timeline[-1].kept_from_id:
        kept = timeline[-1]
        earlier = list(changes.filter(ladder=kept.kept_from.ladder_id, created_at__lt=kept.created_at))
        if not earlier:
            break
        timeline += earlier
    return timeline


def task_stage_left(*, task: Task) -> bool:
    """Has the pupil moved stage since the stage change that gave this task? (Its work is then the old stage's.)

    A move on any ladder counts, as a new ladder's first placement does, but not being kept at the same
    stage when a ladder replaced the task's one.
    """
    return (
        task.stage_change_id is not None
        and StageChange.objects.filter(pupil_id=task.pupil_id, created_at__gt=task.stage_change.created_at)
        .exclude(kind=StageChange.Kind.KEPT)
        .exists()
    )


def task_done_log(*, task: Task) -> ActionLog | None:
    """The entry the Done button put on the pupil's record (`services.task_complete`), or None."""
    return ActionLog.objects.filter(task=task, by_done_button=True).order_by("-created_at").first()


def tasks_reopenable(*, user: Any, school: School) -> list[Task]:
    """This person's tasks at this school that they marked done and may still take back
    (`task_reopen_refusal`), newest first: so Undo outlasts the page it was pressed on."""
    since = timezone.now() - timedelta(minutes=UNDO_MINUTES)
    done = Task.objects.filter(school=school, completed_by=user, status=Task.Status.DONE, completed_at__gt=since)
    return [
        task
        for task in done.select_related("pupil", "stage_change").order_by("-completed_at")
        if not task_reopen_refusal(task=task, user=user)
    ]


def actions_undoable(*, user: Any, pupils: QuerySet[Pupil]) -> list[ActionLog]:
    """This person's one-click logs for these pupils that they may still take back (`undo_refusal`), newest first."""
    since = timezone.now() - timedelta(minutes=UNDO_MINUTES)
    logs = ActionLog.objects.filter(pupil__in=pupils, by=user, one_click=True, created_at__gt=since)
    return [
        action
        for action in logs.select_related("pupil").order_by("-created_at")
        if not undo_refusal(action=action, user=user)
    ]


def pupil_actions(*, pupil: Pupil) -> list[ActionLog]:
    """The pupil's logged actions, newest first (the latest 200), each with its earlier versions, oldest first."""
    corrections = Prefetch("corrections", queryset=ActionCorrection.objects.select_related("by"))
    return list(ActionLog.objects.filter(pupil=pupil).select_related("by").prefetch_related(corrections)[:200])


def is_referral_record(action: ActionLog) -> bool:
    """Was this entry written by recording or updating a referral (`services.referral_record`,
    `services.referral_update`), rather than logged by hand as the kind "Referral"?"""
    return action.referral_id is not None or (
        action.kind == ActionLog.Kind.REFERRAL and action.title != ActionLog.Kind.REFERRAL.label
    )


def details_withheld(*, access: Access, action: ActionLog) -> bool:
    """Is what this logged action says kept from this person? A referral's: who a child was referred to
    (children's social care, CAMHS) and what came of it are for those who see the referrals list, and
    for whoever logged it. Everyone sees that there was one, when, and by whom."""
    return action.kind == ActionLog.Kind.REFERRAL and not access.can("view_lists") and action.by_id != access.user.pk


def may_correct(*, access: Access, action: ActionLog) -> bool:
    """May this person correct this logged action (`services.action_correct`)?

    The person who logged it, and those who answer for the record (who manage
    stages: the attendance lead, senior leaders, the DSL) whoever logged it.
    Not the entry recording a referral (`is_referral_record`): it follows the
    referral, updated on the referrals list.
    """
    if not access.can("log_action") or is_referral_record(action):
        return False  # it follows its referral, changed on the referrals list
    return access.can("manage_stages") or (action.by_id is not None and action.by_id == access.user.pk)


def pupil_open_tasks(*, pupil: Pupil) -> list[Task]:
    return list(Task.objects.filter(pupil=pupil, status=Task.Status.OPEN).select_related("assigned_to", "pupil"))


def pupil_record(*, pupil: Pupil, ladder: Ladder | None, on: date) -> PupilRecord:
    """Everything the pupil page shows, in a fixed number of queries."""
    calendar = school_calendar(pupil.school)
    year_start, _ = calendar.academic_year_window(on)
    half_start, _ = calendar.half_term_window(on)
    marks = [
        stats.MarkFact(d, s, c)
        for d, s, c in AttendanceMark.objects.filter(pupil=pupil, date__gte=year_start, date__lte=on).values_list(
            "date", "session", "code"
        )
    ]
    window = {
        "on_roll_from": pupil.start_on,
        "on_roll_to": pupil.leaving_on,
        "born": pupil.date_of_birth,
        "session_minutes": pupil.school.session_minutes,
    }
    year = stats.summarise(marks, start=year_start, end=on, **window)
    half_term = stats.summarise(marks, start=half_start, end=on, **window)
    placement = (
        Placement.objects.filter(pupil=pupil, ladder=ladder).select_related("stage").first()
        if ladder is not None
        else None
    )
    changes = StageChange.objects.filter(pupil=pupil).select_related(
        "from_stage", "to_stage", "decided_by", "ladder", "kept_from"
    )
    return PupilRecord(
        placement=placement,
        year=year,
        half_term=half_term,
        heatmap=_heatmap(marks, calendar=calendar, start=year_start, end=on, pupil=pupil),
        timeline=_timeline(changes, ladder),
        # The active ladder's: a move left pending on a ladder no longer in use is not one to decide.
        proposals=list(
            Proposal.objects.filter(pupil=pupil, status=Proposal.Status.PENDING, ladder=ladder).select_related(
                "to_stage", "from_stage"
            )
        ),
        declined=_resting(
            Proposal.objects.filter(pupil=pupil, status=Proposal.Status.DECLINED, decided_at__isnull=False)
            .select_related("to_stage", "decided_by")
            .order_by("-decided_at")[:50],
            calendar=calendar,
            on=on,
        ),
        actions=pupil_actions(pupil=pupil),
        tasks=pupil_open_tasks(pupil=pupil),
        letters=list(pupil.letters.select_related("template").order_by("-created_at")[:50]),
        contacts=list(pupil.contacts.all()),
        flags=list(pupil.flags.all()),
    )


def _resting(declined: Iterable[Proposal], *, calendar: SchoolCalendar, on: date) -> list[Proposal]:
    """The declined proposals, each with `back_on` (`decline_back_on`) while the night still lets it rest
    on `on`'s night and after, else None: the latest decline of a move is the one that rests."""
    seen: set[str] = set()
    rows = list(declined)
    for proposal in sorted(rows, key=lambda p: p.decided_at, reverse=True):
        declined_on = timezone.localdate(proposal.decided_at)
        latest = proposal.to_stage.key not in seen
        seen.add(proposal.to_stage.key)
        resting = latest and decline_rests_until(calendar=calendar, declined_on=declined_on) >= on
        proposal.back_on = decline_back_on(calendar=calendar, declined_on=declined_on) if resting else None
    return rows


_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri")


def _heatmap(
    marks: list[stats.MarkFact], *, calendar: SchoolCalendar, start: date, end: date, pupil: Pupil
) -> list[tuple[date, list[HeatCell | None]]]:
    """One row per school week the pupil was on roll: ten cells, Monday AM to Friday PM (None on non-school days).

    A school day before the pupil joined, or after they left, is "not on roll", not a session still to mark.
    """
    table = codes.code_table()
    by_slot = {(m.date, m.session): m.code for m in marks}
    rows: list[tuple[date, list[HeatCell | None]]] = []
    joined, left = pupil.start_on, pupil.leaving_on or date.max
    start = max(start, monday_of(joined))
    if pupil.leaving_on is not None:  # to the end of the week they left
        end = min(end, left + timedelta(days=6 - left.weekday()))
    monday = start - timedelta(days=start.weekday())
    while monday <= end:
        cells: list[HeatCell | None] = []
        any_school_day = False
        for offset in range(5):
            day = monday + timedelta(days=offset)
            school_day = calendar.is_school_day(day) and start <= day <= end
            any_school_day = any_school_day or school_day
            for session in (0, 1):
                code = by_slot.get((day, session))
                if not school_day and code is None:
                    cells.append(None)
                    continue
                slot = f"{_DAY_NAMES[offset]} {day:%-d %b} {'AM' if session == 0 else 'PM'}"
                if code is None and not joined <= day <= left:
                    cells.append(HeatCell(day, session, "", "mark-off-roll", f"{slot}: not on roll"))
                    continue
                meaning = table.get(code or "")
                css = f"mark-{meaning.category.value}" if meaning else "mark-none"
                words = f"{code} {meaning.description}" if meaning else "no mark yet"
                cells.append(HeatCell(day, session, code or "", css, f"{slot}: {words}"))
        if any_school_day:
            rows.append((monday, cells))
        monday += timedelta(days=7)
    return rows


# --- across schools (a trust or an LA) --------------------------------------------------


@dataclass(frozen=True)
class SchoolRow:
    """One school on the list of a person's schools: how its last night went, and, where the person may see
    whole-school figures, the year to date as the last good night left it and the work waiting."""

    school: School
    night: NightStatus
    shown: bool
    #: The chart's latest week: its year-to-date figures. None if hidden, or no night has drawn a week yet.
    week: SchoolWeek | None = None
    awaiting_approval: int = 0
    overdue_tasks: int = 0

    @property
    def attendance_below_national(self) -> bool:
        return _beyond_national(self.week and self.week.year_attendance_pct, settings.NATIONAL_ATTENDANCE_PCT) < 0

    @property
    def persistent_above_national(self) -> bool:
        figure = self.week and self.week.persistent_absence_pct
        return _beyond_national(figure, settings.NATIONAL_PERSISTENT_ABSENCE_PCT) > 0


def _beyond_national(figure: Decimal | None, national: float) -> int:
    """-1, 0 or 1: a school's figure below, at or above the national one, both as printed (one place). The
    national figure is a setting (a float a hair off the printed figure), so it is compared as it reads."""
    if figure is None:
        return 0
    printed = stats.pct_as_printed(figure)
    national_printed = Decimal(str(national))
    return (printed > national_printed) - (printed < national_printed)


#: How the list of schools can be ordered besides by name: the figure, worst first.
SCHOOL_ORDERS: dict[str, tuple[str, bool]] = {
    "attendance": ("year_attendance_pct", False),  # lowest first
    "persistent": ("persistent_absence_pct", True),  # highest first
    "severe": ("severe_absence_pct", True),
    "awaiting": ("awaiting_approval", True),  # most first: moves a person has yet to decide
    "overdue": ("overdue_tasks", True),
}


def schools_compared(
    *, schools: Sequence[School], shown: Collection[int], today: date, order: str = "name"
) -> list[SchoolRow]:
    """The person's schools side by side: the figures only of those in `shown` (ids), in a fixed number of
    queries however many schools. Ordered by name, or worst first by one of SCHOOL_ORDERS
    (schools without that figure last, by name)."""
    ids = [school.pk for school in schools if school.pk in shown]
    latest = SchoolWeek.objects.filter(school=OuterRef("pk"), week_start__lte=today).order_by("-week_start")
    week_ids = School.objects.filter(pk__in=ids).annotate(week=Subquery(latest.values("pk")[:1]))
    weeks = {w.school_id: w for w in SchoolWeek.objects.filter(pk__in=week_ids.values("week"))}
    waiting = dict(
        Proposal.objects.filter(ladder__school__in=ids, ladder__is_active=True, status=Proposal.Status.PENDING)
        .values_list("ladder__school")
        .annotate(n=Count("pk"))
        .order_by()
    )
    overdue = dict(
        Task.objects.filter(Task.overdue_on(today), school__in=ids)
        .values_list("school")
        .annotate(n=Count("pk"))
        .order_by()
    )
    nights = nightly_statuses(schools)
    rows = [
        SchoolRow(
            school=school,
            night=nights[school.pk],
            shown=school.pk in shown,
            week=weeks.get(school.pk),
            awaiting_approval=waiting.get(school.pk, 0),
            overdue_tasks=overdue.get(school.pk, 0),
        )
        for school in sorted(schools, key=lambda s: (s.name, s.urn))
    ]
    if order in SCHOOL_ORDERS:
        field, highest_first = SCHOOL_ORDERS[order]

        def worst_first(row: SchoolRow) -> tuple[bool, Decimal | int]:
            value = _figure(row, field)
            if value is None:
                return (True, 0)
            return (False, -value if highest_first else value)

        rows.sort(key=worst_first)  # stable: ties stay by name
    return rows


def _figure(row: SchoolRow, field: str) -> Decimal | int | None:
    """A school's figure by its SCHOOL_ORDERS name: its chart week's, or the work waiting; None where the
    person may not see it, or no night has drawn a week yet."""
    if not row.shown:
        return None
    source = row.week if hasattr(SchoolWeek, field) else row
    return getattr(source, field) if source is not None else None
