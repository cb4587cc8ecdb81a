"""Reads for the ladder engine: turn a school's register into `PupilFacts`, set-based."""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Max

from pupils import statistics as stats
from pupils.calendar import SchoolCalendar
from pupils.codes import ABSENT, codes_in
from pupils.models import AttendanceMark, Pupil, School
from pupils.selectors import pupils_on_roll, school_weekly_counts
from pupils.services import school_calendar

from .models import ActionLog, Ladder, Placement
from .rules import CurrentPlacement, Evaluator, LadderSpec, PupilFacts, measure


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


def school_facts(*, school: School, spec: LadderSpec, as_of: date) -> SchoolFacts:
    """Everything the engine needs for every pupil on roll on `as_of`, in a fixed number of queries."""
    calendar = school_calendar(school)
    weeks_back = max((_weeks_needed(s.criteria) for s in spec.stages), default=0)
    year_start = calendar.academic_year_window(as_of)[0]
    start = min(year_start, calendar.school_weeks_back(as_of, weeks_back + 1)[0] if weeks_back else year_start)
    pupils = list(
        pupils_on_roll(school=school, on=as_of)
        .select_related("registration_group", "year_group")
        .prefetch_related("flags")
        .order_by("upn")
    )
    weekly = school_weekly_counts(school=school, start=start, end=as_of)
    runs = _absence_runs(school=school, pupils=pupils, calendar=calendar, as_of=as_of)
    contacts = dict(
        ActionLog.objects.filter(school=school, kind__in=ActionLog.FAMILY_CONTACT, occurred_on__lte=as_of)
        .values("pupil_id")
        .annotate(last=Max("occurred_on"))
        .values_list("pupil_id", "last")
    )
    facts: dict[int, PupilFacts] = {}
    for pupil in pupils:
        flags = {f.key for f in pupil.flags.all()}
        if pupil.sen == Pupil.Sen.SUPPORT:
            flags.add("sen_support")
        if pupil.sen == Pupil.Sen.EHCP:
            flags.add("ehcp")
        run_days, run_start = runs.get(pupil.pk, (0, None))
        facts[pupil.pk] = PupilFacts(
            pupil_id=pupil.pk,
            weeks=weekly.get(pupil.pk, {}),
            flags=frozenset(flags),
            absence_run_days=run_days,
            absence_run_started_on=run_start,
            last_family_contact_on=contacts.get(pupil.pk),
        )
    _rank(facts, calendar=calendar, as_of=as_of, min_possible=spec.min_possible)
    return SchoolFacts(as_of=as_of, calendar=calendar, pupils=pupils, facts=facts)


def _rank(facts: dict[int, PupilFacts], *, calendar: SchoolCalendar, as_of: date, min_possible: int) -> None:
    """Fill each pupil's percentile rank for year-to-date attendance (share of pupils strictly below)."""
    pcts: dict[int, Decimal] = {}
    for pupil_id, f in facts.items():
        totals = Evaluator(f, calendar, as_of, min_possible, None).totals("year")
        if totals.possible >= min_possible and totals.attendance_pct is not None:
            pcts[pupil_id] = totals.attendance_pct
    ordered = sorted(pcts.values())
    n = len(ordered)
    for pupil_id, pct in pcts.items():
        below = bisect.bisect_left(ordered, pct)
        object.__setattr__(facts[pupil_id], "attendance_rank_pct", below * 100 / n)


def _absence_runs(
    *, school: School, pupils: list[Pupil], calendar: SchoolCalendar, as_of: date
) -> dict[int, tuple[int, date | None]]:
    """Current runs of whole days absent, for pupils absent on the latest school day only.

    Most pupils were present on the last school day, so only the few who were
    absent need their recent marks read.
    """
    last_day = as_of if calendar.is_school_day(as_of) else calendar.previous_school_day(as_of)
    if last_day is None:
        return {}
    absent_codes = codes_in(*ABSENT)
    absent_ids = set(
        AttendanceMark.objects.filter(pupil__school=school, date=last_day, code__in=absent_codes).values_list(
            "pupil_id", flat=True
        )
    )
    if not absent_ids:
        return {}
    by_pupil: dict[int, list[stats.MarkFact]] = defaultdict(list)
    for pupil_id, day, session, code in AttendanceMark.objects.filter(
        pupil_id__in=absent_ids, date__gte=as_of - timedelta(days=120), date__lte=as_of
    ).values_list("pupil_id", "date", "session", "code"):
        by_pupil[pupil_id].append(stats.MarkFact(day, session, code))
    result = {}
    for pupil in pupils:
        if pupil.pk in by_pupil:
            result[pupil.pk] = stats.consecutive_days_absent(
                by_pupil[pupil.pk],
                calendar=calendar,
                as_of=as_of,
                on_roll_from=pupil.start_on,
                on_roll_to=pupil.leaving_on,
            )
    return result


def current_placements(*, ladder: Ladder) -> dict[int, tuple[Placement, CurrentPlacement]]:
    rows = Placement.objects.filter(ladder=ladder).select_related("stage")
    return {
        p.pupil_id: (
            p,
            CurrentPlacement(
                stage_key=p.stage.key,
                since=p.since,
                entry_attendance_pct=p.entry_attendance_pct,
                improving_since=p.improving_since,
            ),
        )
        for p in rows
    }


@dataclass(frozen=True)
class PupilFigures:
    attendance_pct: Decimal | None
    attendance_change: Decimal | None
    lates_half_term: int
    persistent: bool
    severe: bool


@dataclass(frozen=True)
class WeekFigures:
    week_start: date
    attendance_pct: Decimal | None
    persistent_absence_pct: Decimal | None
    pupils: int


@dataclass(frozen=True)
class SchoolFigures:
    pupils: dict[int, PupilFigures]
    weeks: list[WeekFigures]


TREND_WEEKS = 4


def school_figures(*, facts: SchoolFacts, spec: LadderSpec) -> SchoolFigures:
    """Per-pupil headline figures and whole-school weekly figures, from the night's facts (no queries)."""
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
    return SchoolFigures(pupils=pupils, weeks=_weekly_school_figures(facts))


def _weekly_school_figures(facts: SchoolFacts) -> list[WeekFigures]:
    year_start = facts.calendar.academic_year_window(facts.as_of)[0]
    mondays = sorted({m for f in facts.facts.values() for m in f.weeks if m >= year_start - timedelta(days=6)})
    attended = dict.fromkeys(mondays, 0)
    possible = dict.fromkeys(mondays, 0)
    persistent = dict.fromkeys(mondays, 0)
    counted = dict.fromkeys(mondays, 0)
    for f in facts.facts.values():
        so_far = stats.AttendanceSummary()
        for monday in mondays:
            week = f.weeks.get(monday)
            if week is not None:
                attended[monday] += week.attended
                possible[monday] += week.possible
                so_far = week + so_far if so_far.possible else week
            if so_far.possible:
                counted[monday] += 1
                persistent[monday] += so_far.persistent
    return [
        WeekFigures(
            week_start=m,
            attendance_pct=Decimal(attended[m] * 100) / possible[m] if possible[m] else None,
            persistent_absence_pct=Decimal(persistent[m] * 100) / counted[m] if counted[m] else None,
            pupils=counted[m],
        )
        for m in mondays
    ]
