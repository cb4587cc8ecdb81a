"""How the app names a member of staff, on every page and in every record."""

from __future__ import annotations

from typing import Any


def person_name(user: Any) -> str:
    """Their full name, as people know them ("Mark Evans"); their username if no name is held; "" for nobody."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()
