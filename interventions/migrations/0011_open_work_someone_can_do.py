"""Open tasks nobody could do, or that have nothing left to do.

A stage action for the LA officer became a task for that role, but the LA
officer's access is read only, so nobody saw it on My tasks: such open tasks
are now the attendance lead's, as new ones are. And a review of a stage the
pupil has since left stayed open; it is now cancelled, as a move now does.
"""

from django.db import migrations
from django.db.models import Max
from django.utils import timezone


def tidy(apps, schema_editor):
    Task = apps.get_model("interventions", "Task")
    StageChange = apps.get_model("interventions", "StageChange")
    Task.objects.filter(status="open", role="la_officer").update(role="attendance_lead")
    latest = StageChange.objects.values("pupil_id", "ladder_id").annotate(last=Max("id")).values("last")
    Task.objects.filter(status="open", kind="review", stage_change__isnull=False).exclude(
        stage_change_id__in=latest
    ).update(status="cancelled", completed_at=timezone.now(), is_overdue=False)


class Migration(migrations.Migration):
    dependencies = [("interventions", "0010_dfe_bands_without_floors")]

    operations = [migrations.RunPython(tidy, migrations.RunPython.noop)]
