"""A posted letter knows the entry that records its posting on the pupil's record (`Letter.posting_record`),
so that correcting that entry, or taking back the posting, finds it without reading its words.

Letters posted already are linked to the entry `letters_mark_posted` wrote for them: a "Posted" entry
whose words, as first written, name the letter's reference, on the same pupil's record. A letter without
one stays unlinked, and is found by its words as before.
"""

import re

import django.db.models.deletion
from django.db import migrations, models

REFERENCE = re.compile(r"Reference L(\d+),")


def posting_records_link(apps, schema_editor):
    Letter = apps.get_model("letters", "Letter")
    ActionLog = apps.get_model("interventions", "ActionLog")
    ActionCorrection = apps.get_model("interventions", "ActionCorrection")
    first_versions = {}
    for kept in ActionCorrection.objects.filter(action__kind="letter").order_by("-at", "-pk"):
        first_versions[kept.action_id] = kept  # the earliest last
    written = {}
    for entry in ActionLog.objects.filter(kind="letter").order_by("pk").only("pk", "pupil_id", "outcome", "notes"):
        as_written = first_versions.get(entry.pk, entry)
        found = REFERENCE.search(as_written.notes)
        if as_written.outcome == "Posted" and found:
            written[int(found.group(1)), entry.pupil_id] = entry.pk  # the latest, if posted again after an Undo
    for letter in Letter.objects.filter(status="posted", posting_record__isnull=True).only("pk", "pupil_id"):
        record = written.get((letter.pk, letter.pupil_id))
        if record is not None:
            letter.posting_record_id = record
            letter.save(update_fields=["posting_record"])


class Migration(migrations.Migration):
    dependencies = [
        ("letters", "0011_letters_know_the_day_they_were_posted"),
        ("interventions", "0023_action_corrections_keep_what_an_entry_said"),
    ]

    operations = [
        migrations.AddField(
            model_name="letter",
            name="posting_record",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="posted_letter",
                to="interventions.actionlog",
            ),
        ),
        migrations.RunPython(posting_records_link, migrations.RunPython.noop),
    ]
