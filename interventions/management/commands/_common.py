from __future__ import annotations

from datetime import date

from django.core.management.base import CommandError
from django.utils import timezone

from pupils.models import School


def school_by_urn(urn: str) -> School:
    try:
        return School.objects.get(urn=urn)
    except School.DoesNotExist:
        raise CommandError(f"No school with URN {urn!r}.") from None


def parse_date(text: str | None, option: str) -> date:
    if not text:
        return timezone.localdate()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{option} {text!r} is not a date in the form YYYY-MM-DD.") from None
