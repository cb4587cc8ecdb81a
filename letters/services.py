"""Every write to letter templates and letters."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction

from pupils.models import School

from .defaults import DEFAULT_BODY, DEFAULT_TEMPLATES
from .models import Letter, LetterTemplate


def letter_template_keys(*, school: School | None) -> set[str]:
    """Keys a school's ladders may name: the shipped defaults and the school's own templates."""
    keys = set(DEFAULT_TEMPLATES)
    if school is not None and school.pk:
        keys.update(LetterTemplate.objects.filter(school=school).values_list("key", flat=True))
    return keys


def letter_template_get_or_create(*, school: School, key: str) -> LetterTemplate:
    """The school's template for `key`, created from the shipped default on first use."""
    name, subject = DEFAULT_TEMPLATES.get(key, (key.replace("_", " ").capitalize(), ""))
    template, _ = LetterTemplate.objects.get_or_create(
        school=school, key=key, defaults={"name": name, "subject": subject, "body": DEFAULT_BODY}
    )
    return template


@transaction.atomic
def letters_queue_for_stage_change(*, stage_change: Any, letter_keys: list[str], on: date, user: Any = None) -> int:
    """Queue one letter per key for a stage change. Idempotent: returns how many were new."""
    created = 0
    for key in letter_keys:
        template = letter_template_get_or_create(school=stage_change.pupil.school, key=key)
        _, was_created = Letter.objects.get_or_create(
            stage_change=stage_change,
            template=template,
            defaults={
                "school": stage_change.pupil.school,
                "pupil": stage_change.pupil,
                "queued_on": on,
                "queued_by": user,
            },
        )
        created += was_created
    return created
