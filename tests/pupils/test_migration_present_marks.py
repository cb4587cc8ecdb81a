"""Migration 0006: present marks stored the wrong way round are put right, with no history."""

from __future__ import annotations

import importlib
from datetime import date

from django.apps import apps

from pupils.models import MarkChange
from tests.factories import MarkFactory

MIGRATION = importlib.import_module("pupils.migrations.0006_present_marks_by_session")
MONDAY = date(2025, 11, 24)


def test_present_marks_become_their_sessions_own_and_nothing_else_changes(pupil):
    afternoon = MarkFactory(pupil=pupil, date=MONDAY, session=1, code="/")
    morning = MarkFactory(pupil=pupil, date=MONDAY, session=0, code="\\")
    other = MarkFactory(pupil=pupil, date=date(2025, 11, 25), session=1, code="I")
    stamped = {m.pk: m.changed_at for m in (afternoon, morning, other)}

    MIGRATION.forwards(apps, None)

    for mark, code in ((afternoon, "\\"), (morning, "/"), (other, "I")):
        mark.refresh_from_db()
        assert (mark.code, mark.changed_at) == (code, stamped[mark.pk])
    assert not MarkChange.objects.exists()
