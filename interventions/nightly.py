"""The nightly job for one school: statistics, placement, tasks, letters, figures.

`nightly_run` is what `manage.py run_nightly` and the Celery task call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from pupils.models import Pupil, School

from .models import Ladder, NightlyRun, Placement, Proposal, SchoolWeek, Stage, StageChange
from .rules import Decision, LadderSpec, decide
from .selectors import SchoolFacts, current_placements, ladder_spec, school_facts, school_figures
from .services import active_ladder, class_teachers_by_group, stage_enter, stage_work_create


@dataclass
class NightResult:
    pupils: int = 0
    moved: int = 0
    proposed: int = 0
    tasks_created: int = 0
    letters_queued: int = 0
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> str:
        return json.dumps(
            {
                "pupils": self.pupils,
                "moved": self.moved,
                "proposed": self.proposed,
                "tasks_created": self.tasks_created,
                "letters_queued": self.letters_queued,
            }
        )


def evaluate_school(*, school: School, ladder: Ladder, as_of: date) -> tuple[SchoolFacts, LadderSpec, dict[int, Any]]:
    """Facts, spec and current placements: what both the night and a simulation start from."""
    spec = ladder_spec(ladder)
    facts = school_facts(school=school, spec=spec, as_of=as_of)
    return facts, spec, current_placements(ladder=ladder)


def nightly_run(*, school: School, as_of: date) -> NightlyRun:
    """Recompute every pupil's stage on the school's active ladder as of `as_of`, and record the run.

    One transaction for the school's work: a crash leaves nothing half done, and
    re-running the same night creates nothing new (the moves it already made
    mean no stage is newly indicated; unique constraints back this up).
    Raises ValidationError if the school has no active ladder.
    """
    ladder = active_ladder(school)
    if ladder is None:
        raise ValidationError(f"{school.name} has no active ladder: load one with load_ladder --activate.")
    run = NightlyRun.objects.create(school=school, run_on=as_of, started_at=timezone.now())
    try:
        with transaction.atomic():
            result = _place_pupils(school=school, ladder=ladder, as_of=as_of)
    except Exception as exc:
        run.status = NightlyRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        raise
    run.status = NightlyRun.Status.DONE
    run.finished_at = timezone.now()
    for name in ("pupils", "moved", "proposed", "tasks_created", "letters_queued"):
        setattr(run, name, getattr(result, name))
    run.save()
    return run


def _place_pupils(*, school: School, ladder: Ladder, as_of: date) -> NightResult:
    facts, spec, placements = evaluate_school(school=school, ladder=ladder, as_of=as_of)
    stages = {s.key: s for s in ladder.stages.all()}
    pending = {p.pupil_id: p for p in Proposal.objects.filter(ladder=ladder, status=Proposal.Status.PENDING)}
    teachers = class_teachers_by_group(school)
    result = NightResult(pupils=len(facts.pupils))
    for pupil in facts.pupils:
        row, current = placements.get(pupil.pk, (None, None))
        decision = decide(spec, facts.facts[pupil.pk], current, as_of=as_of, calendar=facts.calendar)
        ytd = facts.year_to_date(pupil.pk, spec)
        if decision.moved:
            change = stage_enter(
                pupil=pupil,
                ladder=ladder,
                placement=row,
                stage=stages[decision.stage_key],
                on=as_of,
                kind=StageChange.Kind.INITIAL if row is None else StageChange.Kind.AUTOMATIC,
                reasons=list(decision.reasons),
                entry_pct=ytd,
            )
            result.moved += 1
            tasks, letters = stage_work_create(change=change, calendar=facts.calendar, teachers=teachers, user=None)
            result.tasks_created += tasks
            result.letters_queued += letters
        elif row is not None and row.improving_since != decision.improving_since:
            row.improving_since = decision.improving_since
            row.save(update_fields=["improving_since", "updated_at"])
        result.proposed += _record_proposal(
            pupil=pupil, ladder=ladder, decision=decision, stages=stages, pending=pending.get(pupil.pk), on=as_of
        )
    _save_figures(school=school, ladder=ladder, facts=facts, spec=spec, as_of=as_of)
    return result


def _save_figures(*, school: School, ladder: Ladder, facts: SchoolFacts, spec: LadderSpec, as_of: date) -> None:
    """Last night's figures per pupil and per school week, for dashboards and class lists."""
    figures = school_figures(facts=facts, spec=spec)
    rows = list(Placement.objects.filter(ladder=ladder, pupil_id__in=figures.pupils))
    for row in rows:
        f = figures.pupils[row.pupil_id]
        row.attendance_pct = _round(f.attendance_pct)
        row.attendance_change = _round(f.attendance_change)
        row.lates_half_term = f.lates_half_term
        row.persistent = f.persistent
        row.severe = f.severe
        row.computed_on = as_of
    fields_ = ["attendance_pct", "attendance_change", "lates_half_term", "persistent", "severe", "computed_on"]
    Placement.objects.bulk_update(rows, fields_, batch_size=500)
    SchoolWeek.objects.bulk_create(
        [
            SchoolWeek(
                school=school,
                week_start=w.week_start,
                attendance_pct=_round(w.attendance_pct),
                persistent_absence_pct=_round(w.persistent_absence_pct),
                pupils=w.pupils,
            )
            for w in figures.weeks
        ],
        update_conflicts=True,
        unique_fields=["school", "week_start"],
        update_fields=["attendance_pct", "persistent_absence_pct", "pupils"],
    )


def _round(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _record_proposal(
    *, pupil: Pupil, ladder: Ladder, decision: Decision, stages: dict[str, Stage], pending: Proposal | None, on: date
) -> int:
    """Keep one pending proposal per pupil in step with tonight's decision. Returns 1 if a new one was made."""
    if pending is not None:
        if decision.proposal == pending.to_stage.key:
            return 0
        pending.status = Proposal.Status.WITHDRAWN
        pending.decided_at = timezone.now()
        pending.decision_reason = "No longer indicated by the data"
        pending.save(update_fields=["status", "decided_at", "decision_reason"])
    if decision.proposal is None:
        return 0
    placement = Placement.objects.filter(pupil=pupil, ladder=ladder).select_related("stage").first()
    Proposal.objects.create(
        pupil=pupil,
        ladder=ladder,
        from_stage=placement.stage if placement else None,
        to_stage=stages[decision.proposal],
        proposed_on=on,
        reasons=list(decision.proposal_reasons),
    )
    return 1
