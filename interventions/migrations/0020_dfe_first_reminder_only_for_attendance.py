"""The DfE ladder's first reminder goes only to pupils at Monitor for their attendance (below 95%).

Monitor is also entered for a single absence still unexplained, and the letter,
which is about the year's attendance, went to families at 97% about nothing it
named; the office's first-day call follows such an absence up. A stage's letter
may now have a `when`, as its actions may. Changed only where the Monitor stage
still queues exactly the shipped letters; a school's own choice is left alone.
"""

from __future__ import annotations

from django.db import migrations

BEFORE = ["first_reminder"]
AFTER = [{"letter": "first_reminder", "when": {"attendance": {"below": 95}}}]


def only_for_attendance(apps, schema_editor, before=BEFORE, after=AFTER):
    Stage = apps.get_model("interventions", "Stage")
    Stage.objects.filter(ladder__key="dfe", key="monitor", letters=before).update(letters=after)


def for_everyone(apps, schema_editor):
    only_for_attendance(apps, schema_editor, before=AFTER, after=BEFORE)


class Migration(migrations.Migration):
    dependencies = [("interventions", "0019_shipped_ladders_catch_up")]

    operations = [migrations.RunPython(only_for_attendance, for_everyone)]
