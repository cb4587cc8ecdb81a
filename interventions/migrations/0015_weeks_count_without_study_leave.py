"""The night's weekly counts now leave out Year 11 study leave (`pupils.statistics.study_leave`).

Weeks counted before this would still hold those sessions, until a pupil's
record changes or the periodic full recount comes round. As in 0008 and 0012,
forgetting each past night's `changes_cutoff` makes every school's next night
recount and redraw the whole year. The runs' history, counts and errors stay.
"""

from django.db import migrations


def forget_cutoffs(apps, schema_editor):
    NightlyRun = apps.get_model("interventions", "NightlyRun")
    NightlyRun.objects.filter(changes_cutoff__isnull=False).update(changes_cutoff=None)


class Migration(migrations.Migration):
    dependencies = [("interventions", "0014_dfe_irregular_attendance_is_unauthorised")]

    operations = [migrations.RunPython(forget_cutoffs, migrations.RunPython.noop)]
