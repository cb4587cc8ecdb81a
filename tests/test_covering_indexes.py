"""On PostgreSQL, the indexes the night counts through carry what it counts (pupils 0009, interventions 0026).

With them the night reads a school's marks and weekly counts from the index
alone, wherever the rows lie in the table. The indexes keep their names and
still refuse a second mark for a session, or a second row for a pupil's week.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction

from interventions.models import PupilWeek
from pupils.models import AttendanceMark
from tests.factories import MarkFactory, PupilFactory
from tests.migrating import migrate_to, migrate_to_latest


def _index(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef(%s::regclass)", [name])
        return cursor.fetchone()[0]


def _autovacuum(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(reloptions, '{}') FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


COUNTS = ", ".join(PupilWeek.COUNTS)


@pytest.mark.usefixtures("postgres_only")
def test_the_marks_and_weekly_counts_indexes_carry_what_the_night_counts():
    assert _index("mark_one_per_session").endswith("(pupil_id, date, session) INCLUDE (code)")
    assert _index("pupil_week_unique").endswith(f"(pupil_id, week_start) INCLUDE ({COUNTS})")
    assert "autovacuum_vacuum_insert_scale_factor=0.01" in _autovacuum(AttendanceMark._meta.db_table)
    assert "autovacuum_vacuum_scale_factor=0.01" in _autovacuum(PupilWeek._meta.db_table)


@pytest.mark.usefixtures("postgres_only")
def test_the_covering_indexes_still_refuse_a_second_mark_or_week():
    pupil = PupilFactory()
    day = date(2026, 3, 2)
    MarkFactory(pupil=pupil, date=day, code="/")
    with pytest.raises(IntegrityError), transaction.atomic():
        MarkFactory(pupil=pupil, date=day, code="N")
    counts = dict.fromkeys(PupilWeek.COUNTS, 0)
    PupilWeek.objects.create(pupil=pupil, week_start=day, **counts)
    with pytest.raises(IntegrityError), transaction.atomic():
        PupilWeek.objects.create(pupil=pupil, week_start=day, **counts)


@pytest.mark.usefixtures("postgres_only")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_covering_indexes_can_be_taken_back():
    try:
        migrate_to(("pupils", "0008_contacts_have_a_salutation"))
        migrate_to(("interventions", "0025_entries_know_their_referral"))
        assert _index("mark_one_per_session").endswith("(pupil_id, date, session)")
        assert _index("pupil_week_unique").endswith("(pupil_id, week_start)")
        assert not _autovacuum(AttendanceMark._meta.db_table)
        assert not _autovacuum(PupilWeek._meta.db_table)
    finally:
        migrate_to_latest()
    assert "INCLUDE (code)" in _index("mark_one_per_session")
