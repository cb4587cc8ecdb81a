"""A letter keeps the day it went in the post (`posted_on`), apart from when someone marked it posted
(`posted_at`), so that correcting the date of its entry on the pupil's record moves the letter's date too.

Letters posted already take the day they were marked; 0012, which links each to its entry on the record,
then gives them that entry's day, as corrected if it was.
"""

from django.db import migrations, models
from django.utils import timezone


def posted_on_fill(apps, schema_editor):
    Letter = apps.get_model("letters", "Letter")
    for letter in Letter.objects.filter(status="posted", posted_at__isnull=False).only("pk", "posted_at").iterator():
        letter.posted_on = timezone.localdate(letter.posted_at)
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
