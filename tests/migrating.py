"""Moving the test database to a migration and back, for the data migrations' tests."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate_to(target: tuple[str, str]) -> Any:
    """Apply or unapply migrations until `target` (app label, migration name) is the latest applied.

    Returns the models as they were then (`.get_model(app_label, name)`), for rows of a model that has
    gained a column since: today's model would write it.
    """
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


def migrate_to_latest() -> None:
    """Every app's migrations applied: how the rest of the tests expect to find the database."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
