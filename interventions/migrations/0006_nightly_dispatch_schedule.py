"""The periodic task that starts each school's night (see interventions/tasks.py)."""

from __future__ import annotations

from django.db import migrations

NAME = "interventions: nightly dispatch"
TASK = "interventions.tasks.nightly_dispatch_task"


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_15, _ = CrontabSchedule.objects.get_or_create(
        minute="*/15", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "crontab": every_15,
            "description": (
                "Every 15 minutes: queue the night of each school whose local time has passed "
                "NIGHTLY_LOCAL_TIME (default 02:00) and whose night has not yet succeeded."
            ),
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("interventions", "0005_nightly_schema"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
