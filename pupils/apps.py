from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PupilsConfig(AppConfig):
    name = "pupils"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_sync_codes, sender=self, dispatch_uid="pupils_sync_codes")


def _sync_codes(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    """Keep the AttendanceCode table equal to `pupils/data/codes.csv` after every migrate."""
    from .services import attendance_codes_sync

    attendance_codes_sync(using=using)
