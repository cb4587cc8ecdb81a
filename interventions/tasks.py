"""Celery tasks for the night: thin wrappers over `interventions.nightly` (see interventions/README.md).

`nightly_dispatch_task` runs every 15 minutes (a periodic task kept in the
database by django-celery-beat) and queues `nightly_run_task` once for each
school whose night is due: one task per school, so more workers finish sooner.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)

#: Worth retrying: the database or the broker went away for a moment.
TRANSIENT = (OperationalError, InterfaceError, BrokerError, ConnectionError)


@shared_task(
    acks_late=True,  # safe: the night is idempotent, and a worker that dies mid-night leaves nothing behind
    reject_on_worker_lost=True,  # so the broker hands the night to another worker
    autoretry_for=TRANSIENT,
    retry_backoff=30,
    retry_backoff_max=15 * 60,
    retry_jitter=True,
    max_retries=5,
)
def nightly_run_task(school_id: int, as_of: str, full: bool = False, by_hand: bool = False) -> dict[str, object]:
    """Run one school's night (`night_run`) on a worker, retried with back-off if the database or broker went."""
    return night_run(school_id, as_of, full=full, by_hand=by_hand)


def night_run(school_id: int, as_of: str, *, full: bool = False, by_hand: bool = False) -> dict[str, object]:
    """Run one school's night (`nightly.nightly_run`), unless it already succeeded or is running elsewhere.

    `by_hand`: a person asked for it (`views.night_run_now`), as they might with `run_nightly`: it runs
    even if the schedule has given the night up after too many failures.
    """
    from pupils.models import School

    from .nightly import NightGivenUp, NightRunning, abandoned_close, nightly_run
    from .selectors import night_attempts_exhausted

    school = School.objects.get(pk=school_id)
    night = date.fromisoformat(as_of)
    abandoned_close(school=school)  # a killed attempt before this delivery counts as the failure it was
    gave_up = {"school": school.urn, "night": as_of, "status": "gave up"}
    if not by_hand and night_attempts_exhausted(school=school, night=night):  # e.g. redelivered after each crash
        logger.warning("night %s for %s has failed too often: left for a person (run_nightly)", as_of, school.urn)
        return gave_up
    try:
        run = nightly_run(school=school, as_of=night, full=full, if_not_done=True, scheduled=not by_hand)
    except NightGivenUp as exc:  # the killed attempt it found in its way was the last
        logger.warning("%s: left for a person (run_nightly)", exc)
        return gave_up
    except NightRunning as exc:
        logger.info("%s", exc)
        return {"school": school.urn, "night": as_of, "status": "running elsewhere"}
    return {"school": school.urn, "night": as_of, "status": run.status, "run": run.pk}


@shared_task(autoretry_for=TRANSIENT, retry_backoff=10, max_retries=3)
def nightly_dispatch_task(now: str | None = None) -> int:
    """Queue the night of every school whose night is due and has not succeeded. Returns how many were queued.

    Safe to run as often as we like: a queued night that has meanwhile
    succeeded, or is running, does nothing (`nightly_run_task`).
    """
    from .nightly import abandoned_close
    from .selectors import nights_due

    abandoned_close()  # a night whose worker was killed is tried again, or given up and reported
    moment = datetime.fromisoformat(now) if now else timezone.now()
    due = nights_due(now=moment)
    for school, night in due:
        nightly_run_task.delay_on_commit(school.pk, night.isoformat())
    if due:
        logger.info("queued %d night(s): %s", len(due), ", ".join(f"{s.urn} {d}" for s, d in due))
    return len(due)
