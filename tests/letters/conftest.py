"""Letters tests: PDFs are written to a temporary media folder; an office user joins the named people."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pupils import demo
from pupils.models import StaffMembership
from tests.factories import TODAY, MembershipFactory, UserFactory


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def office(school):
    """Olga works in Oakfield's office: she prints the queue and posts the letters."""
    return MembershipFactory(user=UserFactory(username="olga"), school=school, role=StaffMembership.Role.OFFICE).user


@pytest.fixture
def demo_school(db):
    """A small demo school (14 pupils, a register from September to the day before TODAY)."""
    return demo.generate(schools=1, pupils_per_school=14, today=TODAY).schools[0]


def pdf_text(data: bytes, tmp_path: Path, *, layout: bool = False) -> str:
    """The text of a PDF, as pdftotext reads it."""
    source = tmp_path / "letter.pdf"
    source.write_bytes(data)
    args = ["pdftotext", *(["-layout"] if layout else []), str(source), "-"]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def pdf_pages(data: bytes) -> int:
    from io import BytesIO

    from pypdf import PdfReader

    return len(PdfReader(BytesIO(data)).pages)


@pytest.fixture
def family(school):
    """Alex Smith in 4B, with a mother who gets post, a father at the same home who does not, and a register."""
    from datetime import date

    from tests.factories import ContactFactory, PupilFactory
    from tests.interventions.conftest import fill_register

    alex = PupilFactory(school=school, forename="Alex", surname="Smith")
    ContactFactory(pupil=alex, name="Sarah Smith", address="12 Elm Grove\nOakfield\nWS2 5EG", priority=1)
    ContactFactory(
        pupil=alex, name="David Smith", address="12 Elm Grove\nOakfield\nWS2 5EG", priority=2, receives_letters=False
    )
    counter = {"n": 0}

    def one_in_ten_absent(day, session):
        counter["n"] += 1
        return "O" if counter["n"] % 10 == 0 else ("/" if session == 0 else "\\")

    fill_register(alex, date(2025, 9, 1), TODAY, one_in_ten_absent)
    return alex


def queue_letters(school, pupils, key="first_reminder", **kwargs):
    """One queued letter per pupil, returned in order."""
    from letters import services

    return [services.letter_queue(school=school, pupil=p, key=key, on=TODAY, **kwargs).letters[0] for p in pupils]
