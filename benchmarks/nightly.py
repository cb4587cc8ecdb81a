"""Benchmark: the nightly job over N schools of P pupils, against one grouped aggregate over the same marks.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        python benchmarks/nightly.py --schools 100 --pupils 400 [--workers 2]

Creates its own database (`attendance_bench`, dropped at the end unless
--keep), builds the schools with `pupils.demo.generate` (a full year of
realistic marks, streamed with COPY) in a child process, loads and activates
the DfE ladder in each, then times in this process:

- first_night_s: the first night over every school (everyone placed, with
  their tasks and letters): a one-off when a school starts;
- nightly_s: the next night, a full recount (`--full`) and re-stage of every
  pupil of every school, one school after another;
- baseline_s: one grouped aggregate over the same marks table, counting the
  ten DfE categories per pupil (best of three), as PostgreSQL plans it: a
  parallel scan, on every core;
- baseline_serial_s and serial_ratio: the same aggregate on one process, and
  the full night (also one process) against it, like for like;
- incremental_s: after one new day of marks for every pupil, the incremental night;
- with --workers W: workers_nightly_s, the full night again (re-run) fanned
  out as one Celery task per school to a real worker with W processes, and
  speedup = nightly_s / workers_nightly_s;
- with --early: early_nightly_s and early_incremental_s, the same full night
  and one-day step six weeks into the year, when there is far less history
  behind the new day.

The marks table is laid out day by day, as registers are written, so one
pupil's marks are spread over the table as in a real one (--layout pupil
keeps the build's kinder layout, each pupil's year together).

With --keep the database stays; --reuse then measures on it again without
rebuilding (it first removes every night and its work, and the added day;
the layout stays as it was built).

The last line printed is JSON. `server` gives the PostgreSQL server's memory
settings, so figures from different servers can be told apart (on this
project's 24 GB machines the operating system's cache holds what the night
reads: a 6 GB buffer pool measured within 7% of the default 128 MB).
peak_rss_mb is this process's peak (the build
runs in a child, so it is the nightly's). *_ms_a_school say where each night's
time went: the mean milliseconds a school spent in each part of it, as each
run records them (`NightlyRun.phases`). Not a test: never fails on a timing.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "attendance_site.settings")

#: Marks run up to the day before this (a Friday near the end of the school year: a full year).
TODAY = date(2026, 7, 17)
FIRST_NIGHT = date(2026, 7, 15)
FULL_NIGHT = date(2026, 7, 16)
NEW_DAY = date(2026, 7, 17)
#: A Wednesday six weeks into the same year (with --early).
EARLY_NIGHT = date(2025, 10, 15)
SEED = 2024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=10)
    parser.add_argument("--pupils", type=int, default=400)
    parser.add_argument("--workers", type=int, default=0, help="also run the full night on a real Celery worker")
    parser.add_argument("--db-name", default="attendance_bench")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="use the database --keep left, reset to before the first night"
    )
    parser.add_argument(
        "--profile", help="write cProfiles of the full night to this file, and of the incremental to FILE.incremental"
    )
    parser.add_argument(
        "--early",
        action="store_true",
        help="also run a full night and a one-day step six weeks into the year, to compare with the year's end",
    )
    parser.add_argument(
        "--layout",
        choices=("day", "pupil"),
        default="day",
        help="lay the marks table out day by day, as registers are written (the default), or pupil by pupil "
        "(with --reuse, the table keeps the layout it was built with, and the result says which)",
    )
    parser.add_argument("--phase", default="all", help=argparse.SUPPRESS)
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL", "")
    if not server.startswith("postgres"):
        sys.exit("DATABASE_URL must name a PostgreSQL server (the benchmark creates its own database there).")
    bench_url = _with_db(server, args.db_name)
    if args.phase == "build":
        _build(bench_url, args.schools, args.pupils, layout=args.layout)
        return
    if args.phase == "reset":
        _setup(bench_url)
        _reset()
        return
    if not args.reuse:
        _admin(server, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)', f'CREATE DATABASE "{args.db_name}"')
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--phase", "build", "--schools", str(args.schools), "--pupils", str(args.pupils)]
            + ["--db-name", args.db_name, "--layout", args.layout],
            check=True,
            env={**os.environ, "DATABASE_URL": server},
        )
        build_s = time.perf_counter() - started
    else:
        build_s = 0.0
        # In a child, as the build is: deleting the last run's work loads its rows, which would
        # otherwise count in this process's peak memory, the nights'.
        subprocess.run(
            [sys.executable, __file__, "--phase", "reset", "--db-name", args.db_name],
            check=True,
            env={**os.environ, "DATABASE_URL": server},
        )
    try:
        result = _measure(bench_url, args)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            _admin(server, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
    result["build_s"] = round(build_s, 1)
    print(json.dumps(result))


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _admin(server: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(_libpq(server), autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def _libpq(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def _setup(url: str) -> None:
    """Django as in production: DEBUG off, so no query is kept in memory (Django keeps the last 9,000)."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    import django

    django.setup()


def _build(url: str, schools: int, pupils: int, *, layout: str) -> None:
    _setup(url)
    from django.core.management import call_command
    from django.db import connection

    from interventions import services
    from pupils.demo import generate
    from pupils.models import AttendanceMark

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    result = generate(schools=schools, pupils_per_school=pupils, today=TODAY, seed=SEED)
    document = services.ladder_file_read("dfe")
    for school in result.schools:
        services.ladder_load(school=school, document=document, activate=True)
    with connection.cursor() as cursor:
        if layout == "day":
            _marks_by_day(cursor)
        # Kept with the table, so a measurement with --reuse reports the layout it really had.
        cursor.execute(f"COMMENT ON TABLE {AttendanceMark._meta.db_table} IS 'benchmark layout: {layout}'")
        cursor.execute("VACUUM ANALYZE")
    print(f"built {schools} schools, {result.marks} marks in {time.perf_counter() - started:.0f}s", file=sys.stderr)


def _marks_by_day(cursor: Any) -> None:
    """Rewrite the marks table in date order, as a real one is written: every pupil's register, day by day.

    The build writes each pupil's year at once, so one pupil's marks lie
    together on a few pages; in a real table they are spread over as many
    pages as the pupil has days, and reading one school's year touches
    nearly every page of the table. --layout pupil keeps the kinder layout.
    """
    from pupils.models import AttendanceMark

    table = AttendanceMark._meta.db_table
    cursor.execute(f"CREATE INDEX bench_marks_by_day ON {table} (date, session, pupil_id)")
    cursor.execute(f"CLUSTER {table} USING bench_marks_by_day")
    cursor.execute("DROP INDEX bench_marks_by_day")


def _layout() -> str:
    """How the build laid the marks table out (`_build`)."""
    from django.db import connection

    from pupils.models import AttendanceMark

    with connection.cursor() as cursor:
        cursor.execute("SELECT obj_description(%s::regclass, 'pg_class')", [AttendanceMark._meta.db_table])
        (comment,) = cursor.fetchone()
    return (comment or "").removeprefix("benchmark layout: ") or "unknown"


def _measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    os.environ.pop("REDIS_URL", None)  # in this process: no broker, tasks (none are sent) would run in-process
    _setup(url)
    from django.db import connection
    from django.db.models import Max
    from django.utils import timezone

    from pupils.models import AttendanceMark

    marks = AttendanceMark.objects.count()
    log(f"{marks} marks")
    # The night re-checks marks stamped within a minute of the last run (clock skew): let the
    # freshly built register be older than that, as a real one imported the day before would be.
    newest = AttendanceMark.objects.aggregate(at=Max("changed_at"))["at"]
    time.sleep(max(0.0, 61 - (timezone.now() - newest).total_seconds()))
    first_night_s = _all_nights(FIRST_NIGHT, full=True)
    first_phases = _phases(FIRST_NIGHT)
    log(f"first night {first_night_s:.1f}s")
    # A day passes between nights, and autovacuum vacuums and analyses the tables the first night
    # filled; some servers (this project's CI machines among them) run with autovacuum off.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
    nightly_s = _all_nights(FULL_NIGHT, full=True)
    full_phases = _phases(FULL_NIGHT)
    if args.profile:
        profiler.disable()
        profiler.dump_stats(args.profile)
    log(f"full night {nightly_s:.1f}s")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    baseline_s = min(_baseline() for _ in range(3))
    baseline_serial_s = min(_baseline(parallel=False) for _ in range(3))
    log(f"baseline {baseline_s:.2f}s, on one process {baseline_serial_s:.2f}s")
    result: dict[str, Any] = {
        "schools": args.schools,
        "pupils": args.pupils,
        "layout": _layout(),
        "server": _server_memory(),
        "marks": marks,
        "first_night_s": round(first_night_s, 2),
        "nightly_s": round(nightly_s, 2),
        "baseline_s": round(baseline_s, 2),
        "ratio": round(nightly_s / baseline_s, 2),
        "baseline_serial_s": round(baseline_serial_s, 2),
        "serial_ratio": round(nightly_s / baseline_serial_s, 2),
    }
    if args.workers:
        workers_s = _worker_nights(url, FULL_NIGHT, args.workers)
        result.update(
            workers=args.workers,
            workers_nightly_s=round(workers_s, 2),
            speedup=round(nightly_s / workers_s, 2),
            workers_ratio=round(workers_s / baseline_s, 2),
        )
    new_marks = _add_day(NEW_DAY)
    log(f"added {new_marks} marks for {NEW_DAY}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
    incremental_s = _all_nights(NEW_DAY, full=False)
    incremental_phases = _phases(NEW_DAY)
    if args.profile:
        profiler.disable()
        profiler.dump_stats(args.profile + ".incremental")
    result.update(
        new_day_marks=new_marks,
        incremental_s=round(incremental_s, 2),
        incremental_share=round(incremental_s / nightly_s, 3),
        peak_rss_mb=round(max(rss_mb, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), 1),
        first_night_ms_a_school=first_phases,
        nightly_ms_a_school=full_phases,
        incremental_ms_a_school=incremental_phases,
    )
    if args.early:
        result.update(_early_nights())
    connection.close()
    return result


def _server_memory() -> dict[str, str]:
    """The PostgreSQL server's memory settings: how much of the marks it keeps in its own buffers."""
    from django.db import connection

    with connection.cursor() as cursor:
        return {name: _show(cursor, name) for name in ("shared_buffers", "effective_cache_size")}


def _show(cursor: Any, name: str) -> str:
    cursor.execute(f"SHOW {name}")
    return cursor.fetchone()[0]


def _reset() -> None:
    """Put a kept database back as the build left it: no nights, none of their work, no added day.

    Migrates it first, so a database kept by an older checkout measures this one.
    """
    from django.core.management import call_command
    from django.db import connection

    from interventions.models import NightlyRun, Placement, Proposal, PupilWeek, SchoolWeek, StageChange, Task
    from letters.models import Letter
    from pupils.models import AttendanceMark

    call_command("migrate", verbosity=0)
    for model in (Letter, Task, Proposal, StageChange, Placement, PupilWeek, SchoolWeek, NightlyRun):
        model.objects.all().delete()
    AttendanceMark.objects.filter(date__gte=NEW_DAY).delete()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    log("reset the kept database to before the first night")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _all_nights(as_of: date, *, full: bool) -> float:
    """Every school's night, one after another in this process (what `run_nightly --all-schools` does)."""
    from interventions.models import Ladder
    from interventions.nightly import nightly_run
    from pupils.models import School

    schools = list(School.objects.filter(pk__in=Ladder.objects.filter(is_active=True).values("school_id")))
    started = time.perf_counter()
    for school in schools:
        run = nightly_run(school=school, as_of=as_of, full=full)
        assert run.full == full or not full, (school, run.full)
    return time.perf_counter() - started


def _early_nights() -> dict[str, Any]:
    """The same full night and one-day step six weeks into the year instead of at its end.

    A full night reads the whole history, so it grows with the year; an
    incremental night should cost what one day's marks and the pupils cost,
    whatever lies behind them. Nights for earlier days are run after the later
    ones (their stage changes are dated then); the first settles everyone.
    """
    from interventions.models import NightlyRun

    _all_nights(EARLY_NIGHT - timedelta(days=1), full=True)
    early_full_s = _all_nights(EARLY_NIGHT, full=True)
    early_incremental_s = _all_nights(EARLY_NIGHT + timedelta(days=1), full=False)
    step = NightlyRun.objects.filter(run_on=EARLY_NIGHT + timedelta(days=1), status=NightlyRun.Status.DONE)
    assert not step.filter(full=True).exists(), "the early one-day step ran as a full night"
    log(f"early full night {early_full_s:.1f}s, early incremental {early_incremental_s:.1f}s")
    return {
        "early_nightly_s": round(early_full_s, 2),
        "early_incremental_s": round(early_incremental_s, 2),
        "early_incremental_ms_a_school": _phases(EARLY_NIGHT + timedelta(days=1)),
    }


def _phases(night: date) -> dict[str, int]:
    """Mean milliseconds a school in each part of the night (`NightlyRun.phases`), over that night's first runs."""
    from interventions.models import NightlyRun

    runs = NightlyRun.objects.filter(run_on=night, status=NightlyRun.Status.DONE).order_by("school", "started_at")
    first: dict[int, dict[str, int]] = {}
    for school_id, phases in runs.values_list("school_id", "phases"):
        first.setdefault(school_id, phases)
    if not first:
        return {}
    return {name: round(sum(p.get(name, 0) for p in first.values()) / len(first)) for name in NightlyRun.PHASES}


def _baseline(*, parallel: bool = True) -> float:
    """One grouped aggregate over the whole marks table: the ten DfE counts per pupil.

    With `parallel` off, on one process, as each school's night runs (`nightly._night_session`).
    """
    from django.db import connection, transaction

    from pupils import statistics as stats

    def codes(values: Any) -> str:
        return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values)) + ")"

    groups = [
        stats.PRESENT_CODES,
        stats.AEA_CODES,
        stats.AUTHORISED_CODES,
        stats.UNAUTHORISED_CODES,
        {"L"},
        {"U"},
        {"N"},
        {"I"},
        stats.codes.HOLIDAY_CODES,
        stats.NOT_POSSIBLE_CODES,
    ]
    counts = ", ".join(f"count(*) FILTER (WHERE code IN {codes(g)})" for g in groups)
    with transaction.atomic(), connection.cursor() as cursor:
        if not parallel:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        started = time.perf_counter()
        cursor.execute(f"SELECT pupil_id, {counts} FROM pupils_attendancemark GROUP BY pupil_id")
        cursor.fetchall()
        return time.perf_counter() - started


def _add_day(day: date) -> int:
    """One new school day of marks for every pupil on roll, set-based: mostly present, some absent or late."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO pupils_attendancemark (pupil_id, date, session, code, comment, changed_at)
            SELECT p.id, %s, s.session,
                CASE WHEN r.x < 0.04 THEN 'I' WHEN r.x < 0.05 THEN 'N' WHEN r.x < 0.06 THEN 'M'
                     WHEN r.x < 0.08 AND s.session = 0 THEN 'L'
                     WHEN s.session = 0 THEN '/' ELSE '\\' END,
                '', now()
            FROM pupils_pupil p
            CROSS JOIN (VALUES (0), (1)) AS s(session)
            CROSS JOIN LATERAL (SELECT random() AS x, p.id AS pid) r
            WHERE p.start_on <= %s AND (p.leaving_on IS NULL OR p.leaving_on >= %s)
            """,
            [day, day, day],
        )
        return cursor.rowcount


def _worker_nights(url: str, as_of: date, workers: int) -> float:
    """The full night again, one task a school, on a real worker with `workers` processes and Redis."""
    import redis
    from celery import Celery

    from interventions.models import Ladder, NightlyRun

    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    redis.Redis.from_url(redis_url).flushdb()
    # A re-run of a night that already succeeded: forget the success so the tasks run it in full.
    NightlyRun.objects.filter(run_on=as_of).delete()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "attendance_site.settings",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "attendance_site", "worker", "-P", "prefork", "-c", str(workers)]
        + ["-l", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "bench@%h"],
        cwd=ROOT,
        env=env,
    )
    sender = Celery("bench", broker=redis_url)
    try:
        time.sleep(1)
        sender.connection_for_write().ensure_connection(max_retries=10)
        school_ids = list(Ladder.objects.filter(is_active=True).values_list("school_id", flat=True))
        # Start the clock once the worker answers, so its start-up is not counted.
        _wait_ready(sender)
        started = time.perf_counter()
        for school_id in school_ids:
            sender.send_task("interventions.tasks.nightly_run_task", args=[school_id, as_of.isoformat(), True])
        while NightlyRun.objects.filter(run_on=as_of, status=NightlyRun.Status.DONE).count() < len(school_ids):
            if worker.poll() is not None:
                raise RuntimeError("the worker stopped")
            time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(60)
        sender.close()
        redis.Redis.from_url(redis_url).flushdb()


def _wait_ready(sender: Any) -> None:
    for _ in range(300):
        if sender.control.ping(timeout=0.5):
            return
    raise RuntimeError("the worker did not start")


if __name__ == "__main__":
    main()
