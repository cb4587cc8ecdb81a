"""Moving the test database to a migration and back, for the data migrations' tests."""

from __future__ import annotations

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate_to(target: tuple[str, str]) -> None:
    """Apply or unapply migrations until `target` (app label, migration name) is the latest applied."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
