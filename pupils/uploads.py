"""Import files uploaded on the office page: kept on disk, imported in the request or in the background.

An upload is copied chunk by chunk to `MEDIA_ROOT/imports/<token>` (the
volume the web and worker containers share), so no file is held whole in
memory. A small file is imported during the request; a larger one by
`import_upload_task`, while the page polls its progress.

Progress lives in the cache (Redis when REDIS_URL is set), not on the
ImportBatch: the import services create their batch inside their one
transaction, so nothing they write is visible to the page until the import
has finished. What the import does is the services' business
(`marks_import`, `pupils_import`); this module only feeds them a file and
watches how far through it they are.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone

from . import imports, services
from .models import School
from .people import person_name

logger = logging.getLogger(__name__)

#: Files up to this size are imported in the request; larger ones in the background.
DEFAULT_INLINE_BYTES = 512 * 1024
#: How long the page can show an upload's progress and an import's notes.
KEEP_SECONDS = 24 * 60 * 60
#: An import with no news for this long has probably stopped (a worker lost mid-file).
STALE_AFTER = timedelta(minutes=30)
#: At most one progress write to the cache this often while a file is read.
PROGRESS_EVERY_SECONDS = 0.5

RUNNING = ("queued", "checking", "reading", "writing")
FINISHED = ("done", "rejected")


@dataclass
class UploadProgress:
    """What the office page knows about one uploaded file."""

    token: str
    school_id: int
    kind: str  # "marks" or "pupils"
    filename: str
    size: int
    uploaded_by: str
    state: str = "queued"  # queued, checking, reading, writing, then done, rejected or stopped
    bytes_read: int = 0
    batch_id: int | None = None
    error: str = ""
    started_at: str = field(default_factory=lambda: timezone.now().isoformat())
    updated_at: str = field(default_factory=lambda: timezone.now().isoformat())

    @property
    def is_running(self) -> bool:
        return self.state in RUNNING

    @property
    def percent(self) -> int:
        if self.state == "writing" or self.state in FINISHED:
            return 100
        if self.state != "reading" or not self.size:
            return 0
        return min(99, self.bytes_read * 100 // self.size)

    @property
    def is_stale(self) -> bool:
        return self.is_running and timezone.now() - datetime.fromisoformat(self.updated_at) > STALE_AFTER

    @property
    def started(self) -> datetime:
        return datetime.fromisoformat(self.started_at)


def _key(token: str) -> str:
    return f"pupils:upload:{token}"


def _school_key(school_id: int) -> str:
    return f"pupils:uploads:{school_id}"


def _notes_key(batch_id: int) -> str:
    return f"pupils:import-notes:{batch_id}"


def _save(progress: UploadProgress) -> None:
    progress.updated_at = timezone.now().isoformat()
    cache.set(_key(progress.token), asdict(progress), KEEP_SECONDS)


def progress_get(*, school: School, token: str) -> UploadProgress | None:
    """The upload's progress, if it is this school's and still remembered."""
    data = cache.get(_key(token))
    if not data or data.get("school_id") != school.pk:
        return None
    return UploadProgress(**data)


def progress_list(*, school: School) -> list[UploadProgress]:
    """The school's recent uploads that have not finished, newest first."""
    tokens = cache.get(_school_key(school.pk), [])
    found = cache.get_many([_key(t) for t in tokens])
    uploads = [UploadProgress(**found[_key(t)]) for t in reversed(tokens) if _key(t) in found]
    return [u for u in uploads if u.is_running or u.state == "stopped"]


def notes_for(batch_id: int) -> list[str]:
    """What an import noted beyond its warnings (created classes, a file seen before), while remembered."""
    return cache.get(_notes_key(batch_id), [])


def upload_path(token: str) -> Path:
    return Path(settings.MEDIA_ROOT) / "imports" / token


def upload_start(*, school: School, user: Any, kind: str, upload: UploadedFile) -> UploadProgress:
    """Keep the uploaded file on disk and import it: now if small, else in the background.

    Returns the progress: finished for a small file, queued for a large one.
    """
    from .tasks import import_upload_task

    token = uuid.uuid4().hex
    path = upload_path(token)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    progress = UploadProgress(
        token=token,
        school_id=school.pk,
        kind=kind,
        filename=Path(upload.name or "upload").name[:255],
        size=path.stat().st_size,
        uploaded_by=person_name(user),
    )
    _save(progress)
    recent = cache.get(_school_key(school.pk), [])
    cache.set(_school_key(school.pk), [*recent[-19:], token], KEEP_SECONDS)
    try:
        if progress.size <= getattr(settings, "OFFICE_IMPORT_INLINE_BYTES", DEFAULT_INLINE_BYTES):
            upload_import(token=token, school=school, user=user)
        else:
            # Nothing is written to the database before the task runs: no commit to wait for.
            import_upload_task.delay(token, school.pk, user.pk)
    except Exception as exc:
        # upload_import records and logs its own failures; anything else (no broker) stops the upload here.
        current = progress_get(school=school, token=token)
        if current is None or current.state == "queued":
            logger.exception("Could not start the import of upload %s (%s)", token, progress.filename)
            progress.state, progress.error = "stopped", f"the import could not start ({exc})"[:300]
            _save(progress)
            path.unlink(missing_ok=True)
    return progress_get(school=school, token=token) or progress


def upload_import(*, token: str, school: School, user: Any) -> UploadProgress:
    """Import an uploaded file with the service for its kind, recording progress and the outcome.

    A rejected file is an outcome, not an error: its ImportBatch holds every
    problem. Anything unexpected leaves the upload "stopped" (the import's
    transaction has rolled back, so nothing changed) and is raised. The file is
    deleted either way. Running it again for a finished upload does nothing.
    """
    progress = progress_get(school=school, token=token)
    if progress is None or progress.state in FINISHED:
        return progress  # type: ignore[return-value]
    path = _WatchedPath(upload_path(token))
    path.watcher = _Watcher(progress)
    try:
        if progress.kind == "pupils":
            report = services.pupils_import(
                school=school, path=path, filename=progress.filename, user=user, today=timezone.localdate()
            )
        else:
            report = services.marks_import(school=school, path=path, filename=progress.filename, user=user)
    except imports.ImportRejected as rejected:
        report = rejected.report
        progress.state = "rejected"
    except Exception as exc:
        logger.exception("Import of upload %s (%s) stopped", token, progress.filename)
        progress.state, progress.error = "stopped", str(exc)[:300] or type(exc).__name__
        _save(progress)
        raise
    else:
        progress.state = "done"
    finally:
        upload_path(token).unlink(missing_ok=True)
    progress.batch_id = report.batch_id
    _save(progress)
    if report.batch_id and report.notes:
        cache.set(_notes_key(report.batch_id), report.notes[:100], KEEP_SECONDS)
    return progress


# --- watching how far through the file the import is ------------------------------------


class _Watcher:
    """Told of every read from the file; saves progress now and then.

    The services open the file twice: first to hash it and tell CSV from XML
    (quick), then to read and check every row (the long part). After the
    second read reaches the end, what is left is writing to the register.
    """

    def __init__(self, progress: UploadProgress) -> None:
        self.progress = progress
        self.opened = 0
        self.last_saved = 0.0

    def open(self) -> None:
        self.opened += 1
        self.progress.state = "checking" if self.opened == 1 else "reading"
        self.progress.bytes_read = 0
        self._save()

    def read(self, n: int) -> None:
        if n == 0:
            if self.opened >= 2 and self.progress.state == "reading":
                self.progress.state = "writing"
                self._save()
            return
        self.progress.bytes_read += n
        if time.monotonic() - self.last_saved >= PROGRESS_EVERY_SECONDS:
            self._save()

    def _save(self) -> None:
        self.last_saved = time.monotonic()
        _save(self.progress)


class _CountingReader(io.RawIOBase):
    def __init__(self, raw: io.FileIO, on_read: Callable[[int], None]) -> None:
        super().__init__()
        self._raw = raw
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer) or 0
        self._on_read(n)
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class _WatchedPath(type(Path())):  # type: ignore[misc]
    """A path whose files tell a watcher how much of them has been read.

    The import services take a path and open it themselves, so this is how the
    office page sees their progress without the services knowing about pages.
    (Subclassing the concrete class: plain `Path` subclasses need Python 3.12.)
    """

    watcher: _Watcher

    def open(  # type: ignore[override]
        self,
        mode: str = "r",
        buffering: int = -1,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> Any:
        if mode not in ("r", "rb", "rt"):
            return super().open(mode, buffering, encoding, errors, newline)
        self.watcher.open()
        binary = io.BufferedReader(_CountingReader(io.FileIO(self, "rb"), self.watcher.read))
        if mode == "rb":
            return binary
        return io.TextIOWrapper(binary, encoding=encoding, errors=errors, newline=newline)
