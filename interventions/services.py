"""Every write to ladders, placements, proposals, tasks and logged actions."""

from __future__ import annotations

import dataclasses
import functools
import operator
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import reduce
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.text import Truncator

from pupils.access import PERMISSIONS
from pupils.calendar import SchoolCalendar
from pupils.codes import UNEXPLAINED
from pupils.models import AttendanceMark, Pupil, School, StaffMembership
from pupils.people import person_name
from pupils.services import school_calendar
from pupils.statistics import format_pct

from .ladder_format import LadderCheck, Problem, validate_ladder, yaml_problem
from .models import ActionCorrection, ActionLog, Ladder, Placement, Proposal, Referral, Stage, StageChange, Task
from .rules import Evaluator, LadderSpec, decide, given_on_entry, only_while_unexplained, stage_letters
from .selectors import (
    current_placements,
    declined_lately,
    kept_lineage,
    logged_as_does,
    school_facts,
    task_done_log,
    task_reopen_refusal,
    task_stage_left,
    undo_refusal,
)
from .signals import action_corrected, letter_templates_requested, stage_entered, stage_letters_given

SHIPPED_DIR = Path(__file__).resolve().parent / "ladders"
SHIPPED = ("kirkby", "generic", "mickley", "sherrier", "firs", "dfe")
STAGE_FIELDS = ("label", "colour", "track", "description", "roles", "entry", "criteria", "actions", "letters")


class LadderError(Exception):
    """A ladder file that cannot be loaded; `problems` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


# --- ladders as files -------------------------------------------------------


def ladder_file_text(name_or_path: str) -> str:
    """The text of a shipped ladder by name, or of a YAML/JSON file. Raises LadderError if unreadable."""
    shipped = name_or_path.strip().lower()  # "DfE" is the dfe ladder
    path = SHIPPED_DIR / f"{shipped}.yaml" if shipped in SHIPPED else Path(name_or_path)
    if not path.exists():
        raise LadderError(
            [Problem("file", f"{name_or_path!r} is neither a shipped ladder ({', '.join(SHIPPED)}) nor a file")]
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LadderError([Problem(f"file {path.name}", f"not text in UTF-8: {exc}")]) from exc


def ladder_file_read(name_or_path: str) -> dict[str, Any]:
    """Read a shipped ladder by name, or a YAML/JSON file. Raises LadderError if unreadable."""
    text = ladder_file_text(name_or_path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        name = Path(name_or_path).name
        raise LadderError([Problem(f"file {name}", f"not valid YAML or JSON, at {yaml_problem(exc)}")]) from exc


def letter_names(school: School | None) -> dict[str, str]:
    """Key -> name of the letter templates the school's ladders may name (the letters app answers)."""
    names: dict[str, str] = {}
    for _, answer in letter_templates_requested.send(sender=Ladder, school=school):
        names.update(answer)
    return names


def ladder_check(*, school: School | None, document: Any) -> LadderCheck:
    """Validate a ladder document for a school (letter templates included)."""
    return validate_ladder(document, letter_keys=letter_names(school))


def ladder_document(ladder: Ladder) -> dict[str, Any]:
    """The ladder as a file document (what export writes and the engine reads)."""
    doc: dict[str, Any] = {"key": ladder.key, "name": ladder.name}
    if ladder.source:
        doc["source"] = ladder.source
    if ladder.description:
        doc["description"] = ladder.description
    doc.update(ladder.settings)
    stages = []
    for stage in ladder.stages.order_by("position"):
        item: dict[str, Any] = {"key": stage.key, "name": stage.name}
        for name in STAGE_FIELDS:
            item[name] = getattr(stage, name)
        if stage.review_every_weeks:
            item["review_every_weeks"] = stage.review_every_weeks
        if stage.monitoring:
            item["monitoring"] = stage.monitoring
        item.update(stage.extra)
        stages.append(item)
    doc["stages"] = stages
    return doc


class _ReadableDumper(yaml.SafeDumper):
    """Multi-line text as `|` blocks and short criteria on one line, so the file reads like the shipped ones."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


def _short(value: dict[str, Any] | list[Any]) -> bool:
    """Scalars only, and short: written on one line, like `{below: 95, at_least: 93}` in the format's docs."""
    items = list(value.values()) if isinstance(value, dict) else value
    parts = [f"{k}: {v}" for k, v in value.items()] if isinstance(value, dict) else [str(v) for v in value]
    return all(not isinstance(v, dict | list) for v in items) and len(", ".join(parts)) <= 70


def _dict(dumper: yaml.SafeDumper, value: dict[str, Any]) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=bool(value) and _short(value))


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=not value or _short(value))


_ReadableDumper.add_representer(str, _str)
_ReadableDumper.add_representer(dict, _dict)
_ReadableDumper.add_representer(list, _list)


def ladder_export(ladder: Ladder) -> str:
    """The ladder as a YAML file to edit or download. It loads back to exactly `ladder_document`."""
    return yaml.dump(ladder_document(ladder), Dumper=_ReadableDumper, sort_keys=False, allow_unicode=True, width=100)


@transaction.atomic
def ladder_load(*, school: School, document: Any, activate: bool = False) -> tuple[Ladder, LadderCheck]:
    """Create or replace a school's ladder from a document. All or nothing.

    Raises LadderError (and changes nothing) if the document has errors.
    Reloading a ladder keeps stages by key, so placements survive; a stage
    that pupils stand on cannot be removed. Idempotent.
    """
    check = ladder_check(school=school, document=document)
    if not check.ok or check.resolved is None:
        raise LadderError(check.errors)
    doc = check.resolved
    settings = {k: doc[k] for k in ("to_confirm", "min_possible_sessions", "descent") if k in doc}
    ladder, _ = Ladder.objects.update_or_create(
        school=school,
        key=doc["key"],
        defaults={
            "name": doc["name"],
            "description": doc.get("description", ""),
            "source": doc.get("source", "")[:200],
            "settings": settings,
        },
    )
    wanted = {s["key"] for s in doc["stages"]}
    if kept := _stages_kept(ladder, wanted):
        raise LadderError(kept)
    ladder.stages.exclude(key__in=wanted).delete()
    # Positions are unique: park the kept stages out of the way before renumbering.
    for offset, stage in enumerate(Stage.objects.filter(ladder=ladder).order_by("position")):
        Stage.objects.filter(pk=stage.pk).update(position=1000 + offset)
    for position, item in enumerate(doc["stages"]):
        Stage.objects.update_or_create(ladder=ladder, key=item["key"], defaults=_stage_fields(position, item))
    if activate:
        ladder_activate(ladder=ladder)
    return ladder, check


def _stage_fields(position: int, item: dict[str, Any]) -> dict[str, Any]:
    """A Stage row's fields from its place in a checked ladder document and what the document says of it."""
    known = {"key", "name", "review_every_weeks", "monitoring", *STAGE_FIELDS}
    return {
        "position": position,
        "name": item["name"],
        "review_every_weeks": item.get("review_every_weeks"),
        "monitoring": item.get("monitoring", ""),
        "extra": {k: v for k, v in item.items() if k not in known},
        **{name: item.get(name, Stage._meta.get_field(name).get_default()) for name in STAGE_FIELDS},
    }


def document_stages(*, school: School, document: dict[str, Any]) -> list[Stage]:
    """The stages a ladder document would load as, unsaved: to show a ladder the school has not loaded
    (a shipped one) as its own would be shown. Raises LadderError for a document with errors."""
    check = ladder_check(school=school, document=document)
    if not check.ok or check.resolved is None:
        raise LadderError(check.errors)
    return [
        Stage(key=item["key"], **_stage_fields(position, item))
        for position, item in enumerate(check.resolved["stages"])
    ]


_COPY_SUFFIX = re.compile(r"-copy(-\d+)?$")


def ladder_copied_from(key: str) -> str:
    """The key a copy was made from: `sherrier-copy-2` -> `sherrier` (a key that is no copy: itself)."""
    return _COPY_SUFFIX.sub("", key)


def ladder_copy_key(*, school: School, key: str) -> str:
    """A free key for a copy: `sherrier` -> `sherrier-copy`, then `sherrier-copy-2`, ..."""
    base = ladder_copied_from(key)[:48] or "ladder"
    taken = set(Ladder.objects.filter(school=school, key__startswith=base).values_list("key", flat=True))
    candidate, n = f"{base}-copy", 2
    while candidate in taken:
        candidate, n = f"{base}-copy-{n}", n + 1
    return candidate


@transaction.atomic
def ladder_copy(*, school: School, document: dict[str, Any]) -> tuple[Ladder, LadderCheck]:
    """Load a copy of a ladder document (shipped or the school's own) under a new key. Never activates it.

    The copy never overwrites an existing ladder: it takes the first free `<key>-copy[-N]`.
    Raises LadderError if the document has errors.
    """
    # One copy at a time per school, so two people copying at once get two different keys.
    School.objects.select_for_update().filter(pk=school.pk).first()
    key = ladder_copy_key(school=school, key=str(document.get("key") or "ladder"))
    name = str(document.get("name") or key)
    copy = {**document, "key": key, "name": name if name.endswith("(copy)") else f"{name[:190]} (copy)"}
    return ladder_load(school=school, document=copy)


def _stages_kept(ladder: Ladder, wanted: set[str]) -> list[Problem]:
    """A problem for each stage of `ladder` a document keeping only `wanted` would remove, but that must stay:
    pupils stand on it, or their records (moves, moves proposed) name it, and records are never deleted."""
    problems = []
    for stage in ladder.stages.exclude(key__in=wanted).order_by("position"):
        if stage.placements.exists():
            problems.append(
                Problem(f"stage {stage.key!r}", "pupils stand on this stage, so it cannot be removed; move them first")
            )
        elif any(
            model.objects.filter(Q(from_stage=stage) | Q(to_stage=stage)).exists() for model in (StageChange, Proposal)
        ):
            problems.append(
                Problem(
                    f"stage {stage.key!r}",
                    "pupils' records name this stage (moves made or proposed from or to it), so it stays on "
                    "this ladder. To stop using it, copy the ladder, leave the stage out of the copy and "
                    "activate the copy",
                )
            )
    return problems


def ladder_edit_check(*, ladder: Ladder, document: dict[str, Any]) -> tuple[dict[str, Any], LadderCheck]:
    """Everything saving an edit checks, saving nothing: (the document as it would be saved, its check).

    Raises LadderError as `ladder_edit` would: the document has errors, tries to change the key, or
    removes a stage that pupils stand on.
    """
    key = document.get("key", ladder.key)
    if key != ladder.key:
        raise LadderError(
            [
                Problem(
                    "ladder, field key", f"the key must stay {ladder.key!r} here; to make a new ladder, copy this one"
                )
            ]
        )
    edited = {**document, "key": ladder.key}
    check = ladder_check(school=ladder.school, document=edited)
    if not check.ok or check.resolved is None:
        raise LadderError(check.errors)
    if kept := _stages_kept(ladder, {stage["key"] for stage in check.resolved["stages"]}):
        raise LadderError(kept)
    return edited, check


@transaction.atomic
def ladder_edit(*, ladder: Ladder, document: dict[str, Any]) -> tuple[Ladder, LadderCheck]:
    """Replace a school's ladder with an edited document, keeping its key and whether it is active.

    Raises LadderError, changing nothing, if the document has errors, tries to change the key, or
    removes a stage that pupils stand on (`ladder_edit_check`). Idempotent.
    """
    edited, _ = ladder_edit_check(ladder=ladder, document=document)
    return ladder_load(school=ladder.school, document=edited)


@dataclass(frozen=True)
class ActivationPlan:
    """What making a ladder active keeps, leaves to the night, and withdraws (`activation_plan`).

    The page that asks to confirm shows it; `ladder_activate` carries it out and returns it.
    """

    replaced: Ladder | None
    #: The replaced ladder's placements at a stage whose key this ladder has: kept there.
    keep: list[Placement] = field(default_factory=list)
    #: The replaced ladder's pupils at a stage this ladder lacks: tonight's run places them.
    left_to_place: int = 0
    #: Moves awaiting approval between two stages this ladder has, from where the pupil will stand.
    keep_proposals: list[Proposal] = field(default_factory=list)
    #: The other moves awaiting approval on the ladders it replaces: no one could decide them.
    withdrawn: int = 0

    @property
    def kept(self) -> int:
        return len(self.keep)

    @property
    def proposals_kept(self) -> int:
        return len(self.keep_proposals)


def activation_plan(*, ladder: Ladder) -> ActivationPlan:
    """What making `ladder` active would do. Reads only.

    A pupil at a stage of the ladder it replaces whose key this ladder also has
    stays at that stage; pupils already on `ladder` (it was active before) stay
    where it has them. A move awaiting approval is kept where both its stages
    are this ladder's and the pupil will stand at the first.
    """
    pending = replaced_proposals(ladder=ladder)
    replaced = Ladder.objects.filter(school=ladder.school, is_active=True).exclude(pk=ladder.pk).first()
    if replaced is None:
        return ActivationPlan(None, withdrawn=pending.count())
    keys = {stage.key for stage in ladder.stages.all()}
    standing = dict(Placement.objects.filter(ladder=ladder).values_list("pupil_id", "stage__key"))
    theirs = list(
        Placement.objects.filter(ladder=replaced, pupil__school=ladder.school)
        .exclude(pupil_id__in=list(standing))
        .select_related("stage")
    )
    keep = [placement for placement in theirs if placement.stage.key in keys]
    standing.update((placement.pupil_id, placement.stage.key) for placement in keep)
    proposals = list(pending.select_related("from_stage", "to_stage"))
    keep_proposals = [
        proposal
        for proposal in proposals
        if proposal.ladder_id == replaced.pk
        and proposal.from_stage is not None
        and {proposal.from_stage.key, proposal.to_stage.key} <= keys
        and standing.get(proposal.pupil_id) == proposal.from_stage.key
    ]
    return ActivationPlan(
        replaced,
        keep=keep,
        left_to_place=len(theirs) - len(keep),
        keep_proposals=keep_proposals,
        withdrawn=len(proposals) - len(keep_proposals),
    )


@transaction.atomic
def ladder_activate(*, ladder: Ladder, user: Any = None, on: date | None = None) -> ActivationPlan:
    """Make this the school's active ladder (one per school), as `activation_plan` says. Idempotent.

    Pupils kept at a stage with the same key keep it as of the same day, with
    nothing given again (`_stages_keep`): a school that edits a copy of its
    ladder and activates it does not send every family the same letter twice.
    The night places everyone else from scratch, with their stage's work.
    Moves awaiting approval that no one could decide any more are withdrawn,
    saying why. Tasks stay: they are work staff may have begun. Returns what it did.
    """
    plan = activation_plan(ladder=ladder)
    Ladder.objects.filter(school=ladder.school, is_active=True).exclude(pk=ladder.pk).update(is_active=False)
    if not ladder.is_active:
        ladder.is_active = True
        ladder.save(update_fields=["is_active"])
    if plan.replaced is not None:
        _stages_keep(plan, ladder=ladder, on=on or timezone.localdate(), user=user)
        _proposals_keep(plan, ladder=ladder)
    replaced_proposals(ladder=ladder).update(
        status=Proposal.Status.WITHDRAWN,
        decided_at=timezone.now(),
        decision_reason=f"The school's ladder is now {ladder.name}",
    )
    return plan


def _stages_keep(plan: ActivationPlan, *, ladder: Ladder, on: date, user: Any) -> None:
    """Place the plan's kept pupils on `ladder` at the stage with the same key.

    Each keeps the day they came to the stage, its reasons, and last night's
    figures, so the dashboard is right at once; a KEPT stage change records it,
    linked to the change that put them there (`kept_from`), whose tasks,
    letters and reviews count as given here.
    """
    if not plan.keep:
        return
    stages = {stage.key: stage for stage in ladder.stages.all()}
    standing = {placement.pupil_id: placement.stage_id for placement in plan.keep}
    came: dict[int, int | None] = {}  # pupil -> the change that put them at their stage on the replaced ladder
    for pupil_id, change_id, to_stage_id in (
        StageChange.objects.filter(ladder=plan.replaced, pupil_id__in=list(standing))
        .order_by("pupil_id", "-on", "-created_at", "-pk")
        .values_list("pupil_id", "pk", "to_stage_id")
    ):
        # Their latest change only; if it is not to where they stand, there is nothing to link.
        came.setdefault(pupil_id, change_id if to_stage_id == standing[pupil_id] else None)
    StageChange.objects.bulk_create(
        StageChange(
            pupil_id=placement.pupil_id,
            ladder=ladder,
            to_stage=stages[placement.stage.key],
            on=on,
            kind=StageChange.Kind.KEPT,
            reasons=placement.reasons,
            note=f"Kept at the same stage when {ladder.name} replaced {plan.replaced.name}",
            decided_by=user if getattr(user, "is_authenticated", False) else None,
            kept_from_id=came.get(placement.pupil_id),
        )
        for placement in plan.keep
    )
    Placement.objects.bulk_create(
        Placement(
            pupil_id=placement.pupil_id,
            ladder=ladder,
            stage=stages[placement.stage.key],
            **{
                name: getattr(placement, name)
                for name in ("since", "reasons", "improving_since", "entry_attendance_pct", *Placement.FIGURES)
            },
        )
        for placement in plan.keep
    )


def _proposals_keep(plan: ActivationPlan, *, ladder: Ladder) -> None:
    """Move the plan's kept proposals to `ladder`: withdrawn on the replaced ladder, saying where they went."""
    if not plan.keep_proposals:
        return
    stages = {stage.key: stage for stage in ladder.stages.all()}
    Proposal.objects.filter(pk__in=[p.pk for p in plan.keep_proposals]).update(
        status=Proposal.Status.WITHDRAWN,
        decided_at=timezone.now(),
        decision_reason=f"Kept on {ladder.name}, to decide there",
    )
    Proposal.objects.bulk_create(
        Proposal(
            pupil_id=proposal.pupil_id,
            ladder=ladder,
            from_stage=stages[proposal.from_stage.key],
            to_stage=stages[proposal.to_stage.key],
            proposed_on=proposal.proposed_on,
            reasons=proposal.reasons,
        )
        for proposal in plan.keep_proposals
    )


def replaced_proposals(*, ladder: Ladder) -> QuerySet[Proposal]:
    """The moves awaiting approval on the school's other ladders: those making `ladder` active withdraws."""
    return Proposal.objects.filter(ladder__school=ladder.school, status=Proposal.Status.PENDING).exclude(ladder=ladder)


def active_ladder(school: School) -> Ladder | None:
    return Ladder.objects.filter(school=school, is_active=True).first()


# --- entering a stage ---------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A pupil entering a stage: their placement row now (None if unplaced) and why they move."""

    pupil: Pupil
    placement: Placement | None
    stage: Stage
    kind: str
    reasons: list[str]
    entry_pct: Any


def stages_enter(
    *, ladder: Ladder, entries: Sequence[Entry], on: date, user: Any = None, note: str = ""
) -> list[StageChange]:
    """Move pupils into stages on `on`: a StageChange each, their placements set, and the reviews of the
    stages they left cancelled, in four queries.

    The night moves all of a school's movers at once; a person's move is a list
    of one (`stage_enter`). Returns the stage changes, in the order of `entries`.
    """
    if not entries:
        return []
    changes = StageChange.objects.bulk_create(
        StageChange(
            pupil=e.pupil,
            ladder=ladder,
            from_stage=e.placement.stage if e.placement else None,
            to_stage=e.stage,
            on=on,
            kind=e.kind,
            reasons=e.reasons,
            decided_by=user,
            note=note,
        )
        for e in entries
    )
    new, moved = [], []
    for e in entries:
        placement = e.placement or Placement(pupil=e.pupil, ladder=ladder)
        placement.stage = e.stage
        placement.since = on
        placement.reasons = e.reasons
        placement.improving_since = None
        placement.entry_attendance_pct = round(e.entry_pct, 2) if e.entry_pct is not None else None
        placement.updated_at = timezone.now()  # bulk_update leaves auto_now to us
        (moved if e.placement else new).append(placement)
    Placement.objects.bulk_create(new)
    Placement.objects.bulk_update(moved, [*_ENTRY_FIELDS, "updated_at"])
    # A review of the stage a pupil has left has nothing left to review. (Its actions stay open:
    # a meeting or a referral still wants doing, or closing by a person.)
    if moved:
        Task.objects.filter(
            pupil__in=[p.pupil_id for p in moved],
            stage_change__ladder=ladder,
            kind=Task.Kind.REVIEW,
            status=Task.Status.OPEN,
        ).update(status=Task.Status.CANCELLED, completed_at=timezone.now(), completed_by=user, is_overdue=False)
    return changes


_ENTRY_FIELDS = ("stage", "since", "reasons", "improving_since", "entry_attendance_pct")


def stage_enter(
    *,
    pupil: Pupil,
    ladder: Ladder,
    placement: Placement | None,
    stage: Stage,
    on: date,
    kind: str,
    reasons: list[str],
    entry_pct: Any,
    user: Any = None,
    note: str = "",
) -> StageChange:
    """One pupil into one stage (`stages_enter` for a list of one)."""
    entry = Entry(pupil=pupil, placement=placement, stage=stage, kind=kind, reasons=reasons, entry_pct=entry_pct)
    (change,) = stages_enter(ladder=ladder, entries=[entry], on=on, user=user, note=note)
    return change


def class_teachers_by_group(school: School) -> dict[int, Any]:
    """Registration group id -> a class teacher's user, for tasks a stage gives the class teacher."""
    teachers: dict[int, Any] = {}
    memberships = StaffMembership.objects.filter(school=school, role=StaffMembership.Role.CLASS_TEACHER)
    for membership in memberships.select_related("user").prefetch_related("classes").order_by("pk"):
        for group in membership.classes.all():
            teachers.setdefault(group.pk, membership.user)
    return teachers


def stages_work_create(
    *,
    changes: Sequence[StageChange],
    calendar: SchoolCalendar,
    teachers: dict[int, Any],
    user: Any,
    holds: Callable[[int, dict[str, Any]], bool] | None = None,
    given_on: date | None = None,
    given: WorkGiven | None = None,
) -> tuple[int, int]:
    """Create each stage change's tasks and review, and queue its letters. Idempotent per stage change.

    A fixed number of queries however many changes: one read and one insert
    for the tasks (the unique (stage change, template) key backs this up), and
    one `stage_entered` signal for the letters. Returns (tasks, letters) created.

    `holds(pupil_id, when)` says whether an action's or letter's `when` holds for
    the pupil (the night asks its engine); one whose `when` does not hold gives
    nothing. Without it (a move a person made) every action and letter is given.

    With `given_on`, only the stage's work that has a `when` is given (the
    night's catch-up for pupils who stayed at their stage: `conditional_work_catch_up`),
    due from that day rather than from the stage change's; `given` is then
    `stage_work_given` for the changes, if already read.
    """
    if given is not None and given_on is None:
        raise ValueError("`given` is for a catch-up (`given_on`): a move just made reads its own")
    if not changes:
        return 0, 0
    if given_on is not None:
        given = given or stage_work_given([c.pk for c in changes])
    else:  # a move just made: only its own tasks, should it be made again
        given = WorkGiven(tasks=_tasks_given({c.pk: c.pk for c in changes}), letters={})
    tasks = [
        Task(
            stage_change=change,
            template_key=key,
            school=change.pupil.school,
            pupil=change.pupil,
            kind=kind,
            title=title,
            role=role,
            assigned_to=teachers.get(change.pupil.registration_group_id) if role == "class_teacher" else None,
            due_on=calendar.add_school_days(given_on or change.on, due_days),
        )
        for change in changes
        for key, kind, title, role, due_days in _stage_tasks(
            change, holds, only_conditional=given_on is not None, given=given.tasks.get(change.pk, ())
        )
    ]
    Task.objects.bulk_create(tasks)
    letters = 0
    for on in sorted({given_on or change.on for change in changes}):
        entries = [
            (
                change,
                _stage_letters(
                    change, holds, only_conditional=given_on is not None, given=given.letters.get(change.pk, ())
                ),
            )
            for change in changes
            if (given_on or change.on) == on
        ]
        if given_on is not None:  # a catch-up moves nobody: only the pupils with a letter to queue matter
            entries = [(change, keys) for change, keys in entries if keys]
        if not entries:
            continue
        letters += sum(
            int(answer or 0) for _, answer in stage_entered.send(sender=StageChange, entries=entries, on=on, user=user)
        )
    return len(tasks), letters


@dataclass(frozen=True)
class WorkGiven:
    """The task template keys and the letter keys each stage change has given, by the change's id."""

    tasks: Mapping[int, set[str]]
    letters: Mapping[int, set[str]]


def stage_work_given(change_ids: Collection[int]) -> WorkGiven:
    """What these stage changes have given already, with what the changes each was kept from gave
    (`kept_lineage`): a pupil kept at a stage is not given its work a second time. Three queries or so."""
    lineage = kept_lineage(change_ids)
    owner = {ancestor: change_id for change_id, chain in lineage.items() for ancestor in chain}
    letters: dict[int, set[str]] = defaultdict(set)
    for _, answer in stage_letters_given.send(sender=StageChange, changes=list(owner)):
        for change_id, key in answer or ():
            letters[owner[change_id]].add(key)
    return WorkGiven(tasks=_tasks_given(owner), letters=letters)


def _tasks_given(owner: Mapping[int, int]) -> dict[int, set[str]]:
    """The template keys of the tasks of the stage changes in `owner`, by the change each counts for."""
    tasks: dict[int, set[str]] = defaultdict(set)
    for change_id, key in Task.objects.filter(stage_change__in=list(owner)).values_list(
        "stage_change_id", "template_key"
    ):
        tasks[owner[change_id]].add(key)
    return tasks


def stage_work_owed(
    *, stage: Stage, holds: Callable[[dict[str, Any]], bool], tasks: Collection[str], letters: Collection[str]
) -> bool:
    """Whether a pupil who stays at `stage` is owed any of its conditional work tonight: an action or a
    letter with a `when` that holds (`holds(when)`), not given already (`tasks`, `letters`)."""
    actions, _ = _entry_actions(stage.actions, review=False, holds=holds, only_conditional=True, given=tasks)
    return bool(actions) or bool(
        given_on_entry(stage_letters({"letters": stage.letters}), holds, only_conditional=True, given=letters)
    )


def stage_action_role(action: dict[str, Any]) -> str:
    """Whose task a stage action becomes: the role it names, if people in that role log actions here.

    Otherwise (the read-only LA officer; the SENDCo, support staff, external
    agencies and "all staff" of the seed ladders, who have no role here) the
    attendance lead's, who follows it up with them. Unnamed: the attendance lead's.
    """
    role = action.get("role", StaffMembership.Role.ATTENDANCE_LEAD)
    return role if role in PERMISSIONS["log_action"] else StaffMembership.Role.ATTENDANCE_LEAD


def _stage_tasks(
    change: StageChange,
    holds: Callable[[int, dict[str, Any]], bool] | None = None,
    *,
    only_conditional: bool = False,
    given: Collection[str] = (),
) -> list[tuple[str, str, str, str, int]]:
    """(template key, kind, title, role, due in school days) for each task a stage gives on entry.

    `only_conditional`: only its actions with a `when` (that holds), and no review. Keys in `given` (tasks
    the change has given already) are left out without asking their `when`.
    """
    stage = change.to_stage
    actions, review = _entry_actions(
        stage.actions,
        review=bool(stage.review_every_weeks),
        holds=None if holds is None else functools.partial(holds, change.pupil_id),
        only_conditional=only_conditional,
        given=given,
    )
    wanted = [
        (a["key"], Task.Kind.ACTION, a["title"], stage_action_role(a), a.get("due_in_school_days", 5)) for a in actions
    ]
    if review:
        title = f"Review {change.pupil.full_name} at {stage.name}"
        wanted.append(("review", Task.Kind.REVIEW, title, "attendance_lead", stage.review_every_weeks * 5))
    return wanted


def _stage_letters(
    change: StageChange,
    holds: Callable[[int, dict[str, Any]], bool] | None,
    *,
    only_conditional: bool = False,
    given: Collection[str] = (),
) -> list[str]:
    """The template keys of the letters a stage queues on entry: those whose `when` holds, as `_stage_tasks`.

    Keys in `given` (the change's letters queued already) are left out without asking their `when`.
    """
    return given_on_entry(
        stage_letters({"letters": change.to_stage.letters}),
        None if holds is None else functools.partial(holds, change.pupil_id),
        only_conditional=only_conditional,
        given=given,
    )


def stage_work_create(
    *, change: StageChange, calendar: SchoolCalendar, teachers: dict[int, Any], user: Any
) -> tuple[int, int]:
    """One stage change's tasks and letters (`stages_work_create` for a list of one)."""
    return stages_work_create(changes=[change], calendar=calendar, teachers=teachers, user=user)


# --- people's decisions ------------------------------------------------------


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Give a reason: it is kept on the pupil's record.")
    return reason


@transaction.atomic
def proposal_approve(*, proposal: Proposal, user: Any, reason: str, on: date | None = None) -> StageChange | None:
    """Approve a pending proposal: the pupil moves, and the stage's tasks and letters follow.

    Idempotent: approving an already-approved proposal returns None and changes nothing.
    Raises ValidationError with no reason, or if the proposal was declined or withdrawn.
    """
    reason = _require_reason(reason)
    proposal = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if proposal.status == Proposal.Status.APPROVED:
        return None
    if proposal.status != Proposal.Status.PENDING:
        raise ValidationError(
            f"This proposal was {proposal.get_status_display().lower()}; it can no longer be approved."
        )
    on = on or timezone.localdate()
    change = _person_moves(
        pupil=proposal.pupil,
        ladder=proposal.ladder,
        stage=proposal.to_stage,
        user=user,
        reasons=[*proposal.reasons, f"approved: {reason}"],
        note=reason,
        kind=StageChange.Kind.APPROVED,
        on=on,
    )
    proposal.status = Proposal.Status.APPROVED
    proposal.decided_by = user
    proposal.decided_at = timezone.now()
    proposal.decision_reason = reason
    proposal.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    return change


@transaction.atomic
def proposal_decline(*, proposal: Proposal, user: Any, reason: str) -> None:
    """Decline a pending proposal with a reason. Idempotent for an already-declined proposal."""
    reason = _require_reason(reason)
    proposal = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if proposal.status == Proposal.Status.DECLINED:
        return
    if proposal.status != Proposal.Status.PENDING:
        raise ValidationError(
            f"This proposal was {proposal.get_status_display().lower()}; it can no longer be declined."
        )
    proposal.status = Proposal.Status.DECLINED
    proposal.decided_by = user
    proposal.decided_at = timezone.now()
    proposal.decision_reason = reason
    proposal.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])


@transaction.atomic
def pupil_move(*, pupil: Pupil, stage: Stage, user: Any, reason: str, on: date | None = None) -> StageChange | None:
    """A person moves a pupil to a stage (any stage, manual ones included), with a reason.

    Returns None if the pupil is already there. Withdraws a pending proposal for the ladder.
    Raises ValidationError without a reason or for another school's ladder.
    """
    reason = _require_reason(reason)
    if stage.ladder.school_id != pupil.school_id:
        raise ValidationError("That stage belongs to another school's ladder.")
    current = Placement.objects.filter(pupil=pupil, ladder=stage.ladder).first()
    if current is not None and current.stage_id == stage.pk:
        return None
    Proposal.objects.filter(pupil=pupil, ladder=stage.ladder, status=Proposal.Status.PENDING).update(
        status=Proposal.Status.WITHDRAWN,
        decided_by=user,
        decided_at=timezone.now(),
        decision_reason=f"Moved by hand: {reason}",
    )
    return _person_moves(
        pupil=pupil,
        ladder=stage.ladder,
        stage=stage,
        user=user,
        reasons=[f"moved by {person_name(user)}: {reason}"],
        note=reason,
        kind=StageChange.Kind.MANUAL,
        on=on or timezone.localdate(),
    )


def _person_moves(
    *, pupil: Pupil, ladder: Ladder, stage: Stage, user: Any, reasons: list[str], note: str, kind: str, on: date
) -> StageChange:
    placement = Placement.objects.select_for_update().filter(pupil=pupil, ladder=ladder).select_related("stage").first()
    calendar = school_calendar(pupil.school)
    from pupils import selectors as pupil_selectors

    start, end = calendar.academic_year_window(on)
    summary = pupil_selectors.school_summaries(school=pupil.school, start=start, end=end).get(pupil.pk)
    change = stage_enter(
        pupil=pupil,
        ladder=ladder,
        placement=placement,
        stage=stage,
        on=on,
        kind=kind,
        reasons=reasons,
        entry_pct=summary.attendance_pct if summary else None,
        user=user,
        note=note,
    )
    stage_work_create(change=change, calendar=calendar, teachers=class_teachers_by_group(pupil.school), user=user)
    return change


# --- simulation ---------------------------------------------------------------


@dataclass
class Simulation:
    ladder_name: str
    pupils: int
    stages: list[dict[str, Any]]
    moves: list[dict[str, Any]]
    #: The moves that would be proposed for a person to approve, as `moves` (from: where the night leaves them).
    proposals: list[dict[str, Any]] = field(default_factory=list)
    #: Pupils whose stage's criteria no longer hold but who stay, as `moves` with the stage `indicated`
    #: and `improving_since`: they come down only after `margin` points clear for `sustain_weeks` weeks.
    staying: list[dict[str, Any]] = field(default_factory=list)
    #: Moves the data points to that a person declined lately, so not proposed yet (`declined_lately`),
    #: as `moves` with `declined_on`, `by`, `reason`, `until` (the night that may propose it) and `back_on`.
    resting: list[dict[str, Any]] = field(default_factory=list)
    #: (tasks, letters) that approving every proposal would give: a person's move gives all a stage's work.
    approval_work: tuple[int, int] = (0, 0)
    sustain_weeks: int = 4
    margin: Any = 1
    #: The work the moves would give, as the night gives it: [{"title", "count"}] by task title (reviews
    #: included) and [{"key", "count"}] by letter template, each counting pupils, most first.
    tasks: list[dict[str, Any]] = field(default_factory=list)
    letters: list[dict[str, Any]] = field(default_factory=list)

    @property
    def proposed(self) -> int:
        return len(self.proposals)

    @property
    def task_count(self) -> int:
        return sum(row["count"] for row in self.tasks)

    @property
    def letter_count(self) -> int:
        return sum(row["count"] for row in self.letters)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ladder": self.ladder_name,
            "pupils": self.pupils,
            "stages": self.stages,
            "moves": self.moves,
            "proposed": self.proposed,
            "proposals": self.proposals,
            "staying": [
                {**row, "improving_since": row["improving_since"] and row["improving_since"].isoformat()}
                for row in self.staying
            ],
            "resting": [
                {**row, **{name: row[name].isoformat() for name in ("declined_on", "until", "back_on")}}
                for row in self.resting
            ],
            "tasks": self.tasks,
            "letters": self.letters,
        }


def ladder_simulate(*, school: School, document: Any, as_of: date, shipped: bool = False) -> Simulation:
    """What a ladder would do to a school's pupils on `as_of`, changing nothing.

    If the school already has this ladder (same key), pupils start from where
    they stand on it; otherwise every pupil is placed for the first time. A
    shipped ladder (`shipped`) is never the school's own, whatever its key: it
    would be activated as a copy. Raises LadderError for a document with errors.
    """
    check = ladder_check(school=school, document=document)
    if not check.ok or check.resolved is None:
        raise LadderError(check.errors)
    doc = check.resolved
    spec = LadderSpec.from_document(doc)
    keys = {stage.key for stage in spec.stages}
    facts = school_facts(school=school, spec=spec, as_of=as_of)
    existing = None if shipped else Ladder.objects.filter(school=school, key=doc["key"]).first()
    # Only at stages this version has (an edit simulated before saving may rename one nobody stands on).
    placements = (
        {k: v for k, v in current_placements(ladder=existing).items() if v[1].stage_key in keys} if existing else {}
    )
    active = active_ladder(school)
    if active is not None and (existing is None or existing.pk != active.pk):
        # As activating it would: pupils at a stage of the active ladder this one also has stay there.
        kept = {k: v for k, v in current_placements(ladder=active).items() if v[1].stage_key in keys}
        placements = {**kept, **placements}
    counts = dict.fromkeys((s.key for s in spec.stages), 0)
    moves: list[dict[str, Any]] = []
    proposals: list[dict[str, Any]] = []
    staying: list[dict[str, Any]] = []
    resting: list[dict[str, Any]] = []
    approval_tasks = approval_letters = 0
    stage_docs = {stage["key"]: stage for stage in doc["stages"]}
    tasks: Counter[str] = Counter()
    letters: Counter[str] = Counter()
    declined = declined_lately(school=school, calendar=facts.calendar, as_of=as_of)
    declined_keys: dict[int, set[str]] = defaultdict(set)
    for pupil_id, stage_key in declined:
        declined_keys[pupil_id].add(stage_key)
    for pupil in facts.pupils:
        current = placements.get(pupil.pk, (None, None))[1]
        decision = decide(
            spec, facts.facts[pupil.pk], current, as_of=as_of, calendar=facts.calendar, resting=declined_keys[pupil.pk]
        )
        counts[decision.stage_key] += 1
        was = current.stage_key if current else None
        row = functools.partial(_simulated_row, pupil, facts=facts, spec=spec)
        if decision.rested is not None:  # resting after a person declined it, as the night does
            reasons = "; ".join(decision.rested_reasons)
            resting.append(
                row(
                    **{"from": decision.stage_key, "to": decision.rested, "reasons": reasons},
                    **dataclasses.asdict(declined[pupil.pk, decision.rested]),
                )
            )

        if decision.moved:  # the night's move: the stage's work, as `stages_work_create` gives it
            evaluator = Evaluator(facts.facts[pupil.pk], facts.calendar, as_of, spec.min_possible, None, explain=False)

            def holds(when: dict[str, Any], evaluator: Evaluator = evaluator) -> bool:
                return evaluator.check(when)[0]

            given, queued = _entry_work(stage_docs[decision.stage_key], holds)
            tasks.update(given)
            letters.update(queued)
            if not (was is None and decision.stage_key == spec.base.key):
                moves.append(row(**{"from": was, "to": decision.stage_key, "reasons": "; ".join(decision.reasons)}))
        if decision.proposal is not None:  # a person's approval gives the stage's work whatever its `when`s
            given, queued = _entry_work(stage_docs[decision.proposal], None)
            approval_tasks += len(given)
            approval_letters += len(queued)
            reasons = "; ".join(decision.proposal_reasons)
            proposals.append(row(**{"from": decision.stage_key, "to": decision.proposal, "reasons": reasons}))
        elif (
            was is not None and not decision.moved and spec.stage(decision.indicated_key).level < spec.stage(was).level
        ):
            # Their stage's criteria no longer hold, but they come down only once clear by the margin for long enough.
            staying.append(
                row(
                    **{"from": was, "to": was},
                    indicated=decision.indicated_key,
                    improving_since=decision.improving_since,
                )
            )
    stages = [
        {"key": s["key"], "label": s.get("label", s["key"]), "name": s["name"], "count": counts[s["key"]]}
        for s in doc["stages"]
    ]
    return Simulation(
        doc["name"],
        len(facts.pupils),
        stages,
        moves,
        proposals=proposals,
        staying=staying,
        resting=resting,
        approval_work=(approval_tasks, approval_letters),
        sustain_weeks=spec.sustain_weeks,
        margin=spec.margin,
        tasks=[{"title": title, "count": n} for title, n in tasks.most_common()],
        letters=[{"key": key, "count": n} for key, n in letters.most_common()],
    )


def _simulated_row(pupil: Pupil, /, *, facts: Any, spec: LadderSpec, **fields: Any) -> dict[str, Any]:
    """One pupil's line in a simulation's `moves`, `proposals` or `staying`: who, their attendance, and `fields`."""
    attendance = format_pct(facts.year_to_date(pupil.pk, spec))
    return {"upn": pupil.upn, "name": pupil.full_name, "attendance": attendance, **fields}


def _entry_work(stage: dict[str, Any], holds: Callable[[dict[str, Any]], bool] | None) -> tuple[list[str], list[str]]:
    """The titles of the tasks (its review's included) and the letter keys a stage gives a pupil entering it."""
    actions, review = _entry_actions(
        stage.get("actions", []), review=bool(stage.get("review_every_weeks")), holds=holds
    )
    titles = [action["title"] for action in actions] + ([f"Review at {stage['name']}"] if review else [])
    return titles, given_on_entry(stage_letters(stage), holds)


def _entry_actions(
    actions: Sequence[dict[str, Any]],
    *,
    review: bool,
    holds: Callable[[dict[str, Any]], bool] | None,
    only_conditional: bool = False,
    given: Collection[str] = (),
) -> tuple[list[dict[str, Any]], bool]:
    """The stage actions that become tasks for a pupil entering the stage, and whether its review does.

    As `rules.given_on_entry`; a catch-up (`only_conditional`) gives no review, and one `given` is not given again.
    """
    by_key = {action["key"]: action for action in actions}
    keys = given_on_entry(
        [(key, action.get("when")) for key, action in by_key.items()],
        holds,
        only_conditional=only_conditional,
        given=given,
    )
    return [by_key[key] for key in keys], review and not only_conditional and "review" not in given


# --- logging what staff do ------------------------------------------------------


#: The kinds a person chooses as the whole of what happened, and may correct to another of them. A ladder
#: action, a letter and a referral each stand for something else on the record, and keep their kind.
CORRECTABLE_KINDS = tuple(
    kind
    for kind in ActionLog.Kind.values
    if kind not in (ActionLog.Kind.STAGE_ACTION, ActionLog.Kind.LETTER, ActionLog.Kind.REFERRAL)
)
#: What the forms and the services say of a logged action that cannot be as it is.
ACTION_IN_THE_FUTURE = "An action cannot be logged for a date in the future."
REFERRAL_IN_THE_FUTURE = "A referral cannot be recorded for a date in the future."
OTHER_SAYS_NOTHING = "Say what happened: an action logged as “Other” needs an outcome or notes."
CORRECTION_WITHOUT_REASON = "Say why it is corrected: the reason is kept on the record."


class CorrectedMeanwhile(ValidationError):
    """Someone else corrected the entry after this person opened it: they should see it as it now is."""


@dataclass(frozen=True)
class Corrected:
    """What `action_correct` did: the entry's earlier version it kept, and the task it opened again, if any."""

    before: ActionCorrection
    task_reopened: Task | None


def action_correct(
    *,
    action: ActionLog,
    user: Any,
    reason: str,
    occurred_on: date,
    outcome: str,
    notes: str,
    kind: str = "",
    seen: int | None = None,
) -> Corrected:
    """Correct a logged action, keeping what it said until now, who corrected it, when and why.

    Whether this person may is the caller's question (`selectors.may_correct`).
    `kind` changes only among CORRECTABLE_KINDS; blank keeps it. A title that
    was the kind's own name follows the new kind. `seen`: how many times the
    entry had been corrected when this person opened it; if someone has
    corrected it since, CorrectedMeanwhile is raised and nothing changes.

    An entry that did a ladder task by its kind (`selectors.open_task_logged_as`)
    and, corrected, would not have (another kind, or a day before the task was
    given) no longer does it: the task is open again, unless the pupil has
    left that stage. An entry the Done button wrote stays the record of it.

    Raises ValidationError, naming the field and changing nothing, for a blank
    reason, a date in the future, a kind that cannot be changed, an "Other"
    that says nothing, or a correction that changes nothing; and as a receiver
    of `signals.action_corrected` refuses (a letter's posting before it printed).
    """
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationError({"reason": CORRECTION_WITHOUT_REASON})
    if occurred_on > timezone.localdate():
        raise ValidationError({"occurred_on": ACTION_IN_THE_FUTURE})
    with transaction.atomic():
        action = ActionLog.objects.select_for_update().get(pk=action.pk)
        if seen is not None and action.corrections.count() != seen:
            raise CorrectedMeanwhile(
                "Someone corrected this entry while you had it open: here it is as it now reads. "
                "Correct it again if it still needs it."
            )
        kind = kind or action.kind
        if kind != action.kind and (action.kind not in CORRECTABLE_KINDS or kind not in CORRECTABLE_KINDS):
            raise ValidationError(
                {"kind": f"A {action.get_kind_display().lower()} entry keeps its kind: correct its date or words."}
            )
        title = action.title
        if kind != action.kind and action.title in ("", ActionLog.Kind(action.kind).label):
            title = ActionLog.Kind(kind).label
        # "Other" needs words, unless its title says what happened (a next step marked done).
        says_nothing = title in ("", ActionLog.Kind.OTHER.label) and not (outcome.strip() or notes.strip())
        if kind == ActionLog.Kind.OTHER and says_nothing:
            raise ValidationError({"notes": OTHER_SAYS_NOTHING})
        now = {"kind": kind, "title": title, "occurred_on": occurred_on, "outcome": outcome, "notes": notes}
        was = {name: getattr(action, name) for name in ActionCorrection.KEPT}
        if now == was:
            raise ValidationError("Nothing was changed: change the date, what happened or the words, then save.")
        before = ActionCorrection.keep(action, reason=reason, by=user)
        for name, value in now.items():
            setattr(action, name, value)
        reopened = _task_no_longer_done_by(action)
        action.full_clean()
        action.save(update_fields=[*ActionCorrection.KEPT, "task"])
        action_corrected.send(sender=ActionLog, action=action, before=before)
    return Corrected(before=before, task_reopened=reopened)


def _task_no_longer_done_by(action: ActionLog) -> Task | None:
    """If the corrected `action` did its task by its kind and would not now, unlink it and open the task again.

    Returns the task if it is open again (not if the pupil has left its stage: that work is the old stage's).
    """
    if action.task_id is None or action.by_done_button or action.kind == ActionLog.Kind.STAGE_ACTION:
        return None  # the Done button's record, or a stage action chosen by name: still what did it
    task = Task.objects.select_for_update(of=("self",)).select_related("stage_change__to_stage").get(pk=action.task_id)
    if logged_as_does(task, kind=action.kind, occurred_on=action.occurred_on):
        return None
    action.task = None
    if task.status != Task.Status.DONE or task_stage_left(task=task):
        return None
    _task_open_again(task)
    return task


@transaction.atomic
def action_log(
    *,
    pupil: Pupil,
    user: Any,
    kind: str,
    occurred_on: date,
    title: str = "",
    outcome: str = "",
    notes: str = "",
    next_step: str = "",
    next_step_due: date | None = None,
    closes: Task | None = None,
    one_click: bool = False,
) -> ActionLog:
    """Record something a member of staff did for a pupil; a next step becomes a task for them.

    `closes`: the open task this action does (`selectors.open_stage_action_task`, which the caller
    has checked is this person's to do): it is marked done, so nobody is asked to do it again, and
    the logged action points at it.
    Raises ValidationError for a next step without a due date (or the reverse), or a date in the future.
    """
    if occurred_on > timezone.localdate():
        raise ValidationError({"occurred_on": ACTION_IN_THE_FUTURE})
    if bool(next_step.strip()) != bool(next_step_due):
        raise ValidationError({"next_step_due": "A next step needs both what to do and when it is due."})
    # The conditional update claims it: if someone closed it meanwhile, this logs without a task.
    claimed = closes is not None and Task.objects.filter(pk=closes.pk, status=Task.Status.OPEN).update(
        status=Task.Status.DONE, completed_at=timezone.now(), completed_by=user, is_overdue=False
    )
    action = ActionLog(
        school=pupil.school,
        pupil=pupil,
        kind=kind,
        title=title,
        occurred_on=occurred_on,
        by=user,
        outcome=outcome,
        notes=notes,
        task=closes if claimed else None,
        one_click=one_click,
    )
    action.full_clean()
    action.save()
    if next_step.strip():
        Task.objects.create(
            school=pupil.school,
            pupil=pupil,
            kind=Task.Kind.NEXT_STEP,
            title=next_step.strip(),
            assigned_to=user,
            due_on=next_step_due,
        )
    return action


@transaction.atomic
def action_undo(*, action: ActionLog, user: Any) -> None:
    """Take back an action logged with one click by mistake: it goes from the pupil's record.

    Only a one-click log (My classes: nothing typed, no referral or letter with
    it), only by the person who logged it, within UNDO_MINUTES; a task it did
    is open again. Raises ValidationError saying why otherwise
    (`selectors.undo_refusal`).
    """
    if refusal := undo_refusal(action=action, user=user):
        raise ValidationError(refusal)
    # The task the log did (its action's `logged_as`) is to do again, unless the pupil has left its stage.
    if action.task_id is not None:
        task = Task.objects.select_for_update(of=("self",)).select_related("stage_change").get(pk=action.task_id)
        if task.status == Task.Status.DONE and task.completed_by_id == user.pk and not task_stage_left(task=task):
            _task_open_again(task)
    action.delete()


def _task_open_again(task: Task) -> None:
    """Undo's end: the task is open, done by nobody, and overdue if its date has passed."""
    task.status, task.completed_at, task.completed_by = Task.Status.OPEN, None, None
    task.is_overdue = task.is_overdue_on(timezone.localdate())
    task.save(update_fields=["status", "completed_at", "completed_by", "is_overdue"])


def follow_ups_close(*, school: School, tasks: QuerySet[Task], user: Any, outcome: str) -> list[Task]:
    """Of these tasks, do the open stage actions asked for only while an N waits, for pupils with no N left.

    Such an action is one whose `when` holds only while the pupil has an
    unexplained absence (`rules.only_while_unexplained`): the DfE ladder's
    first-day follow-up, say. Once every N on the pupil's register has its
    reason, whoever recorded it (or the register it came with) did the action:
    it is marked done by `user` (None: the night) with `outcome` on the pupil's
    record. Actions asked for whatever the register says stay open. Returns
    the tasks closed.
    """
    open_actions = tasks.filter(kind=Task.Kind.ACTION, status=Task.Status.OPEN, stage_change__isnull=False)
    # Which actions of the school's stages are such: a few dozen small rows, not a join through every
    # stage change of the local authority (which the planner reads whole).
    stages = Stage.objects.filter(ladder__school=school).only("pk", "actions")
    such = [
        Q(stage_change__to_stage=stage, template_key=action["key"])
        for stage in stages
        for action in stage.actions
        if action.get("when") and only_while_unexplained(action["when"])
    ]
    if not such:
        return []
    candidates = list(open_actions.filter(reduce(operator.or_, such)).values_list("pk", "pupil_id"))
    waiting = set(
        AttendanceMark.objects.filter(pupil_id__in={pupil_id for _, pupil_id in candidates}, code=UNEXPLAINED)
        .order_by()
        .values_list("pupil_id", flat=True)
        .distinct()
    )
    done = [pk for pk, pupil_id in candidates if pupil_id not in waiting]
    if not done:
        return []
    outcome = Truncator(outcome).chars(ActionLog._meta.get_field("outcome").max_length)
    tasks_done = Task.objects.filter(pk__in=done).select_related("school", "pupil").order_by("pk")
    # Not by the Done button: nobody pressed it, so there is nothing for an Undo to take back.
    return [task for task in tasks_done if task_complete(task=task, user=user, outcome=outcome, by_done_button=False)]


@transaction.atomic
def task_complete(*, task: Task, user: Any, outcome: str = "", by_done_button: bool = True) -> bool:
    """Mark a task done and log it on the pupil's record. Idempotent: returns False if it was already done.

    The conditional update claims the task, so two people pressing "done" together log it once.
    """
    claimed = Task.objects.filter(pk=task.pk, status=Task.Status.OPEN).update(
        status=Task.Status.DONE, completed_at=timezone.now(), completed_by=user, is_overdue=False
    )
    if not claimed:
        return False
    ActionLog.objects.create(
        school=task.school,
        pupil=task.pupil,
        kind=ActionLog.Kind.STAGE_ACTION if task.kind != Task.Kind.NEXT_STEP else ActionLog.Kind.OTHER,
        title=task.title,
        occurred_on=timezone.localdate(),
        by=user,
        outcome=outcome.strip(),
        task=task,
        by_done_button=by_done_button,
    )
    return True


@transaction.atomic
def task_reopen(*, task: Task, user: Any) -> None:
    """Take back pressing Done by mistake: the task is open again, and the entry Done logged goes from the record.

    Only by the person who pressed it, within UNDO_MINUTES (`selectors.task_reopen_refusal`, which
    says why not otherwise, raised as ValidationError).
    """
    locked = Task.objects.select_for_update().get(pk=task.pk)
    if refusal := task_reopen_refusal(task=locked, user=user):
        raise ValidationError(refusal)
    log = task_done_log(task=locked)
    if log is not None:
        log.delete()
    _task_open_again(locked)


@transaction.atomic
def pupil_flags_set(*, pupil: Pupil, flags: Any, user: Any) -> tuple[set[str], set[str]]:
    """Replace a pupil's flags. Returns (added, removed) keys. Flags must belong to the pupil's school."""
    wanted = set(flags)
    if any(f.school_id != pupil.school_id for f in wanted):
        raise ValidationError("Flags must belong to the pupil's school.")
    current = set(pupil.flags.all())
    pupil.flags.set(wanted)
    if wanted != current:
        # Lists cached by pupil version must see the new flags (a many-to-many change leaves updated_at alone).
        pupil.save(update_fields=["updated_at"])
    return {f.key for f in wanted - current}, {f.key for f in current - wanted}


@transaction.atomic
def referral_record(
    *, pupil: Pupil, user: Any, to: str, made_on: date, status: str = "made", outcome: str = ""
) -> Referral:
    """Record a referral and log it on the pupil's record. Raises ValidationError for bad values, and for a
    second referral of the pupil to the same service on the same day (a double click, or two people
    recording one referral; for "Other", the same outcome too): that one is changed in the referrals
    list, not recorded again."""
    Pupil.objects.select_for_update().filter(pk=pupil.pk).first()  # two at once: the second waits, then sees the first
    if already := _referral_already_recorded(pupil=pupil, to=to, made_on=made_on, outcome=outcome):
        raise ValidationError(f"{already}: change it in the referrals list rather than recording it again.")
    referral = Referral(
        school=pupil.school, pupil=pupil, to=to, made_on=made_on, status=status, outcome=outcome, by=user
    )
    referral.full_clean()
    referral.save()
    ActionLog.objects.create(
        school=pupil.school,
        pupil=pupil,
        kind=ActionLog.Kind.REFERRAL,
        title=f"Referral: {referral.get_to_display()}",
        occurred_on=made_on,
        by=user,
        outcome=outcome,
        referral=referral,
    )
    return referral


def _referral_already_recorded(
    *, pupil: Pupil, to: str, made_on: date, outcome: str, besides: Referral | None = None
) -> str:
    """What to say if the pupil already has a referral to `to` made on `made_on` (other than `besides`):
    the same referral twice. For "Other", only with the same outcome, which names the service. "" if not."""
    same = Referral.objects.filter(pupil=pupil, to=to, made_on=made_on)
    if besides is not None:
        same = same.exclude(pk=besides.pk)
    if to == Referral.To.OTHER:  # "Other" names its service in the outcome: two may differ
        same = same.filter(outcome=outcome)
    earlier = same.select_related("by").first()
    if earlier is None:
        return ""
    who = f" by {person_name(earlier.by)}" if earlier.by else ""
    return (
        f"A referral to {earlier.get_to_display()} on {made_on:%-d %B %Y} is already recorded{who}"
        f" ({earlier.get_status_display().lower()})"
    )


class ReferralRedatedMeanwhile(ValidationError):
    """Someone else changed the referral's date while this person had it open: nothing was changed."""


@transaction.atomic
def referral_update(
    *,
    referral: Referral,
    user: Any,
    status: str,
    outcome: str,
    made_on: date | None = None,
    made_on_shown: date | None = None,
) -> Referral:
    """Change a referral's status and outcome, or correct its date; each is kept on the pupil's record.

    A status or outcome changed is logged as a new entry. A date corrected moves the referral's own entry
    (`ActionLog.referral`), keeping what it said before (`ActionCorrection`), as a correction does.
    `made_on_shown`: the date the person saw; if they change it and someone has changed it since,
    ReferralRedatedMeanwhile is raised and nothing changes. Raises ValidationError, naming the field and
    changing nothing, for an unknown status, a date in the future, or a day on which the pupil already has
    a referral to the service.
    Whether the pupil had joined by then is the form's question (`forms.action_day_check`).
    """
    if status not in Referral.Status.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    Pupil.objects.select_for_update().filter(pk=referral.pupil_id).first()  # as `referral_record`: one at a time
    locked = Referral.objects.select_for_update().get(pk=referral.pk)
    if made_on is not None and made_on_shown is not None and locked.made_on != made_on_shown:
        last = (
            ActionCorrection.objects.filter(action__referral=locked).select_related("by").order_by("-at", "-pk").first()
        )
        who = person_name(last.by) if last is not None and last.by is not None else "Someone"
        raise ReferralRedatedMeanwhile(
            {
                "made_on": f"{who} changed this referral's date to {locked.made_on:%-d %B %Y} while you had it "
                "open: nothing was changed. Check it, then save again."
            }
        )
    referral.made_on = locked.made_on
    made_on = made_on or locked.made_on
    if made_on != locked.made_on:
        _referral_redate(referral=referral, user=user, made_on=made_on, outcome=outcome)
    if locked.status == status and locked.outcome == outcome:
        return referral
    referral.status = status
    referral.outcome = outcome
    referral.save(update_fields=["status", "outcome", "updated_at"])
    ActionLog.objects.create(
        school=referral.school,
        pupil=referral.pupil,
        kind=ActionLog.Kind.REFERRAL,
        title=f"Referral to {referral.get_to_display()}: {referral.get_status_display().lower()}",
        occurred_on=timezone.localdate(),
        by=user,
        outcome=outcome,
        referral=referral,
    )
    return referral


def _referral_redate(*, referral: Referral, user: Any, made_on: date, outcome: str) -> None:
    """Correct the day a (locked) referral was made, and its own entry on the pupil's record with it."""
    if made_on > timezone.localdate():
        raise ValidationError({"made_on": REFERRAL_IN_THE_FUTURE})
    already = _referral_already_recorded(
        pupil=referral.pupil, to=referral.to, made_on=made_on, outcome=outcome, besides=referral
    )
    if already:
        raise ValidationError({"made_on": f"{already}: check the date."})
    was = referral.made_on
    entry = (
        ActionLog.objects.select_for_update()
        .filter(referral=referral, title=f"Referral: {referral.get_to_display()}")
        .first()
    )
    if entry is not None:
        ActionCorrection.keep(
            entry, reason=f"The referral's date was corrected on the referrals list, from {was:%-d %b %Y}", by=user
        )
        entry.occurred_on = made_on
        entry.save(update_fields=["occurred_on"])
    referral.made_on = made_on
    referral.save(update_fields=["made_on", "updated_at"])
