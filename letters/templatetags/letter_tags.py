"""Letters on other apps' pages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template

from letters import selectors
from letters.rules import Recipient

register = template.Library()


@register.simple_tag
def letter_recipient(letter: Any, contacts: Iterable[Any]) -> Recipient:
    """Who one of a pupil's letters goes to (`selectors.recipient_of`), from the pupil's contacts already
    read: a pupil's page lists their letters without a query for each."""
    return selectors.recipient_of(letter, carers=selectors.carers_from(contacts))
