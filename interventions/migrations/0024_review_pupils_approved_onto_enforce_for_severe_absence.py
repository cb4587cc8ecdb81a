"""A review for each pupil a person moved to the DfE ladder's Enforce on a proposal for severe absence alone.

Migration 0022 stopped the DfE ladder proposing Enforce (penalty notices,
prosecution) for severe absence alone, and withdrew such proposals still
waiting. Pupils whose proposal had already been approved stayed at Enforce:
a person put them there, and only a person should move them. But nobody was
told that the reason they were proposed no longer stands, so a child missing
school through illness could stay on the enforcement track unnoticed. Each
such pupil now gets a task for the attendance lead, due today, to review
whether they should stay.

Only on a school's DfE ladder in use, where its Enforce still follows the rule 0022 brought
in (a school that wrote its own rule chose it), for pupils on roll at Enforce whose latest
move there was an approved proposal whose reasons do not include the penalty-notice count.
One task per such move, however often this runs (the unique stage change and task key).
Reversing removes those tasks still open.
"""

from __future__ import annotations

from django.db import migrations
from django.db.models import Q
from django.utils import timezone

#: Enforce's criteria as 0022 left them: the penalty-notice rule only.
PENALTY_ONLY = {
    "all": [
        {"flag": "compulsory_school_age"},
        {"count": {"measure": "unauthorised", "at_least": 10, "window": {"weeks": 10}}},
    ]
}
#: What the penalty-notice count says among a move's reasons (as in 0022).
PENALTY_REASON = "in the last 10 school weeks"
TASK_KEY = "enforce-review-severe-absence"


def tasks_give(apps, schema_editor):
    Stage = apps.get_model("interventions", "Stage")
    Placement = apps.get_model("interventions", "Placement")
    StageChange = apps.get_model("interventions", "StageChange")
    Task = apps.get_model("interventions", "Task")
    today = timezone.localdate()
    # The school's ladder in use: a replaced one keeps its placements, but no longer says where a pupil stands.
    for enforce in Stage.objects.filter(ladder__key="dfe", ladder__is_active=True, key="enforce"):
        if enforce.criteria != PENALTY_ONLY:
            continue
        placed = Placement.objects.filter(stage=enforce).filter(
            Q(pupil__leaving_on__isnull=True) | Q(pupil__leaving_on__gte=today)
        )
        for placement in placed.select_related("pupil"):
            change = (
                StageChange.objects.filter(ladder_id=enforce.ladder_id, pupil_id=placement.pupil_id)
                .order_by("-on", "-pk")
                .first()
            )
            if change is None or change.to_stage_id != enforce.pk or change.kind != "approved":
                continue
            if any(PENALTY_REASON in reason for reason in change.reasons):
                continue
            pupil = placement.pupil
            Task.objects.get_or_create(
                stage_change=change,
                template_key=TASK_KEY,
                defaults={
                    "school_id": pupil.school_id,
                    "pupil": pupil,
                    "kind": "action",
                    "title": (
                        f"Review whether {pupil.forename} {pupil.surname} should stay at Enforce: moved there "
                        "for severe absence alone, which the DfE ladder no longer treats as a reason for enforcement"
                    ),
                    "role": "attendance_lead",
                    "due_on": today,
                },
            )


def tasks_take_back(apps, schema_editor):
    Task = apps.get_model("interventions", "Task")
    Task.objects.filter(template_key=TASK_KEY, status="open").delete()


class Migration(migrations.Migration):
    dependencies = [("interventions", "0023_action_corrections_keep_what_an_entry_said")]

    operations = [migrations.RunPython(tasks_give, tasks_take_back)]
