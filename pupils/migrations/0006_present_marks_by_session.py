"""Present is "/" in the morning and "\\" in the afternoon: put right marks stored the other way round.

Marks are now stored as the session's own present mark whichever was
written (`pupils.codes.for_session`). Marks stored before that keep what
was written; without this, re-importing the same file would record every
such afternoon "/" as a correction. Both codes are "present", so no figure
changes: no history is written and `changed_at` is left alone.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    AttendanceMark = apps.get_model("pupils", "AttendanceMark")
    AttendanceMark.objects.filter(session=1, code="/").update(code="\\")
    AttendanceMark.objects.filter(session=0, code="\\").update(code="/")


class Migration(migrations.Migration):
    dependencies = [("pupils", "0005_marks_changed_by_pupil")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)]
