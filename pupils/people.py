"""How the app names a member of staff, on every page and in every record."""

from __future__ import annotations

import secrets
from typing import Any

_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # nothing to misread: no l/1, o/0


def person_name(user: Any) -> str:
    """Their full name, as people know them ("Mark Evans"); their username if no name is held; "" for nobody."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def person_with_email(user: Any) -> str:
    """A login's person, by name and e-mail, as far as they are held ("Alice Hart, alice@example.org")."""
    return ", ".join(part for part in (user.get_full_name(), user.email) if part) or "someone with no name held"


def new_password() -> str:
    """A fresh random password, in three groups of four: easy to type from a terminal (about 59 bits)."""
    return "-".join("".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(4)) for _ in range(3))


def name_parts(name: str) -> tuple[str, str]:
    """A name as typed, "Priya Shah", as a login keeps it: ("Priya", "Shah"); the first word, then the rest."""
    first, _, last = name.strip().partition(" ")
    return first, last.strip()
