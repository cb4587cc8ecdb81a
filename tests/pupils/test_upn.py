from __future__ import annotations

import pytest

from pupils.upn import upn_check_letter, upn_problem


def test_dfe_example_upn_is_valid():
    assert upn_problem("B801200005001") is None


def test_check_letter_by_hand():
    # 8*2 + 1*4 + 2*5 + 5*10 + 1*13 = 93; 93 mod 23 = 1, the second letter: B.
    assert upn_check_letter("801200005001") == "B"


@pytest.mark.parametrize(
    ("upn", "fragment"),
    [
        ("A801200005001", "its first letter, 'A', is a check on the digits after it, which give 'B'"),
        ("B80120000500", "must be 13 characters"),
        ("B80120000500I", "never used"),
        ("B8012000050X1", "must be a letter, 11 digits"),
    ],
)
def test_bad_upns_say_what_is_wrong(upn, fragment):
    assert fragment in upn_problem(upn)


def test_temporary_upn_final_letter_counts_by_alphabet_position():
    body = "80120000500A"
    upn = upn_check_letter(body) + body
    assert upn_problem(upn) is None
