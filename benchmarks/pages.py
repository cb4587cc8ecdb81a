"""Benchmark: the dashboard, the pupil page and the class teacher's page for a 2,000-pupil school.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/attendance_pages \\
        .venv/bin/python benchmarks/pages.py [--pupils 2000] [--concurrency 16] [--requests 25]

The target (shared/docs/product.md, "Scale: the targets"): a fixed number of
queries whatever the pupil count, and p95 under 200 ms at 16 concurrent users.

What it does, all in one run:

1. Creates its own PostgreSQL databases on the server in DATABASE_URL (the
   URL's database name + `_bench`, and + `_bench_small` for the comparison
   school), dropping any left from an earlier run; migrates them and fills
   them with `manage.py load_demo` (one school of --pupils pupils, and one of
   --small-pupils, each with the demo's small neighbour, which the pages
   measured never show; registers from September to yesterday, or to the day
   before --today; the demo's receiver loads the ladders and runs a first
   night). Then VACUUM ANALYZE, as autovacuum would soon after a bulk load
   (--no-analyze to measure plans made without statistics).
2. Runs `collectstatic` into a temporary STATIC_ROOT (a settings overlay in a
   temporary folder: nothing is written into the project).
3. In a child process on each database: sets known passwords for `lead` and
   `teacher`, and renders each page with Django's test client under
   CaptureQueriesContext, so the query count is measured at both sizes.
4. Starts gunicorn on a free 127.0.0.1 port (DEBUG off, production settings
   but plain HTTP, CONN_MAX_AGE as in docker-compose), signs each simulated
   user in (its own session, as 16 people would have), warms up, then per
   page runs --concurrency threads, each with one http.client connection,
   making --requests requests back to back: first the baselines (the sign-in
   page, a full Django request that reads no data; and a static file), then
   the dashboard and pupil pages (several pupils) as `lead` and the classes
   page as `teacher`. Every response must be a 200.
5. If any page's p95 is over the target, profiles it in a child process
   (cProfile over the test client, and EXPLAIN ANALYZE of its slowest
   queries), printed to stderr.
6. Stops gunicorn and drops the databases (--keep to leave them).

The last line printed is JSON: pupils, concurrency, pages (p50_ms, p95_ms,
max_ms, queries, queries_at_<small>, requests, app_cpu_ms, db_cpu_ms,
req_per_s per page), baseline and baseline_static, errors, load_average.
app_cpu_ms and db_cpu_ms are CPU time per request in the gunicorn workers
and in this database's PostgreSQL backends (not counting short-lived parallel
query workers): unlike latencies they hardly move when other work shares
the machine. With N users each sending the next
request as soon as the last returns, latency is about N x CPU per request /
cores, so on 2 cores p95 < 200 ms at 16 users needs roughly 25 ms of CPU a
request. Progress and profiles go to stderr. Not a test: it never fails on a
timing.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MANAGE = str(ROOT / "manage.py")
TARGET_P95_MS = 200.0
PASSWORD = "bench-" + secrets.token_hex(8)
OVERLAY = '''"""Benchmark-only settings: the project's, with static files collected into a temporary folder."""
import os
from attendance_site.settings import *  # noqa: F401,F403
STATIC_ROOT = os.environ["BENCH_STATIC_ROOT"]
'''


def log(message: str) -> None:
    print(f"[pages {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- databases ----------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def _admin_connect(url: str, dbname: str = "postgres"):  # type: ignore[no-untyped-def]
    import psycopg

    parts = urllib.parse.urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=urllib.parse.unquote(parts.username or "postgres"),
        password=urllib.parse.unquote(parts.password) if parts.password else None,
        dbname=dbname,
        autocommit=True,
    )


def database_create(url: str, name: str) -> str:
    with _admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return _with_database(url, name)


def database_analyze(url: str, name: str) -> None:
    """VACUUM ANALYZE, as autovacuum would soon after a bulk load: plans from real statistics, not guesses."""
    with _admin_connect(url, dbname=name) as conn:
        conn.execute("VACUUM ANALYZE")


def backend_pids(url: str, name: str) -> list[int]:
    with _admin_connect(url) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name]).fetchall()
    return [pid for (pid,) in rows]


def database_drop(url: str, name: str) -> None:
    try:
        with _admin_connect(url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as error:  # noqa: BLE001 - cleanup reports and goes on
        log(f"could not drop {name}: {error!r}")


# --- child processes ------------------------------------------------------------------


def app_env(database_url: str, static_root: str, overlay_dir: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_DEBUG="false",
        SECRET_KEY="pages-benchmark-" + secrets.token_hex(16),
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        DATABASE_URL=database_url,
        SECURE_SSL_REDIRECT="false",
        DJANGO_SETTINGS_MODULE="pages_bench_settings",
        BENCH_STATIC_ROOT=static_root,
        PYTHONPATH=os.pathsep.join(p for p in (overlay_dir, str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        LOG_LEVEL="WARNING",
    )
    env.pop("REDIS_URL", None)  # Celery tasks in-process, locmem cache: nothing else needs running
    env.update(extra)
    return env


def run(cmd: list[str], env: dict[str, str], *, timeout: float = 900) -> str:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd[1:4])}")
    log(f"{' '.join(cmd[1:5])}: {time.perf_counter() - started:.1f}s")
    return done.stdout


def school_build(url: str, env: dict[str, str], *, pupils: int, today: date | None) -> None:
    run([PYTHON, MANAGE, "migrate", "--noinput", "-v", "0"], env)
    run([PYTHON, MANAGE, "load_demo", "--pupils", str(pupils), *(["--today", today.isoformat()] if today else [])], env)


def child(mode: str, env: dict[str, str], payload: dict[str, object]) -> dict[str, object]:
    """Run this file in a child process with Django set up against env's database; it prints JSON last."""
    out = run([PYTHON, __file__, "--child", mode, "--payload", json.dumps(payload)], env, timeout=1800)
    return json.loads(out.strip().splitlines()[-1])


# --- in the child: Django, the test client -------------------------------------------


def _django() -> None:
    import django

    django.setup()


def child_inspect(payload: dict[str, object]) -> dict[str, object]:
    """Set the passwords, choose pupils, and count each page's queries with the test client."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from interventions.models import Placement
    from pupils.demo import school_identity
    from pupils.models import Pupil, School, StaffMembership

    setup_test_environment()  # the test client's response.context; nothing else changes
    users = get_user_model().objects
    for username in ("lead", "teacher"):
        user = users.get(username=username)
        user.set_password(str(payload["password"]))
        user.save(update_fields=["password"])
    school = School.objects.get(urn=school_identity(0).urn)  # Oakfield, not its small neighbour
    teacher_classes = list(
        StaffMembership.objects.filter(user__username="teacher").values_list("classes__name", flat=True)
    )
    # The pupils the load asks for: the most escalated (the busiest pages) and some spread across the school.
    top = list(
        Placement.objects.filter(pupil__school=school, ladder__is_active=True)
        .order_by("-stage__position", "attendance_pct", "pupil_id")
        .values_list("pupil_id", flat=True)[:4]
    )
    ids = list(Pupil.objects.filter(school=school).order_by("pk").values_list("pk", flat=True))
    step = max(1, len(ids) // 4)
    pupil_ids = list(dict.fromkeys(top + ids[step // 2 :: step][:4]))
    pupil_count = len(ids)

    pages = {
        "dashboard": ("lead", [f"/school/{school.urn}/dashboard/"]),
        "pupil": ("lead", [f"/school/{school.urn}/pupils/{pk}/" for pk in pupil_ids]),
        "classes": ("teacher", [f"/school/{school.urn}/classes/"]),
    }
    counts: dict[str, dict[str, object]] = {}
    for name, (username, paths) in pages.items():
        client = Client()
        client.force_login(users.get(username=username))
        per_path = []
        for path in paths:
            client.get(path)  # caches (ContentType, code table) warm, as in a running worker
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code}")
            per_path.append(len(captured.captured_queries))
        rows = {
            "dashboard": lambda r: len(r.context["page"].object_list),
            "classes": lambda r: sum(len(v) for v in r.context["groups"].values()),
            "pupil": lambda r: len(r.context["record"].heatmap),
        }[name](response)
        counts[name] = {"queries": max(per_path), "queries_each": per_path, "rows_last": rows}
    return {
        "urn": school.urn,
        "pupils": pupil_count,
        "pupil_ids": pupil_ids,
        "teacher_classes": teacher_classes,
        "counts": counts,
    }


def child_profile(payload: dict[str, object]) -> dict[str, object]:
    """cProfile a page over the test client, and EXPLAIN ANALYZE its slowest queries."""
    import cProfile
    import io
    import pstats

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(get_user_model().objects.get(username=str(payload["user"])))
    paths = list(payload["paths"])  # type: ignore[call-overload]
    rounds = int(payload.get("rounds", 5))  # type: ignore[call-overload]
    for path in paths:
        client.get(path)
    # Wall time of the whole request, and of its SQL.
    walls, sql_s = [], []
    slow: dict[str, list[float]] = {}
    for i in range(rounds):
        path = paths[i % len(paths)]
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            client.get(path)
        walls.append(time.perf_counter() - started)
        sql_s.append(sum(float(q["time"]) for q in captured.captured_queries))
        for q in captured.captured_queries:
            slow.setdefault(q["sql"], []).append(float(q["time"]))
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(rounds):
        client.get(paths[i % len(paths)])
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)
    ranked = sorted(slow.items(), key=lambda kv: -statistics.median(kv[1]))[:4]
    plans = []
    with connection.cursor() as cursor:
        for sql, times in ranked:
            plan = ""
            if sql.lstrip().upper().startswith(("SELECT", "WITH")):
                # The logged SQL has its parameters inlined by psycopg, so it can be explained as is.
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plan = "\n".join(row[0] for row in cursor.fetchall())
            plans.append({"median_ms": round(statistics.median(times) * 1000, 1), "sql": sql[:1500], "plan": plan})
    return {
        "wall_ms": [round(w * 1000, 1) for w in walls],
        "sql_ms": [round(s * 1000, 1) for s in sql_s],
        "profile": text.getvalue(),
        "slowest_queries": plans,
    }


# --- the load: standard library only ---------------------------------------------------


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200) + len(self.failures)

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return {"p50_ms": None, "p95_ms": None, "max_ms": None, "requests": 0}  # type: ignore[dict-item]

        def pct(p: float) -> float:
            # nearest-rank percentile
            return round(ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered))) - 1))], 1)

        return {"p50_ms": pct(50), "p95_ms": pct(95), "max_ms": round(ordered[-1], 1), "requests": len(ordered)}


class Browser:
    """One user: one http.client connection (reopened when gunicorn's sync worker closes it) and its cookies.

    The app sets Secure cookies when DEBUG is off; a browser would only send
    them over HTTPS, so this client keeps and sends them itself over plain HTTP.
    """

    def __init__(self, port: int, timeout: float) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes, float]:
        headers = {"Host": "127.0.0.1", "User-Agent": "pages-benchmark"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://127.0.0.1:{self.conn.port}/accounts/login/"
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            raise
        elapsed = (time.perf_counter() - started) * 1000
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]
        if response.will_close:
            self.conn.close()
        return response.status, data, elapsed

    def sign_in(self, username: str, password: str) -> None:
        status, body, _ = self.request("GET", "/accounts/login/")
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        if status != 200 or not match:
            raise SystemExit(f"login page: {status}")
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": match.group(1).decode(), "username": username, "password": password, "next": ""}
        )
        status, body, _ = self.request("POST", "/accounts/login/", form)
        if status != 302 or "sessionid" not in self.cookies:
            raise SystemExit(f"sign-in as {username} failed: {status} {body[:300]!r}")


def load(browsers: list[Browser], paths: list[str], *, requests: int, deadline: float, warmup: int = 0) -> Result:
    """Each browser in its own thread makes `requests` requests, cycling through `paths`; all start together."""
    result = Result()
    lock = threading.Lock()
    barrier = threading.Barrier(len(browsers))

    def user(n: int, browser: Browser) -> None:
        for i in range(warmup):
            with contextlib.suppress(http.client.HTTPException, OSError):
                browser.request("GET", paths[(n + i) % len(paths)])
        barrier.wait()
        for i in range(requests):
            if time.monotonic() > deadline:
                with lock:
                    result.failures.append("deadline passed")
                return
            path = paths[(n + i) % len(paths)]
            try:
                status, _, ms = browser.request("GET", path)
            except (http.client.HTTPException, OSError) as error:
                with lock:
                    result.failures.append(f"{path}: {error!r}")
                continue
            with lock:
                result.latencies_ms.append(ms)
                result.statuses[status] = result.statuses.get(status, 0) + 1

    threads = [threading.Thread(target=user, args=(n, b), daemon=True) for n, b in enumerate(browsers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, deadline - time.monotonic() + 5))
    return result


# --- gunicorn -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_start(env: dict[str, str], port: int, workers: int, logfile: Path) -> subprocess.Popen[bytes]:
    gunicorn = str(Path(PYTHON).parent / "gunicorn")
    handle = logfile.open("wb")
    process = subprocess.Popen(
        [gunicorn, "attendance_site.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers), "--threads", "1"],
        env=env,
        cwd=ROOT,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited: {logfile.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not start within 60 s")


def gunicorn_stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# --- CPU used, so the figures can be read on a machine shared with other work -----------

_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _cpu_ms(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * _TICK_MS  # utime + stime


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class CpuMeter:
    """CPU time of the gunicorn workers and of the benchmark database's PostgreSQL backends over one phase."""

    def __init__(self, master: int, url: str, database: str) -> None:
        self.master, self.url, self.database = master, url, database

    def sample(self) -> dict[str, dict[int, float]]:
        return {
            "app": {pid: _cpu_ms(pid) for pid in _children(self.master)},
            "db": {pid: _cpu_ms(pid) for pid in backend_pids(self.url, self.database)},
        }

    @staticmethod
    def used(
        before: dict[str, dict[int, float]], after: dict[str, dict[int, float]], requests: int
    ) -> dict[str, float]:
        n = max(1, requests)
        return {
            f"{kind}_cpu_ms": round(sum(ms - before[kind].get(pid, 0.0) for pid, ms in after[kind].items()) / n, 1)
            for kind in ("app", "db")
        }


# --- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pupils", type=int, default=2000)
    parser.add_argument("--small-pupils", type=int, default=200, help="The school whose query counts are compared.")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=25, help="Requests per user per page.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed requests per user before each page.")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers.")
    parser.add_argument("--conn-max-age", default="60", help="CONN_MAX_AGE for gunicorn (docker-compose uses 60).")
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        help="load_demo --today (default: load_demo's, the real date). The pages still use the real date.",
    )
    parser.add_argument("--max-seconds", type=float, default=900, help="Hard limit on the load phases.")
    parser.add_argument(
        "--no-analyze", action="store_true", help="Skip VACUUM ANALYZE after the load (plans on no statistics)."
    )
    parser.add_argument("--no-profile", action="store_true", help="Do not profile pages over the target.")
    parser.add_argument("--keep", action="store_true", help="Leave the databases (their names go to stderr).")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--payload", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        _django()
        payload = json.loads(args.payload or "{}")
        result = {"inspect": child_inspect, "profile": child_profile}[args.child](payload)
        print(json.dumps(result))
        return

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit(
            "Set DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/attendance_pages"
        )
    host = urllib.parse.urlsplit(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("DATABASE_URL must point at this machine (127.0.0.1).")
    base = urllib.parse.urlsplit(url).path.lstrip("/") or "attendance_pages"
    big_name, small_name = f"{base}_bench", f"{base}_bench_small"
    # The pages compute "today" from the clock, so by default the registers run up to yesterday, as in use.
    today = args.today

    work = tempfile.TemporaryDirectory(prefix="pages-bench-")
    overlay_dir = Path(work.name)
    (overlay_dir / "pages_bench_settings.py").write_text(OVERLAY)
    static_root = str(overlay_dir / "static")
    process: subprocess.Popen[bytes] | None = None
    made: list[str] = []
    try:
        started = time.perf_counter()
        big_url = database_create(url, big_name)
        made.append(big_name)
        small_url = database_create(url, small_name)
        made.append(small_name)
        big_env = app_env(big_url, static_root, str(overlay_dir), CONN_MAX_AGE=str(args.conn_max_age))
        small_env = app_env(small_url, static_root, str(overlay_dir))
        run([PYTHON, MANAGE, "collectstatic", "--noinput", "-v", "0"], big_env)
        school_build(big_url, big_env, pupils=args.pupils, today=today)
        school_build(small_url, small_env, pupils=args.small_pupils, today=today)
        if not args.no_analyze:
            database_analyze(url, big_name)
            database_analyze(url, small_name)
        setup_s = time.perf_counter() - started

        big = child("inspect", big_env, {"password": PASSWORD})
        small = child("inspect", small_env, {"password": PASSWORD})
        log(f"queries {args.pupils} pupils: {json.dumps(big['counts'])}")
        log(f"queries {args.small_pupils} pupils: {json.dumps(small['counts'])}")
        urn = big["urn"]
        pupil_paths = [f"/school/{urn}/pupils/{pk}/" for pk in big["pupil_ids"]]  # type: ignore[union-attr]
        pages = {
            "dashboard": ("lead", [f"/school/{urn}/dashboard/"]),
            "pupil": ("lead", pupil_paths),
            "classes": ("teacher", [f"/school/{urn}/classes/"]),
        }

        port = free_port()
        logfile = overlay_dir / "gunicorn.log"
        process = gunicorn_start(big_env, port, args.workers, logfile)
        log(f"gunicorn on 127.0.0.1:{port}, {args.workers} workers")
        timeout = 60.0
        anonymous = [Browser(port, timeout) for _ in range(args.concurrency)]
        signed_in: dict[str, list[Browser]] = {}
        for username in ("lead", "teacher"):
            browsers = [Browser(port, timeout) for _ in range(args.concurrency)]
            for b in browsers:
                b.sign_in(username, PASSWORD)
            signed_in[username] = browsers
        log(f"signed in {args.concurrency} sessions each as lead and teacher")

        deadline = time.monotonic() + args.max_seconds
        meter = CpuMeter(process.pid, url, big_name)
        cpu: dict[str, dict[str, float]] = {}
        static_path = "/static/" + _static_name(Path(static_root), "css/app.css")

        def phase(name: str, browsers: list[Browser], paths: list[str]) -> Result:
            before = meter.sample()
            started = time.perf_counter()
            result = load(browsers, paths, requests=args.requests, deadline=deadline, warmup=args.warmup)
            seconds = time.perf_counter() - started
            cpu[name] = CpuMeter.used(before, meter.sample(), len(result.latencies_ms) + args.warmup * len(browsers))
            cpu[name]["req_per_s"] = round(len(result.latencies_ms) / seconds, 1)
            log(f"{name}: {result.summary()} {cpu[name]} statuses {result.statuses} {result.failures[:3]}")
            return result

        baseline = phase("baseline", anonymous, ["/accounts/login/"])
        static = phase("static", anonymous, [static_path])
        results: dict[str, Result] = {}
        for name, (username, paths) in pages.items():
            results[name] = phase(name, signed_in[username], paths)
        gunicorn_stop(process)
        process = None

        slow = [n for n, r in results.items() if (r.summary()["p95_ms"] or 0) > TARGET_P95_MS]
        log("per request CPU: " + json.dumps(cpu))
        if slow and not args.no_profile:
            for name in slow:
                username, paths = pages[name]
                report = child("profile", big_env, {"user": username, "paths": paths, "rounds": 6})
                _profile_print(name, report)

        errors = sum(r.errors for r in results.values()) + baseline.errors + static.errors
        out_pages = {}
        for name, r in results.items():
            s = r.summary()
            out_pages[name] = {
                "p50_ms": s["p50_ms"],
                "p95_ms": s["p95_ms"],
                "max_ms": s["max_ms"],
                "queries": big["counts"][name]["queries"],  # type: ignore[index]
                f"queries_at_{args.small_pupils}": small["counts"][name]["queries"],  # type: ignore[index]
                "requests": s["requests"],
                **cpu[name],
            }
        b, st = baseline.summary(), static.summary()
        result = {
            "pupils": big["pupils"],
            "concurrency": args.concurrency,
            "pages": out_pages,
            "baseline": {
                "p50_ms": b["p50_ms"],
                "p95_ms": b["p95_ms"],
                "max_ms": b["max_ms"],
                "page": "sign-in",
                **cpu["baseline"],
            },
            "baseline_static": {
                "p50_ms": st["p50_ms"],
                "p95_ms": st["p95_ms"],
                "max_ms": st["max_ms"],
                **cpu["static"],
            },
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "errors": errors,
            "target_p95_ms": TARGET_P95_MS,
            "over_target": slow,
            "workers": args.workers,
            "today": (today or datetime.now(ZoneInfo(os.environ.get("TIME_ZONE", "Europe/London"))).date()).isoformat(),
            "setup_s": round(setup_s, 1),
        }
    finally:
        if process is not None:
            gunicorn_stop(process)
        if args.keep:
            log(f"kept databases: {', '.join(made)}")
        else:
            for name in made:
                database_drop(url, name)
        work.cleanup()
    print(json.dumps(result))


def _static_name(root: Path, name: str) -> str:
    manifest = json.loads((root / "staticfiles.json").read_text())
    return manifest["paths"][name]


def _profile_print(name: str, report: dict[str, object]) -> None:
    err = sys.stderr
    print(f"\n===== profile: {name} (test client, one process, no concurrency) =====", file=err)
    print(f"wall ms per request: {report['wall_ms']}", file=err)
    print(f"SQL ms per request:  {report['sql_ms']}", file=err)
    for q in report["slowest_queries"]:  # type: ignore[attr-defined]
        print(f"\n--- query, median {q['median_ms']} ms ---\n{q['sql']}\n{q['plan']}", file=err)
    print(f"\n--- cProfile ---\n{report['profile']}", file=err, flush=True)


if __name__ == "__main__":
    main()
