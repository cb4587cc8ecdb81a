"""Writes from the ladder pages: copying a ladder and saving an edit. Both go through `services.ladder_load`."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction

from pupils.models import School

from .ladder_format import LadderCheck, Problem
from .models import Ladder
from .services import LadderError, ladder_load

_COPY_SUFFIX = re.compile(r"-copy(-\d+)?$")


def ladder_copy_key(*, school: School, key: str) -> str:
    """A free key for a copy: `sherrier` -> `sherrier-copy`, then `sherrier-copy-2`, ..."""
    base = _COPY_SUFFIX.sub("", key)[:48] or "ladder"
    taken = set(Ladder.objects.filter(school=school, key__startswith=base).values_list("key", flat=True))
    candidate, n = f"{base}-copy", 2
    while candidate in taken:
        candidate, n = f"{base}-copy-{n}", n + 1
    return candidate


@transaction.atomic
def ladder_copy(*, school: School, document: dict[str, Any]) -> tuple[Ladder, LadderCheck]:
    """Load a copy of a ladder document (shipped or the school's own) under a new key. Never activates it.

    The copy never overwrites an existing ladder: it takes the first free `<key>-copy[-N]`.
    Raises LadderError if the document has errors.
    """
    # One copy at a time per school, so two people copying at once get two different keys.
    School.objects.select_for_update().filter(pk=school.pk).first()
    key = ladder_copy_key(school=school, key=str(document.get("key") or "ladder"))
    name = str(document.get("name") or key)
    copy = {**document, "key": key, "name": name if name.endswith("(copy)") else f"{name[:190]} (copy)"}
    return ladder_load(school=school, document=copy)


@transaction.atomic
def ladder_edit(*, ladder: Ladder, document: dict[str, Any]) -> tuple[Ladder, LadderCheck]:
    """Replace a school's ladder with an edited document, keeping its key and whether it is active.

    Raises LadderError, changing nothing, if the document has errors, tries to change the key, or
    removes a stage that pupils stand on. Idempotent.
    """
    key = document.get("key", ladder.key)
    if key != ladder.key:
        raise LadderError(
            [
                Problem(
                    "ladder, field key", f"the key must stay {ladder.key!r} here; to make a new ladder, copy this one"
                )
            ]
        )
    return ladder_load(school=ladder.school, document={**document, "key": ladder.key})
