"""A letter keeps the day it went in the post (`posted_on`), apart from when someone marked it posted
(`posted_at`), so that correcting the date of its entry on the pupil's record moves the letter's date too.

Letters posted already take the day their entry on the record says (as corrected, if it was), the entry
found by the words it was written with; one without an entry takes the day it was marked.
"""

import re

from django.db import migrations, models
from django.utils import timezone

REFERENCE = re.compile(r"Reference L(\d+),")


def posted_on_fill(apps, schema_editor):
    Letter = apps.get_model("letters", "Letter")
    ActionLog = apps.get_model("interventions", "ActionLog")
    ActionCorrection = apps.get_model("interventions", "ActionCorrection")
    first_versions = {}
    for kept in ActionCorrection.objects.filter(action__kind="letter").order_by("-at", "-pk"):
        first_versions[kept.action_id] = kept  # the earliest last
    recorded = {}
    for entry in ActionLog.objects.filter(kind="letter").only("pk", "pupil_id", "occurred_on", "outcome", "notes"):
        as_written = first_versions.get(entry.pk, entry)
        found = REFERENCE.search(as_written.notes)
        if as_written.outcome == "Posted" and found:
            recorded[int(found.group(1)), entry.pupil_id] = entry.occurred_on
    for letter in Letter.objects.filter(status="posted", posted_at__isnull=False).only("pk", "pupil_id", "posted_at"):
        letter.posted_on = recorded.get((letter.pk, letter.pupil_id), timezone.localdate(letter.posted_at))
        letter.save(update_fields=["posted_on"])


class Migration(migrations.Migration):
    dependencies = [
        ("letters", "0010_letters_say_when_a_pupil_joined"),
        ("interventions", "0023_action_corrections_keep_what_an_entry_said"),
    ]

    operations = [
        migrations.AddField(
            model_name="letter",
            name="posted_on",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.RunPython(posted_on_fill, migrations.RunPython.noop),
    ]
