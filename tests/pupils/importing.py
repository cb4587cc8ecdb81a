"""Helpers for the import tests: files in tmp_path, running commands, and a picture of the database."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from pupils.models import AttendanceMark, Contact, Flag, MarkChange, Pupil, RegistrationGroup


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def run(*args: object) -> str:
    """Run a command; return what it printed."""
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def run_rejected(*args: object) -> str:
    """Run a command that must fail; return its message (every problem, one a line)."""
    with pytest.raises(CommandError) as failure:
        call_command(*args, stdout=StringIO(), stderr=StringIO())
    return str(failure.value)


def database_picture() -> dict[str, list[tuple[object, ...]]]:
    """Everything an import may write, apart from its ImportBatch record."""
    return {
        "pupils": list(Pupil.objects.order_by("id").values_list()),
        "flags_of_pupils": list(Pupil.flags.through.objects.order_by("id").values_list()),
        "contacts": list(Contact.objects.order_by("id").values_list()),
        "flags": list(Flag.objects.order_by("id").values_list()),
        "groups": list(RegistrationGroup.objects.order_by("id").values_list()),
        "marks": list(AttendanceMark.objects.order_by("id").values_list()),
        "history": list(MarkChange.objects.order_by("id").values_list()),
    }
