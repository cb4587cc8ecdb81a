"""Benchmark: `import_marks` of a big marks CSV against a plain COPY of the same file.

    DATABASE_URL=postgres://... python benchmarks/import_marks.py [--rows 1000000]

Builds its own school (a roll big enough for the rows at 380 sessions a
pupil), writes a marks CSV of N rows, then in the same run times:

- baseline: `COPY` of the file into a bare, unindexed table with the same
  four text columns (the product's target is import within 2x of this);
- import: `manage.py import_marks` of the file into the empty register;
- reimport: the same file again (every row unchanged);
- floor: `COPY` of the same rows, already checked and typed, straight into a
  copy of the register table with its indexes and foreign keys: what landing
  the rows costs before any import logic, for reading the ratio.

The last line printed is JSON: rows, import_s, baseline_s, ratio, peak_rss_mb
(the process's peak, taken before the floor step), rss_before_import_mb,
reimport_s, floor_s. Everything it builds is removed at the end. Not a test:
it never fails on a timing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg
    from django.db.backends.base.base import BaseDatabaseWrapper

    from pupils.models import School

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "attendance_site.settings")

import django  # noqa: E402

SESSIONS_A_YEAR = 380
BENCH_URN = "999990"  # six digits, as a URN must be; far above any real school's
# Roughly national proportions: mostly present, a few lates and absences.
CODES = ["/"] * 90 + ["L"] * 2 + ["I"] * 4 + ["M", "N", "U", "C2", "G", "B"]
PM_PRESENT = "\\"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database: this benchmark compares against COPY.")
    django.setup()

    from django.core.management import call_command
    from django.db import connection

    from pupils import services
    from pupils.models import AttendanceMark, ImportBatch, Pupil, School, YearGroup
    from pupils.upn import upn_check_letter

    call_command("migrate", verbosity=0)
    _remove(School.objects.filter(urn=BENCH_URN))
    school = services.school_create(urn=BENCH_URN, name="Benchmark Primary", today=date(2025, 11, 26))
    days = list(services.school_calendar(school).school_days(date(2024, 9, 1), date(2025, 7, 31)))
    pupils_needed = -(-args.rows // (2 * len(days)))
    year = YearGroup.objects.get(school=school, code="4")
    group = services.registration_group_get_or_create(school=school, name="4B", year_group=year)
    upns = [upn_check_letter(body) + body for body in (f"99999{n:07d}" for n in range(pupils_needed))]
    Pupil.objects.bulk_create(
        Pupil(
            school=school,
            upn=upn,
            surname="Pupil",
            forename=str(n),
            date_of_birth=date(2015, 10, 1),
            year_group=year,
            registration_group=group,
            start_on=date(2021, 9, 1),
        )
        for n, upn in enumerate(upns)
    )

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "marks.csv"
        _write_marks(path, upns, days, args.rows)
        # Earlier runs leave dead rows behind; production tables are autovacuumed, so start from the same.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE pupils_attendancemark")
            cursor.execute("VACUUM ANALYZE pupils_pupil")

        baseline_s = _time_copy_baseline(connection, path)

        rss_before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        call_command("import_marks", "--school", BENCH_URN, str(path), stdout=io.StringIO())
        import_s = time.perf_counter() - started
        assert AttendanceMark.objects.filter(pupil__school=school).count() == args.rows

        started = time.perf_counter()
        call_command("import_marks", "--school", BENCH_URN, str(path), stdout=io.StringIO())
        reimport_s = time.perf_counter() - started
        # Before the floor step, which holds the typed rows in memory on purpose.
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        batch_id = ImportBatch.objects.filter(school=school).latest("id").id
        floor_s = _time_copy_floor(connection, school.id, batch_id)

    _remove(School.objects.filter(pk=school.pk))
    print(
        json.dumps(
            {
                "rows": args.rows,
                "import_s": round(import_s, 2),
                "baseline_s": round(baseline_s, 2),
                "ratio": round(import_s / baseline_s, 2),
                "peak_rss_mb": round(peak_rss_mb, 1),
                "rss_before_import_mb": round(rss_before_mb, 1),
                "reimport_s": round(reimport_s, 2),
                "floor_s": round(floor_s, 2),
            }
        )
    )


def _write_marks(path: Path, upns: list[str], days: list[date], rows: int) -> None:
    rng = random.Random(2024)
    written = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("upn,date,session,code\n")
        for upn in upns:
            lines = []
            for day in days:
                am = rng.choice(CODES)
                pm = rng.choice(CODES)
                pm = PM_PRESENT if pm == "/" else pm
                lines.append(f"{upn},{day.isoformat()},AM,{am}\n")
                lines.append(f"{upn},{day.isoformat()},PM,{pm}\n")
            lines = lines[: rows - written]
            f.writelines(lines)
            written += len(lines)
            if written >= rows:
                break


def _copy_file(cursor: psycopg.Cursor, sql: str, path: Path) -> None:
    with path.open("rb") as f, cursor.copy(sql) as copy:
        while chunk := f.read(1 << 20):
            copy.write(chunk)


def _time_copy_baseline(connection: BaseDatabaseWrapper, path: Path) -> float:
    """COPY the file as it is into a bare table with the same columns, committed."""
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_marks_bare")
        cursor.execute("CREATE TABLE bench_marks_bare (upn text, date text, session text, code text)")
        raw.commit()
        started = time.perf_counter()
        _copy_file(cursor, "COPY bench_marks_bare FROM STDIN (FORMAT csv, HEADER true)", path)
        raw.commit()
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_marks_bare")
        raw.commit()
    return elapsed


def _time_copy_floor(connection: BaseDatabaseWrapper, school_id: int, batch_id: int) -> float:
    """COPY the imported rows, typed, into a copy of the register table with its indexes and foreign keys."""
    raw = connection.connection
    with raw.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_marks_floor")
        cursor.execute("CREATE TABLE bench_marks_floor (LIKE pupils_attendancemark INCLUDING ALL)")
        cursor.execute(
            "ALTER TABLE bench_marks_floor ADD FOREIGN KEY (pupil_id) REFERENCES pupils_pupil (id) "
            "DEFERRABLE INITIALLY DEFERRED, ADD FOREIGN KEY (batch_id) REFERENCES pupils_importbatch (id) "
            "DEFERRABLE INITIALLY DEFERRED"
        )
        typed = io.BytesIO()
        with cursor.copy(
            'COPY (SELECT m.pupil_id, m."date", m."session", m.code, m.comment, m.batch_id, m.changed_at '
            "FROM pupils_attendancemark m JOIN pupils_pupil p ON p.id = m.pupil_id WHERE p.school_id = %s) TO STDOUT",
            [school_id],
        ) as copy:
            for chunk in copy:
                typed.write(chunk)
        raw.commit()
        started = time.perf_counter()
        with cursor.copy(
            'COPY bench_marks_floor (pupil_id, "date", "session", code, comment, batch_id, changed_at) FROM STDIN'
        ) as copy:
            view = typed.getbuffer()
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start : start + (1 << 20)])
            del view
        raw.commit()
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_marks_floor")
        raw.commit()
    return elapsed


def _remove(schools: Iterable[School]) -> None:
    """Delete benchmark schools with their marks and pupils (pupils protect their school)."""
    from django.db import connection

    from pupils.models import ImportBatch, MarkChange, Pupil

    for school in schools:
        MarkChange.objects.filter(mark__pupil__school=school).delete()
        with connection.cursor() as cursor:
            # A million marks: one statement, not the ORM's collector.
            cursor.execute(
                "DELETE FROM pupils_attendancemark WHERE pupil_id IN (SELECT id FROM pupils_pupil WHERE school_id = %s)",
                [school.id],
            )
        ImportBatch.objects.filter(school=school).delete()
        Pupil.objects.filter(school=school).delete()
        school.delete()


if __name__ == "__main__":
    main()
