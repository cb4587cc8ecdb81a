"""On PostgreSQL, the (pupil, date, session) index also carries each mark's code, and the table is vacuumed sooner.

The night counts a school's marks through that index. Registers are written
day by day, so one pupil's marks lie on as many table pages as they have
days: reading a school's year visited nearly every page of the whole
table. With the code in the index, the count reads the index alone (an
index-only scan): measured at 450 against 190 ms a school's year, on a
table laid out day by day (`benchmarks/nightly.py`). An index-only scan
needs the table's visibility map to be current, so autovacuum visits it
after 1% new rows rather than 20%.

Only the index's own definition changes: same name, same uniqueness. The
new index is built beside the old one without blocking writes (registers
can be taken while it builds: with interventions 0026 and 0027 it took
14 s on the benchmark's 15 million marks), then takes the constraint over
in a moment; hence not atomic. Django's model
state is unchanged (SQLite has no such indexes; the constraint there stays
as it was).
"""

from django.db import migrations

TABLE = "pupils_attendancemark"
NAME = "mark_one_per_session"


def _constraint_on(schema_editor, columns):
    """Make NAME the unique constraint on `columns`, its index built first without blocking writes."""
    building = f"{NAME}_building"
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {building}")  # left by an interrupted build
    schema_editor.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {building} ON {TABLE} {columns}")
    schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {NAME}, ADD CONSTRAINT {NAME} UNIQUE USING INDEX {building}")


def cover(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    _constraint_on(schema_editor, f"(pupil_id, date, session) INCLUDE (code)")
    schema_editor.execute(f"ALTER TABLE {TABLE} SET (autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.02)")


def uncover(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    _constraint_on(schema_editor, "(pupil_id, date, session)")
    schema_editor.execute(
        f"ALTER TABLE {TABLE} RESET (autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_scale_factor)"
    )


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction
    dependencies = [("pupils", "0008_contacts_have_a_salutation")]

    operations = [migrations.RunPython(cover, uncover)]
