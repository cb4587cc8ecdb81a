"""The marks import's staging table and its set-based SQL, for `services.marks_import` only.

Checked marks stream into a temporary table: on PostgreSQL through `COPY`
(psycopg 3), on SQLite through `executemany` in chunks. From there both
backends run the same statements, so they find the same repeats and write the
same rows:

1. repeated sessions: one grouped pass over the stage;
2. marks that differ from the register: one join, kept in a small temp table;
3. history (`MarkChange`) for those, then the update, then the insert of new
   marks, each a single statement.

Only inserted and changed marks get `changed_at = now`: the nightly job's
incremental run relies on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db import connection

from .imports import MarkColumns, StagedMark

STAGE = "import_mark_stage"
CHANGED = "import_mark_changed"
MARKS = "pupils_attendancemark"
HISTORY = "pupils_markchange"
CHUNK = 8192

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def stage_create(cursor: Any) -> None:
    """A fresh, empty stage for this transaction."""
    stage_drop(cursor)
    if connection.vendor == "postgresql":
        # The grouping and joins below cover the whole file: let them hash in memory, for this transaction only.
        cursor.execute("SET LOCAL work_mem = '64MB'")
    cursor.execute(
        f"""
        CREATE TEMPORARY TABLE {STAGE} (
            seq bigint NOT NULL,
            line bigint NOT NULL,
            pos integer NOT NULL,
            pupil_id bigint NOT NULL,
            "date" date NOT NULL,
            "session" smallint NOT NULL,
            code varchar(2) NOT NULL,
            minutes_late smallint NULL,
            comment varchar(200) NOT NULL
        )
        """
    )


def stage_drop(cursor: Any) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {CHANGED}")
    cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")


def stage_load(cursor: Any, marks: Iterable[StagedMark]) -> int:
    """Stream `marks` into the stage, numbering them in file order. Returns how many."""
    if connection.vendor == "postgresql":
        staged = _copy_in(cursor, marks)
        # Temporary tables are never auto-analysed; the joins below need real row counts.
        cursor.execute(f"ANALYZE {STAGE}")
        return staged
    return _insert_in(cursor, marks)


def _copy_in(cursor: Any, marks: Iterable[StagedMark]) -> int:
    """COPY in text format, formatted by hand: psycopg's per-value dumping costs more than the parse."""
    dates: dict[date, str] = {}
    codes: dict[str, str] = {}
    lines: list[str] = []
    seq = 0
    sql = f'COPY {STAGE} (seq, line, pos, pupil_id, "date", "session", code, minutes_late, comment) FROM STDIN'
    with cursor.cursor.copy(sql) as copy:
        for seq, (line, pos, pupil_id, day, session, code, late, comment) in enumerate(marks, start=1):  # noqa: B007
            iso = dates.get(day) or dates.setdefault(day, day.isoformat())
            text = codes.get(code) or codes.setdefault(code, code.translate(_COPY_ESCAPES))
            late_text = "\\N" if late is None else late
            comment_text = comment.translate(_COPY_ESCAPES) if comment else ""
            lines.append(f"{seq}\t{line}\t{pos}\t{pupil_id}\t{iso}\t{session}\t{text}\t{late_text}\t{comment_text}\n")
            if len(lines) >= CHUNK:
                copy.write("".join(lines))
                lines.clear()
        if lines:
            copy.write("".join(lines))
    return seq


def _insert_in(cursor: Any, marks: Iterable[StagedMark]) -> int:
    sql = (
        f'INSERT INTO {STAGE} (seq, line, pos, pupil_id, "date", "session", code, minutes_late, comment) '
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    chunk: list[tuple[object, ...]] = []
    seq = 0
    for seq, mark in enumerate(marks, start=1):  # noqa: B007 - seq is the count after the loop
        chunk.append((seq, mark.line, mark.position, mark.pupil_id, mark.date.isoformat(), *mark[4:]))
        if len(chunk) >= CHUNK:
            cursor.executemany(sql, chunk)
            chunk.clear()
    if chunk:
        cursor.executemany(sql, chunk)
    return seq


def stage_repeats() -> Iterator[StagedMark]:
    """Staged marks whose pupil, date and session appear more than once, grouped, in file order.

    Streams through a server-side cursor on PostgreSQL: a file that repeats
    itself whole would otherwise bring a million rows into memory.
    """
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            f"""
            SELECT s.line, s.pos, s.pupil_id, s."date", s."session", s.code, s.minutes_late, s.comment
            FROM {STAGE} s
            JOIN (
                SELECT pupil_id, "date", "session" FROM {STAGE}
                GROUP BY pupil_id, "date", "session" HAVING COUNT(*) > 1
            ) d ON d.pupil_id = s.pupil_id AND d."date" = s."date" AND d."session" = s."session"
            ORDER BY s.pupil_id, s."date", s."session", s.seq
            """
        )
        while rows := cursor.fetchmany(CHUNK):
            for line, pos, pupil_id, day, session, code, minutes_late, comment in rows:
                if isinstance(day, str):
                    day = date.fromisoformat(day)
                yield StagedMark(line, pos, pupil_id, day, session, code, minutes_late, comment)


def stage_drop_repeats(cursor: Any) -> None:
    """Keep only the first of each set of exact repeats (conflicting ones have already failed the file)."""
    cursor.execute(
        f"""
        DELETE FROM {STAGE} WHERE seq NOT IN (
            SELECT MIN(seq) FROM {STAGE} GROUP BY pupil_id, "date", "session"
        )
        """
    )


def marks_write(
    cursor: Any,
    *,
    school_id: int,
    columns: MarkColumns,
    batch_id: int,
    user_id: int | None,
    now: datetime,
    reason: str,
) -> tuple[int, int]:
    """Write the stage into the register. Returns (inserted, updated).

    A mark differs when its code does, or its minutes late or comment where the
    file has those columns (an absent column leaves stored values alone).
    Changed marks keep their old values in MarkChange first.
    """
    stamp = connection.ops.adapt_datetimefield_value(now)
    cursor.execute(f'SELECT MIN("date"), MAX("date") FROM {STAGE}')
    first_day, last_day = cursor.fetchone()
    if first_day is None:
        return 0, 0
    # A first import (no marks yet for these pupils and dates) needs neither the
    # join nor the anti-join below: the common case for a big backfill.
    cursor.execute(
        f"""
        SELECT 1 FROM {MARKS} m JOIN pupils_pupil p ON p.id = m.pupil_id
        WHERE p.school_id = %s AND m."date" BETWEEN %s AND %s LIMIT 1
        """,
        [school_id, first_day, last_day],
    )
    if cursor.fetchone() is None:
        return _insert_new(cursor, batch_id=batch_id, user_id=user_id, stamp=stamp, only_missing=False), 0

    differs = ["m.code <> s.code"]
    sets = ["code = c.code"]
    if columns.minutes_late:
        differs.append("m.minutes_late IS DISTINCT FROM s.minutes_late")
        sets.append("minutes_late = c.minutes_late")
    if columns.comment:
        differs.append("m.comment <> s.comment")
        sets.append("comment = c.comment")
    cursor.execute(
        f"""
        CREATE TEMPORARY TABLE {CHANGED} AS
        SELECT m.id AS mark_id, s.code, s.minutes_late, s.comment,
               m.code AS old_code, m.minutes_late AS old_minutes_late, m.comment AS old_comment,
               s.line, s.pos, s.pupil_id, s."date", s."session",
               m.batch_id AS old_batch_id, m.recorded_by_id AS old_by_id, m.changed_at AS old_changed_at
        FROM {STAGE} s
        JOIN {MARKS} m ON m.pupil_id = s.pupil_id AND m."date" = s."date" AND m."session" = s."session"
        WHERE {" OR ".join(differs)}
        """
    )
    cursor.execute(
        f"""
        INSERT INTO {HISTORY}
            (mark_id, old_code, new_code, old_minutes_late, old_comment, reason, batch_id, changed_by_id, changed_at)
        SELECT mark_id, old_code, code, old_minutes_late, old_comment, %s, %s, %s, %s FROM {CHANGED}
        """,
        [reason, batch_id, user_id, stamp],
    )
    cursor.execute(
        f"""
        UPDATE {MARKS} SET {", ".join(sets)}, batch_id = %s, recorded_by_id = %s, changed_at = %s
        FROM {CHANGED} c WHERE {MARKS}.id = c.mark_id
        """,
        [batch_id, user_id, stamp],
    )
    updated = cursor.rowcount
    inserted = _insert_new(cursor, batch_id=batch_id, user_id=user_id, stamp=stamp, only_missing=True)
    return inserted, updated


@dataclass(frozen=True)
class Overwritten:
    """A stored mark an import changed that someone may have put right after the file was made."""

    line: int
    pos: int
    pupil_id: int
    date: date
    session: int
    old_code: str
    new_code: str
    in_app: bool  # recorded in the app (by `recorded_by`), not by an import
    recorded_by_id: int | None
    recorded_at: datetime


def overwritten(cursor: Any, *, since: datetime | None, limit: int) -> tuple[int, list[Overwritten]]:
    """The marks `marks_write` changed whose old code was recorded in the app, or (with `since`) after `since`.

    Call after `marks_write` changed at least one mark. Returns how many, and the first `limit` in file order.
    """
    later = "OR c.old_changed_at > %s" if since is not None else ""
    in_app = "c.old_batch_id IS NULL AND c.old_by_id IS NOT NULL"
    where = f"c.code <> c.old_code AND ({in_app} {later})"
    params = [connection.ops.adapt_datetimefield_value(since)] if since is not None else []
    cursor.execute(f"SELECT COUNT(*) FROM {CHANGED} c WHERE {where}", params)
    (count,) = cursor.fetchone()
    cursor.execute(
        f"""
        SELECT c.line, c.pos, c.pupil_id, c."date", c."session", c.old_code, c.code,
               {in_app}, c.old_by_id, c.old_changed_at
        FROM {CHANGED} c WHERE {where} ORDER BY c.line, c.pos LIMIT %s
        """,
        [*params, limit],
    )
    found = []
    for line, pos, pupil_id, day, session, old, new, in_app, by_id, at in cursor.fetchall():
        if isinstance(day, str):  # SQLite
            day = date.fromisoformat(day)
        if isinstance(at, str):  # SQLite keeps UTC, without its zone
            at = datetime.fromisoformat(at).replace(tzinfo=UTC)
        found.append(Overwritten(line, pos, pupil_id, day, session, old, new, bool(in_app), by_id, at))
    return count, found


def _insert_new(cursor: Any, *, batch_id: int, user_id: int | None, stamp: object, only_missing: bool) -> int:
    missing = (
        f"""WHERE NOT EXISTS (
            SELECT 1 FROM {MARKS} m
            WHERE m.pupil_id = s.pupil_id AND m."date" = s."date" AND m."session" = s."session"
        )"""
        if only_missing
        else ""
    )
    cursor.execute(
        f"""
        INSERT INTO {MARKS}
            (pupil_id, "date", "session", code, minutes_late, comment, batch_id, recorded_by_id, changed_at)
        SELECT s.pupil_id, s."date", s."session", s.code, s.minutes_late, s.comment, %s, %s, %s
        FROM {STAGE} s {missing}
        """,
        [batch_id, user_id, stamp],
    )
    return cursor.rowcount
