"""A real Celery worker, with Redis, runs the nights; killing it half-way through a school loses and doubles nothing.

The worker is a separate process (`celery -A attendance_site worker -P solo`)
pointed at this test's PostgreSQL database and at a Redis database of its own
(numbers 11-15, flushed before and after), so these tests need both running;
without them they skip.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from django.db import connection

from interventions.models import NightlyRun, StageChange
from tests.interventions.test_nightly_incremental import build_school, snapshot

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

ROOT = Path(__file__).resolve().parents[2]
#: A Redis database of our own (11-15, one for each pytest-xdist worker), so no other queue is touched.
_XDIST = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
REDIS_URL = os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{11 + _XDIST % 5}")
AS_OF = date(2025, 11, 26)
#: 03:00 in London the next morning: the night of AS_OF is due.
MORNING = "2025-11-27T03:00:00+00:00"


def _redis_flush() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture
def redis_db() -> Iterator[str]:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"needs Redis at {REDIS_URL}")
    _redis_flush()
    yield REDIS_URL
    _redis_flush()


class Worker:
    """One `celery worker` process and the lines it has printed."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "attendance_site",
                "worker",
                "-P",
                "solo",
                "-l",
                "info",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"nightly-test-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        wait_for(lambda: any(" ready." in line for line in self.lines), 60, "the worker to start", self)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no acknowledgement, no rollback but the database's own."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(check: Callable[[], bool], seconds: float, what: str, worker: Worker | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        if worker is not None and worker.process.poll() is not None:
            break
        time.sleep(0.1)
    log = "\n".join(worker.lines[-40:]) if worker else ""
    raise AssertionError(f"timed out waiting for {what}\n{log}")


@pytest.fixture
def start_worker(postgres_only: None, redis_db: str) -> Iterator[Callable[..., Worker]]:
    db = connection.settings_dict
    database_url = (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    started: list[Worker] = []

    def start(pause: float = 0.0) -> Worker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "attendance_site.settings",
            # The test database, not the one named in the environment: the worker must see this test's data.
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_db,
            "NIGHTLY_TEST_PAUSE_S": str(pause),
        }
        worker = Worker(env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    connection.close()


@pytest.fixture
def broker(redis_db: str) -> Iterator[Celery]:
    """A client of the same broker, sending by task name as beat would."""
    app = Celery("test-sender", broker=redis_db)
    yield app
    app.close()


def runs(school: Any, status: str) -> int:
    return NightlyRun.objects.filter(school=school, run_on=AS_OF, status=status).count()


def test_a_worker_runs_the_night_of_every_due_school(start_worker, broker):
    schools = [build_school(urn, until=AS_OF)[0] for urn in ("500001", "500002", "500003")]
    worker = start_worker()
    broker.send_task("interventions.tasks.nightly_dispatch_task", kwargs={"now": MORNING})
    wait_for(lambda: all(runs(s, "done") == 1 for s in schools), 120, "three nights", worker)
    # Dispatching again the same morning finds nothing left to do.
    broker.send_task("interventions.tasks.nightly_dispatch_task", kwargs={"now": MORNING})
    wait_for(
        lambda: any("nightly_dispatch_task" in line and line.endswith("s: 0") for line in worker.lines),
        30,
        "an empty dispatch",
        worker,
    )
    assert snapshot(schools[0])["changes"] and all(runs(s, "done") == 1 for s in schools)
    assert NightlyRun.objects.count() == 3


def test_killing_the_worker_mid_school_then_rerunning_gives_exactly_one_clean_night(start_worker, broker):
    killed_school, _ = build_school("600001", until=AS_OF)
    clean_school, _ = build_school("600002", until=AS_OF)

    # A slow worker (a pause between pupils): wait until it is part-way through the school, then kill it.
    slow = start_worker(pause=0.4)
    broker.send_task("interventions.tasks.nightly_run_task", args=[killed_school.pk, AS_OF.isoformat()])
    wait_for(lambda: runs(killed_school, "running") == 1, 60, "the night to start", slow)
    time.sleep(2.5)  # some pupils moved, in the night's uncommitted transaction
    assert runs(killed_school, "done") == 0, "the worker finished before it could be killed: slow it down"
    slow.kill()

    # Nothing of the killed attempt is kept: its claim is left RUNNING, with no moves, tasks or letters.
    assert runs(killed_school, "running") == 1
    assert not StageChange.objects.filter(pupil__school=killed_school).exists()

    # The next dispatch (as beat would send 15 minutes later) re-runs it on a new worker, beside a clean school.
    worker = start_worker()
    broker.send_task("interventions.tasks.nightly_dispatch_task", kwargs={"now": MORNING})
    wait_for(lambda: runs(killed_school, "done") == 1 and runs(clean_school, "done") == 1, 120, "both nights", worker)
    assert runs(killed_school, "failed") == 1  # the dead attempt, taken over and recorded
    assert "Abandoned" in NightlyRun.objects.get(school=killed_school, status="failed").error
    # Exactly the moves, tasks, letters and proposals of one clean run on identical data.
    assert snapshot(killed_school) == snapshot(clean_school)
    assert snapshot(killed_school)["changes"], "the night moved nobody: the comparison would prove little"
