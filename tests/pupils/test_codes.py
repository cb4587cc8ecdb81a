"""Which code is in force on which date, by the 2024 regulations and the codes they replaced."""

from __future__ import annotations

from datetime import date

import pytest

from pupils.codes import CodeError, normalise_code


@pytest.mark.parametrize(
    ("raw", "day", "stored"),
    [
        ("/", date(2025, 11, 26), "/"),
        ("j1", date(2024, 8, 19), "J1"),  # first day of the 2024 codes
        ("J", date(2024, 8, 18), "J"),  # last day of the old interview code (approved educational activity)
        ("H", date(2023, 5, 2), "H"),
        ("F", date(2013, 8, 30), "F"),
        ("I01", date(2021, 1, 11), "I"),
        ("-", date(2025, 11, 26), None),
        (" ", date(2025, 11, 26), None),
    ],
)
def test_codes_in_force_are_stored(raw, day, stored):
    assert normalise_code(raw, day) == stored


@pytest.mark.parametrize(
    ("raw", "day", "message"),
    [
        ("J1", date(2024, 8, 18), "code 'J1' is only in force from 2024-08-19"),
        ("H", date(2024, 8, 19), "code 'H' was withdrawn after 2024-08-18"),
        ("F", date(2020, 1, 6), "code 'F' was withdrawn after 2013-08-31"),
        ("ZZ", date(2025, 11, 26), "unknown attendance code 'ZZ'"),
    ],
)
def test_codes_not_in_force_are_refused_with_the_reason(raw, day, message):
    with pytest.raises(CodeError, match=message):
        normalise_code(raw, day)
