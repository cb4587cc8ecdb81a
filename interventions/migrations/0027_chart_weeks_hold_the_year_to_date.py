"""Each week of the chart also holds the school's attendance and severe absence over the year to date.

An LA officer compares schools by them (the list of schools). As in 0008 and
0012, forgetting each past night's `changes_cutoff` makes every school's next
night recount and redraw the whole year, so every week gets its figures; the
runs' history, counts and errors stay.
"""

from django.db import migrations, models


def forget_cutoffs(apps, schema_editor):
    NightlyRun = apps.get_model("interventions", "NightlyRun")
    NightlyRun.objects.filter(changes_cutoff__isnull=False).update(changes_cutoff=None)


class Migration(migrations.Migration):
    dependencies = [("interventions", "0026_weekly_counts_index_covers_the_counts")]

    operations = [
        migrations.AddField(
            model_name="schoolweek",
            name="severe_absence_pct",
            field=models.DecimalField(
                decimal_places=2,
                help_text="Share of pupils severely absent, year to date at the week's end.",
                max_digits=6,
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="schoolweek",
            name="year_attendance_pct",
            field=models.DecimalField(
                decimal_places=2,
                help_text="Attendance over the year to date at the week's end.",
                max_digits=6,
                null=True,
            ),
        ),
        migrations.RunPython(forget_cutoffs, migrations.RunPython.noop),
    ]
