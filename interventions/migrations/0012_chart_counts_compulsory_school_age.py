"""The weekly chart now counts pupils of compulsory school age only (`selectors.chart_pupils`).

Its lines are drawn against the national attendance and persistent absence
figures, which cover pupils aged 5 to 15; Reception children were counted
too. A night redraws only from the first week that changed, so, as in 0008,
forgetting each past night's `changes_cutoff` makes every school's next night
recount and redraw the whole year. The runs' history, counts and errors stay.
"""

from django.db import migrations


def forget_cutoffs(apps, schema_editor):
    NightlyRun = apps.get_model("interventions", "NightlyRun")
    NightlyRun.objects.filter(changes_cutoff__isnull=False).update(changes_cutoff=None)


class Migration(migrations.Migration):
    dependencies = [("interventions", "0011_open_work_someone_can_do")]

    operations = [migrations.RunPython(forget_cutoffs, migrations.RunPython.noop)]
