"""Answers the pupils app's hooks: a demo school gets the shipped ladders and a first night."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.dispatch import receiver

from pupils.signals import demo_loaded

from . import nightly, services

#: The ladder a demo school runs: the national framework, as for any new school.
DEMO_LADDER = "dfe"


@receiver(demo_loaded, dispatch_uid="interventions_demo_ladders")
def demo_ladders(sender: Any, *, schools: list[Any], today: date, **kwargs: Any) -> None:
    """Load every shipped ladder (so a school can compare and copy), activate the default, run last night."""
    for school in schools:
        for name in services.SHIPPED:
            document = services.ladder_file_read(name)
            services.ladder_load(school=school, document=document, activate=(name == DEMO_LADDER))
        nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
