"""Unique Pupil Numbers: 13 characters with a mod-23 check letter first.

Plain Python: the importers, forms and the model validator all call `upn_problem`.
"""

from __future__ import annotations

import re

CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # A=0 ... Z=22; I, O and S are never used
_SHAPE = re.compile(r"^[A-Z]\d{11}[0-9A-Z]$")


def upn_check_letter(body: str) -> str:
    """The check letter for the 12 characters after it (positions 2 to 13)."""
    total = 0
    for position, char in enumerate(body, start=2):
        value = int(char) if char.isdigit() else CHECK_LETTERS.index(char)
        total += value * position
    return CHECK_LETTERS[total % 23]


def upn_problem(upn: str) -> str | None:
    """Why `upn` is not a valid UPN, or None if it is."""
    if len(upn) != 13:
        return f"UPN {upn!r} must be 13 characters, not {len(upn)}"
    if not _SHAPE.match(upn):
        return f"UPN {upn!r} must be a letter, 11 digits, then a digit or (temporary UPN) a letter"
    last = upn[-1]
    if last.isalpha() and last not in CHECK_LETTERS:
        return f"UPN {upn!r} ends in {last!r}, which is never used in UPNs"
    expected = upn_check_letter(upn[1:])
    if upn[0] != expected:
        return (
            f"UPN {upn!r} looks mistyped: its first letter, {upn[0]!r}, is a check on the digits after it,"
            f" which give {expected!r} (copy the UPN from the MIS again)"
        )
    return None


def validate_upn(value: str) -> None:
    from django.core.exceptions import ValidationError

    problem = upn_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_upn")
