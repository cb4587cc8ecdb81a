"""Checks over every template file: mistakes that print on the page rather than fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

TEMPLATES = sorted(path for folder in settings.TEMPLATES[0]["DIRS"] for path in Path(folder).rglob("*.html")) + sorted(
    Path(settings.BASE_DIR).glob("*/templates/**/*.html")
)


def test_there_are_templates_to_check():
    assert len(TEMPLATES) > 20


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: str(path.relative_to(settings.BASE_DIR)))
def test_no_comment_runs_over_a_line(path):
    """Django's {# ... #} is one line only: one that runs on is printed on the page, words and all."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        start = line.find("{#")
        assert start == -1 or "#}" in line[start:], f"{path.name}, line {number}: use {{% comment %}} for more lines"
