"""The DfE ladder's irregular-attendance trigger counts unauthorised days only, as the guidance says.

"10+ consecutive school days of unauthorised absence" (attendance-rules.md,
section 3b) was counted as any 10 days absent in a row, so ten days off sick
moved a pupil to Listen and understand as if their absence were irregular
(illness has its own trigger, 15 days). A school's DfE ladder whose Listen and
understand stage still has the criteria as shipped gets the new one; a changed
stage is left as the school made it.
"""

from django.db import migrations

#: (ladder key, stage key, criteria as shipped before, criteria now): fixed here, whatever the file says later.
CHANGED = (
    (
        "dfe",
        "listen-and-understand",
        {
            "any": [
                {"attendance": {"at_most": 90}},
                {"count": {"measure": "consecutive_days_absent", "at_least": 10}},
                {"count": {"measure": "illness", "at_least": 30, "window": "year"}},
            ]
        },
        {
            "any": [
                {"attendance": {"at_most": 90}},
                {"count": {"measure": "consecutive_days_unauthorised", "at_least": 10}},
                {"count": {"measure": "illness", "at_least": 30, "window": "year"}},
            ]
        },
    ),
)


#: The ladder's own note on the trigger, as shipped before and now (kept in `Ladder.settings["to_confirm"]`).
NOTE_BEFORE = "LA notification 'irregular attendance / 10+ consecutive school days of unauthorised absence' is approximated by 10 consecutive school days absent (the consecutive-days measure counts all absence); the action asks staff to check the absence is unauthorised"
NOTE_NOW = "LA notification 'irregular attendance / 10+ consecutive school days of unauthorised absence' is the consecutive_days_unauthorised measure: school days on which every possible session was unauthorised (G, N, O, U); a day with any session attended or authorised ends the run, and days with no possible session (closures, not yet marked) neither end nor extend it"


def unauthorised_runs(apps, schema_editor):
    Stage = apps.get_model("interventions", "Stage")
    for ladder_key, stage_key, old, new in CHANGED:
        for stage in Stage.objects.filter(ladder__key=ladder_key, key=stage_key).select_related("ladder"):
            if stage.criteria == old:
                stage.criteria = new
                stage.save(update_fields=["criteria"])
                notes = stage.ladder.settings.get("to_confirm") or []
                if NOTE_BEFORE in notes:
                    stage.ladder.settings["to_confirm"] = [NOTE_NOW if n == NOTE_BEFORE else n for n in notes]
                    stage.ladder.save(update_fields=["settings"])


class Migration(migrations.Migration):
    dependencies = [("interventions", "0013_action_logged_in_one_click")]

    operations = [migrations.RunPython(unauthorised_runs, migrations.RunPython.noop)]
