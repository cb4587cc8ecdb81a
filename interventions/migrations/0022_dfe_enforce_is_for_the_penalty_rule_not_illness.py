"""The DfE ladder proposes Enforce for the penalty-notice rule only, and asks for the LA checks only when due.

Enforce was also proposed for any pupil of compulsory school age at 50% or
below, whatever the reason: a boy who missed 48 of his 63 sessions through
illness was proposed for penalty notices and prosecution, and approving it
sent his family a notice of referral as their first letter. Severe absence
calls for the most support (Facilitate support, proposed below 80%), and
enforcement for unauthorised absence, as the penalty-notice rule says.

The Listen and understand task to check the LA notification duties was given
to every pupil there; it is given now only when a duty may apply (10 school
days in a row of unauthorised absence, or 15 days of illness this year), the
first night it does.

Changed only where a school's ladder still says exactly what was shipped. There, a move to
Enforce still waiting for approval that the old rule alone proposed (its reasons do not
include the penalty-notice count) is withdrawn, so no one approves it before the next night
proposes what fits; the reverse leaves withdrawn moves withdrawn. Pupils already moved to
Enforce stay where a person put them.
"""

from __future__ import annotations

from django.db import migrations
from django.utils import timezone

_PENALTY = {"count": {"measure": "unauthorised", "at_least": 10, "window": {"weeks": 10}}}
#: Enforce's criteria: (as shipped before, now).
CRITERIA = (
    {"all": [{"flag": "compulsory_school_age"}, {"any": [_PENALTY, {"attendance": {"at_most": 50}}]}]},
    {"all": [{"flag": "compulsory_school_age"}, _PENALTY]},
)
DESCRIPTIONS = (
    "A penalty notice must be considered when a pupil reaches 10 sessions of unauthorised absence\n(G, N, O, U) "
    "within a rolling 10 school weeks. Enforcement (a penalty notice, prosecution under\ns444, an education "
    "supervision order, a parenting order or a school attendance order) is used\nwhere support has failed or not "
    "been engaged with; a Notice to Improve can give a final chance\nto engage first. Severely absent pupils (50% or "
    "more of sessions missed) are also proposed here.\nProposed for a person to approve.",
    "A penalty notice must be considered when a pupil reaches 10 sessions of unauthorised absence\n(G, N, O, U) "
    "within a rolling 10 school weeks. Enforcement (a penalty notice, prosecution under\ns444, an education "
    "supervision order, a parenting order or a school attendance order) is used\nwhere support has failed or not "
    "been engaged with; a Notice to Improve can give a final chance\nto engage first. Severe absence alone does not "
    "bring a pupil here: absence that is mostly\nillness calls for support, not enforcement. Proposed for a person to "
    "approve.",
)
LA_CHECK = {
    "key": "la-notifications",
    "title": "Check the LA notification duties: 10 or more consecutive school days of unauthorised absence "
    "(irregular attendance return); 15 school days of illness, consecutive or cumulative (s19 duty)",
    "role": "attendance_lead",
    "due_in_school_days": 5,
}
LA_CHECK_WHEN = {
    "any": [
        {"count": {"measure": "consecutive_days_unauthorised", "at_least": 10}},
        {"count": {"measure": "illness", "at_least": 30, "window": "year"}},
    ]
}
#: The notes for the school to confirm: (as shipped before, now).
NOTES = (
    (
        "Facilitate support: attendance below 80%, or 90% or below at the end of each of the last 4 school weeks; "
        "proposed for approval (a severely absent pupil below compulsory school age is proposed here, as Enforce is "
        "not for them)",
        "Facilitate support: attendance below 80%, or 90% or below at the end of each of the last 4 school weeks; "
        "proposed for approval. Severely absent pupils (50% or below) are proposed here too: they need the most "
        "support, whatever the reason for their absence",
    ),
    (
        "Enforce: severe absence (50% or below) as well as the penalty notice threshold; proposed for approval",
        "Enforce: the penalty notice threshold, 10 sessions of unauthorised absence within a rolling 10 school weeks; "
        "proposed for approval. Severe absence alone does not bring a pupil here: a child missing half their school "
        "through illness needs support, not enforcement",
    ),
    (
        "Enforce is only for pupils of compulsory school age (aged 5 to 15 on the 31 August before the school year): "
        "penalty notices and prosecution are for parents of compulsory-age children. A severely absent Reception child "
        "below that age stays at Facilitate support",
        "Enforce is only for pupils of compulsory school age (aged 5 to 15 on the 31 August before the school year): "
        "penalty notices and prosecution are for parents of compulsory-age children",
    ),
)


def catch_up(apps, schema_editor, forward=True):
    Ladder = apps.get_model("interventions", "Ladder")
    Stage = apps.get_model("interventions", "Stage")

    def swap(pair):
        return pair if forward else pair[::-1]

    (criteria_then, criteria_now), (description_then, description_now) = swap(CRITERIA), swap(DESCRIPTIONS)
    check_then, check_now = swap((LA_CHECK, {**LA_CHECK, "when": LA_CHECK_WHEN}))
    notes = dict(swap(pair) for pair in NOTES)
    Proposal = apps.get_model("interventions", "Proposal")
    for stage in Stage.objects.filter(ladder__key="dfe", key="enforce"):
        changed = []
        if stage.criteria == criteria_then:
            stage.criteria, changed = criteria_now, [*changed, "criteria"]
            if forward:
                _withdraw_severe_only(Proposal, stage)
        if stage.description.strip() == description_then:
            ending = "\n" if stage.description.endswith("\n") else ""  # as the file's block text loads
            stage.description, changed = description_now + ending, [*changed, "description"]
        if changed:
            stage.save(update_fields=changed)
    for stage in Stage.objects.filter(ladder__key="dfe", key="listen-and-understand"):
        actions = [check_now if action == check_then else action for action in stage.actions]
        if actions != stage.actions:
            stage.actions = actions
            stage.save(update_fields=["actions"])
    for ladder in Ladder.objects.filter(key="dfe"):
        to_confirm = ladder.settings.get("to_confirm") or []
        if any(note in notes for note in to_confirm):
            ladder.settings["to_confirm"] = [notes.get(note, note) for note in to_confirm]
            ladder.save(update_fields=["settings"])


#: What the penalty-notice count says among a proposal's reasons ("12 unauthorised absence sessions in the
#: last 10 school weeks ≥ 10"): a proposal without it came from severe absence alone.
PENALTY_REASON = "in the last 10 school weeks"


def _withdraw_severe_only(Proposal, stage):
    for proposal in Proposal.objects.filter(to_stage=stage, status="pending"):
        if not any(PENALTY_REASON in reason for reason in proposal.reasons):
            proposal.status = "withdrawn"
            proposal.decided_at = timezone.now()
            proposal.decision_reason = (
                "Enforce is now for the penalty-notice threshold, not severe absence alone: "
                "the next night proposes the stage that fits"
            )
            proposal.save(update_fields=["status", "decided_at", "decision_reason"])


def back(apps, schema_editor):
    catch_up(apps, schema_editor, forward=False)


class Migration(migrations.Migration):
    dependencies = [("interventions", "0021_stage_kept_when_a_ladder_replaces_another")]

    operations = [migrations.RunPython(catch_up, back)]
