"""Answers the interventions app's hooks: queue a stage's letters, say which it queued, name the templates,
follow a corrected posting record."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from interventions.signals import action_corrected, letter_templates_requested, stage_entered, stage_letters_given

from . import selectors, services


@receiver(stage_entered, dispatch_uid="letters_queue_on_stage_entry")
def queue_stage_letters(sender: Any, *, entries: list[Any], on: Any, user: Any = None, **kwargs: Any) -> int:
    return services.letters_queue_for_stage_changes(entries=entries, on=on, user=user)


@receiver(letter_templates_requested, dispatch_uid="letters_known_templates")
def known_letter_templates(sender: Any, *, school: Any = None, **kwargs: Any) -> dict[str, str]:
    return services.letter_template_names(school=school)


@receiver(stage_letters_given, dispatch_uid="letters_given_for_stage_changes")
def stage_letters_given_for(sender: Any, *, changes: list[Any], **kwargs: Any) -> set[tuple[int, str]]:
    return selectors.stage_letters_given(changes=changes)


@receiver(action_corrected, dispatch_uid="letters_posted_on_follows_its_record")
def posting_record_corrected(sender: Any, *, action: Any, **kwargs: Any) -> int:
    return services.letter_posted_on_follow(action=action)
