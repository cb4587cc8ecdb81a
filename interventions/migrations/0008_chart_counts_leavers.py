"""The weekly chart now counts every enrolment of the year, leavers included (`selectors.chart_pupils`).

Charts drawn before counted only the pupils on roll on their night, and a
night redraws only from the first week that changed, so the old weeks would
stand. Forgetting each past night's `changes_cutoff` makes the next night of
every school start afresh: it recounts every pupil-week and redraws the whole
year's chart. Nothing else is lost: the runs' history, counts and errors stay.
"""

from django.db import migrations


def forget_cutoffs(apps, schema_editor):
    NightlyRun = apps.get_model("interventions", "NightlyRun")
    NightlyRun.objects.filter(changes_cutoff__isnull=False).update(changes_cutoff=None)


class Migration(migrations.Migration):
    dependencies = [("interventions", "0007_nightly_run_phases")]

    operations = [migrations.RunPython(forget_cutoffs, migrations.RunPython.noop)]
