"""Putting things into words for the people who typed them: the name they may have meant, runs of rows.

Plain Python, for import reports and the ladder checker alike.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    """' (did you mean 'sen_support'?)' for the choice closest to a mistyped value, or "" if none is close."""
    close = difflib.get_close_matches(str(value), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def row_spans(rows: Iterable[int]) -> str:
    """Row numbers in words, runs joined up: "2 to 5, 9 and 12 to 14" ("" for none)."""
    spans: list[list[int]] = []
    for row in sorted(set(rows)):
        if spans and row == spans[-1][1] + 1:
            spans[-1][1] = row
        else:
            spans.append([row, row])
    words: list[str] = []
    for first, last in spans:
        words += [f"{first} to {last}"] if last > first + 1 else [str(row) for row in range(first, last + 1)]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"
