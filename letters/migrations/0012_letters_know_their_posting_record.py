"""A posted letter knows the entry that records its posting on the pupil's record (`Letter.posting_record`),
so that correcting that entry, or taking back the posting, finds it without reading its words; and its
posting day (0011) is that entry's day, as corrected if it was.

Letters posted already are linked to the entry `letters_mark_posted` wrote for them, as it was first
written (a correction keeps that): titled "Letter posted: ...", outcome "Posted", naming the letter's
reference; on the same pupil's record, by whoever marked it posted, written once they had. The earliest
such entry, if there are two. An entry logged by hand as a letter is none of these. A letter without one
stays unlinked.
"""

import re
from collections import defaultdict

import django.db.models.deletion
from django.db import migrations, models

REFERENCE = re.compile(r"Reference L(\d+),")


def posting_records_link(apps, schema_editor):
    Letter = apps.get_model("letters", "Letter")
    ActionLog = apps.get_model("interventions", "ActionLog")
    ActionCorrection = apps.get_model("interventions", "ActionCorrection")
    first_versions = {}
    for kept in ActionCorrection.objects.filter(action__kind="letter").order_by("-at", "-pk").iterator():
        first_versions[kept.action_id] = kept  # the earliest last
    written = defaultdict(list)  # (letter id, pupil id) -> [(created_at, pk, by_id, occurred_on)]
    entries = ActionLog.objects.filter(kind="letter").only(
        "pk", "pupil_id", "by_id", "title", "outcome", "notes", "occurred_on", "created_at"
    )
    for entry in entries.iterator():
        as_written = first_versions.get(entry.pk, entry)
        found = REFERENCE.search(as_written.notes)
        if as_written.title.startswith("Letter posted: ") and as_written.outcome == "Posted" and found:
            written[int(found.group(1)), entry.pupil_id].append(
                (entry.created_at, entry.pk, entry.by_id, entry.occurred_on)
            )
    posted = Letter.objects.filter(status="posted", posting_record__isnull=True, posted_at__isnull=False)
    for letter in posted.only("pk", "pupil_id", "posted_by_id", "posted_at", "posted_on").iterator():
        candidates = sorted(
            (created_at, pk, occurred_on)
            for created_at, pk, by_id, occurred_on in written.get((letter.pk, letter.pupil_id), ())
            if by_id == letter.posted_by_id and created_at >= letter.posted_at
        )
        if candidates:
            _, letter.posting_record_id, letter.posted_on = candidates[0]
            letter.save(update_fields=["posting_record", "posted_on"])


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
