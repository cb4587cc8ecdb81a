"""The nightly job for one school: statistics, placement, tasks, letters, reviews, figures.

`nightly_run` is what `manage.py run_nightly` and the Celery task call.

A night is identified by (school, run_on). Each attempt at it is a
`NightlyRun` row; the unique constraint `nightly_one_running_per_night` lets
only one attempt run at a time. An attempt does all of its work, and marks
itself done, in one transaction, and keeps its own row locked while it works,
so a later attempt can tell a live night (row locked: leave it alone) from one
whose worker died (row free: take it over). Re-running a night that already
succeeded changes nothing: no stage is newly indicated, and the unique
constraints on stage changes, tasks and letters back that up.

Incremental: every night recounts only the pupil-weeks whose marks changed
since the last good run (`PupilWeek`), then decides every pupil on roll from
those stored weekly counts (see interventions/README.md, "The night").
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, DateField, Exists, F, Max, Min, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone

from pupils import statistics as stats
from pupils.calendar import SchoolCalendar, monday_of
from pupils.models import AttendanceMark, Pupil, School
from pupils.selectors import on_study_leave, pupils_on_roll_between
from pupils.services import school_calendar
from pupils.statistics import pct_as_printed

from .models import Ladder, NightlyRun, Placement, Proposal, PupilWeek, SchoolWeek, Stage, StageChange, Task
from .rules import Decision, Evaluator, LadderSpec, decide, stage_letters
from .screen import pupils_to_decide
from .selectors import (
    SchoolFacts,
    chart_pupils,
    current_placements,
    declined_lately,
    facts_window_start,
    kept_lineage,
    ladder_spec,
    night_attempts_exhausted,
    night_facts,
    school_facts,
    school_figures,
    school_week_figures,
    this_week_figures,
)
from .services import (
    Entry,
    active_ladder,
    class_teachers_by_group,
    follow_ups_close,
    stage_work_given,
    stage_work_owed,
    stages_enter,
    stages_work_create,
)

logger = logging.getLogger(__name__)

#: How far the application's clock may be behind the database's (marks are stamped by the app).
CLOCK_SKEW = timedelta(minutes=1)
#: On the pupil's record, for a follow-up the night finds done (`services.follow_ups_close`).
FOLLOW_UPS_DONE_BY_THE_REGISTER = "No N is left on the register: no absence is waiting for its reason."


class NightRunning(Exception):
    """Another attempt at this night is running now (or took this one over)."""


class NightGivenUp(Exception):
    """The schedule has made its last attempt at this night: it is left for a person (`run_nightly`)."""


@dataclass
class NightResult:
    pupils: int = 0
    moved: int = 0
    proposed: int = 0
    tasks_created: int = 0
    letters_queued: int = 0
    reviews_created: int = 0
    tasks_overdue: int = 0
    weeks_recounted: int = 0
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> str:
        return json.dumps(
            {
                "pupils": self.pupils,
                "moved": self.moved,
                "proposed": self.proposed,
                "tasks_created": self.tasks_created,
                "letters_queued": self.letters_queued,
            }
        )


COUNTED = ("pupils", "moved", "proposed", "tasks_created", "letters_queued", "reviews_created", "tasks_overdue")


def evaluate_school(*, school: School, ladder: Ladder, as_of: date) -> tuple[SchoolFacts, LadderSpec, dict[int, Any]]:
    """Facts, spec and current placements, straight from the register: what a simulation starts from."""
    spec = ladder_spec(ladder)
    facts = school_facts(school=school, spec=spec, as_of=as_of)
    return facts, spec, current_placements(ladder=ladder)


# --- the run ---------------------------------------------------------------------


def nightly_run(
    *, school: School, as_of: date, full: bool = False, if_not_done: bool = False, scheduled: bool = False
) -> NightlyRun:
    """Recompute every pupil's stage on the school's active ladder as of `as_of`, and record the run.

    Claims the night first (`night_claim`); all of the night's writes, and
    marking the run done, happen in one transaction, so a crash leaves nothing
    half done. Idempotent: re-running a night creates no second move, task or
    letter. `full` recounts every pupil-week from the register instead of only
    what changed since the last good run. With `if_not_done`, a night that
    already succeeded is returned as it is (what the scheduled task wants).

    Raises ValidationError if the school has no active ladder,
    NightRunning if another attempt at this night is running, and, for the
    schedule (`scheduled`), NightGivenUp if the dead attempt it had to take
    over was the last one the schedule makes.
    """
    ladder = active_ladder(school)
    if ladder is None:
        raise ValidationError(f"{school.name} has no active ladder: load one with load_ladder --activate.")
    run = night_claim(school=school, as_of=as_of, full=full, if_not_done=if_not_done, scheduled=scheduled)
    if run.status == NightlyRun.Status.DONE:
        return run
    try:
        with transaction.atomic():
            # Keep our row locked while we work: that lock is how another attempt
            # knows this night is alive (see _take_over_abandoned).
            mine = NightlyRun.objects.select_for_update().get(pk=run.pk)
            if mine.status != NightlyRun.Status.RUNNING:
                raise NightRunning(f"night {as_of} for {school.urn} was taken over by another attempt")
            _night_session()
            result = _night(school=school, ladder=ladder, as_of=as_of, run=run)
            run.status = NightlyRun.Status.DONE
            run.finished_at = timezone.now()
            for name in COUNTED:
                setattr(run, name, getattr(result, name))
            run.weeks_recounted = result.weeks_recounted
            run.save()
    except NightRunning:
        raise
    except Exception as exc:
        _night_failed(run, exc)
        raise
    logger.info(
        "night %s for %s done in %.1fs (%s): %s",
        as_of,
        school.urn,
        run.duration_s or 0,
        run.time_by_phase,
        json.dumps(_counts(run)),
    )
    return run


def _night_session() -> None:
    """PostgreSQL settings for this transaction only.

    Enough memory to count a school's year of marks without spilling to disk.
    No just-in-time compilation: the recount's estimated cost is above the
    threshold, and compiling it took 60 ms a school, a fifth of the query.
    No parallel workers: the night's reads are a school's worth, too small
    to pay for starting them (the weekly buckets' read fell from 22 to 17
    ms a school), and the schools' own tasks already keep every core busy.
    Random reads costed nearly as sequential ones: the night reads one
    school's slice of tables that hold the whole authority's, through
    indexes, from pages mostly in memory. With the default cost, on a marks
    table laid out day by day (as registers are written), the planner read
    the whole authority's marks to recount one school's week (183 ms
    against 10). And an asynchronous commit: if the server crashed in the
    moment after we commit, the night would be lost whole (its DONE mark
    with it) and simply run again, which is safe; in exchange we do not
    wait for the disk.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SET LOCAL work_mem = '64MB'; SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0; "
            "SET LOCAL random_page_cost = 1.1; SET LOCAL synchronous_commit = off"
        )


def _counts(run: NightlyRun) -> dict[str, Any]:
    return {name: getattr(run, name) for name in (*COUNTED, "weeks_recounted", "full")}


def night_claim(
    *, school: School, as_of: date, full: bool, if_not_done: bool = False, scheduled: bool = False
) -> NightlyRun:
    """Start an attempt at a night: a committed RUNNING row, unique per (school, run_on).

    If another attempt's row is in the way and its worker died, mark it failed
    and take the night over; unless, for the schedule, that failure was its
    last attempt (NightGivenUp). With `if_not_done`, returns the DONE run
    instead if the night has already succeeded. Raises NightRunning if a live
    attempt holds it.
    """
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                run = NightlyRun.objects.create(
                    school=school, run_on=as_of, status=NightlyRun.Status.RUNNING, full=full, started_at=timezone.now()
                )
                # Checked after our insert: a night turns RUNNING into DONE in one commit,
                # so there is no moment when a finished night holds neither row.
                done = NightlyRun.objects.filter(school=school, run_on=as_of, status=NightlyRun.Status.DONE).first()
                if if_not_done and done is not None:
                    raise _AlreadyDone(done)
                return run
        except _AlreadyDone as already:
            return already.run
        except IntegrityError:
            if attempt == 2 or not _take_over_abandoned(school=school, as_of=as_of):
                raise NightRunning(f"the night of {as_of} for {school.urn} is already running") from None
            if scheduled and night_attempts_exhausted(school=school, night=as_of):
                raise NightGivenUp(f"the night of {as_of} for {school.urn} has failed too often") from None
    raise AssertionError("unreachable")


class _AlreadyDone(Exception):
    def __init__(self, run: NightlyRun) -> None:
        self.run = run


def _take_over_abandoned(*, school: School, as_of: date) -> bool:
    """Mark a RUNNING attempt at this night whose worker is gone as failed. True if there was one."""
    return bool(_close_abandoned(NightlyRun.objects.filter(school=school, run_on=as_of), suffix=" Taken over."))


ABANDONED = "Abandoned: the worker stopped before the night finished; nothing it did was kept."

#: How long a fresh attempt may go unlocked, between committing its claim and locking it for the night: a
#: moment, but `started_at` is the claiming machine's clock, which may be CLOCK_SKEW out from the closer's.
ABANDONED_GRACE = timedelta(minutes=5)


def abandoned_close(*, school: School | None = None) -> int:
    """Close the attempts whose worker died without a word (killed, out of memory, a machine lost).

    Such an attempt raised nothing, so nothing recorded its failure: its row
    would say "running" for ever, and the schedule, counting only failures,
    would neither try the night again nor tell anyone once it gave up. Each is
    marked failed like any other failure, and NIGHTLY_ALERT_EMAILS are told if
    it was the last attempt the schedule makes. The dispatcher calls this every
    time it runs, and a school's task before deciding whether to try its night.
    Attempts started less than ABANDONED_GRACE ago are left: one may be between
    its claim and its lock. Returns how many were closed.
    """
    runs = NightlyRun.objects.filter(started_at__lt=timezone.now() - ABANDONED_GRACE)
    if school is not None:
        runs = runs.filter(school=school)
    return len(_close_abandoned(runs))


def _close_abandoned(runs: QuerySet[NightlyRun], *, suffix: str = "") -> list[NightlyRun]:
    """Mark the dead attempts among `runs` failed (`_mark_abandoned`), then log and, if it gave up, alert each."""
    with transaction.atomic():
        closed = _mark_abandoned(runs, suffix=suffix)
    for run in closed:
        logger.error("night %s for %s failed: %s", run.run_on, run.school.urn, run.error)
        _alert_if_given_up(run, run.error)
    return closed


def _mark_abandoned(runs: QuerySet[NightlyRun], *, suffix: str = "") -> list[NightlyRun]:
    """The RUNNING attempts among `runs` whose worker is gone, marked failed. Call inside a transaction.

    On PostgreSQL a live attempt keeps its row locked for the whole night, so a
    row we can lock belongs to a dead one (its transaction was rolled back when
    its connection closed). Elsewhere (SQLite), an attempt counts as dead once
    it is older than the task time limit.
    """
    running = runs.filter(status=NightlyRun.Status.RUNNING).select_related("school").order_by("pk")
    if connection.vendor == "postgresql":
        stale = list(running.select_for_update(skip_locked=True, of=("self",)))
    else:
        limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
        stale = list(running.filter(started_at__lt=timezone.now() - limit))
    closed = []
    for run in stale:
        run.status, run.finished_at, run.error = NightlyRun.Status.FAILED, timezone.now(), ABANDONED + suffix
        # Only if still running: on SQLite nothing is locked, and another closer may have been first.
        if NightlyRun.objects.filter(pk=run.pk, status=NightlyRun.Status.RUNNING).update(
            status=run.status, finished_at=run.finished_at, error=run.error
        ):
            closed.append(run)
    return closed


def _night_failed(run: NightlyRun, exc: BaseException) -> None:
    """Record the failure on the run, if the database still answers (the error may be that it doesn't).

    A night that has now failed NIGHTLY_MAX_ATTEMPTS times is left by the schedule for a person:
    NIGHTLY_ALERT_EMAILS are told, so it is seen before the morning's dashboard says so.
    """
    error = f"{type(exc).__name__}: {exc}"[:2000]
    logger.error("night %s for %s failed: %s", run.run_on, run.school.urn, error)
    try:
        recorded = NightlyRun.objects.filter(pk=run.pk, status=NightlyRun.Status.RUNNING).update(
            status=NightlyRun.Status.FAILED, finished_at=timezone.now(), error=error
        )
    except Exception:  # the run stays RUNNING; the next attempt takes it over
        logger.exception("could not record the failure of night run %s", run.pk)
        return
    if recorded:  # else it was closed as abandoned the moment our rollback unlocked it, and alerted then
        _alert_if_given_up(run, error)


def _alert_if_given_up(run: NightlyRun, error: str) -> None:
    """E-mail NIGHTLY_ALERT_EMAILS once a night, when a failure leaves the schedule no attempt to make.

    Once: the failure that sends it marks itself `alerted`, in one conditional
    update, so no other attempt at the night sends it again, whether it failed
    at the same moment or later (a person running it by hand is told by the
    command itself).
    """
    if not settings.NIGHTLY_ALERT_EMAILS:
        return
    try:
        if not night_attempts_exhausted(school=run.school, night=run.run_on):
            return
        night = NightlyRun.objects.filter(school=run.school, run_on=run.run_on)
        first = NightlyRun.objects.filter(pk=run.pk).exclude(Exists(night.filter(alerted=True))).update(alerted=True)
        failures = night.filter(status=NightlyRun.Status.FAILED).count()
    except Exception:
        logger.exception("could not count the failures of night run %s", run.pk)
        return
    if first:
        _alert_given_up(run, error, failures)


def _alert_given_up(run: NightlyRun, error: str, failures: int) -> None:
    school, night = run.school, run.run_on
    subject = (
        f"Attendance: the night of {night:%a %-d %b %Y} for {school.name} has failed "
        f"{failures} times and will not be tried again"
    )
    body = "\n".join(
        [
            f"The nightly run for {school.name} (URN {school.urn}) for {night:%A %-d %B %Y} failed, last with:",
            "",
            f"    {error}",
            "",
            "Until a night succeeds, its dashboard shows the last good night's figures, and no pupil moves stage.",
            "If a later night has succeeded since, nothing needs doing: it decided from the same register.",
            "Otherwise, when the cause is put right, run it by hand:",
            "",
            f"    python manage.py run_nightly --school {school.urn} --as-of {night:%Y-%m-%d}",
        ]
    )
    try:
        send_mail(subject, body, None, settings.NIGHTLY_ALERT_EMAILS)
    except Exception:  # the failure is on the run and the dashboard whatever happens to the e-mail
        logger.exception("could not e-mail the failure of night run %s", run.pk)


# --- the night's work ------------------------------------------------------------------


class PhaseClock:
    """Milliseconds spent in each named part of a night (`NightlyRun.PHASES`), for the run's record."""

    def __init__(self) -> None:
        self.ms: dict[str, int] = {}

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        assert phase in NightlyRun.PHASES, phase
        started = time.perf_counter()
        try:
            yield
        finally:
            self.ms[phase] = self.ms.get(phase, 0) + round((time.perf_counter() - started) * 1000)


def _night(*, school: School, ladder: Ladder, as_of: date, run: NightlyRun) -> NightResult:
    clock = PhaseClock()
    spec = ladder_spec(ladder)
    calendar = school_calendar(school)
    weeks_from = facts_window_start(spec=spec, calendar=calendar, as_of=as_of)
    last = _last_done(school=school, as_of=as_of, weeks_from=weeks_from)
    previous = last if last is not None and _can_build_on(school=school, run=run, last=last) else None
    run.full = previous is None
    run.weeks_from = weeks_from
    run.changes_cutoff = _changes_cutoff()
    with clock("recount"):
        recounted = pupil_weeks_refresh(school=school, start=weeks_from, end=as_of, since=previous)
    with clock("facts"):
        facts = night_facts(school=school, spec=spec, as_of=as_of, calendar=calendar)
    result = _place_pupils(school=school, ladder=ladder, spec=spec, facts=facts, as_of=as_of, clock=clock)
    result.weeks_recounted = recounted.weeks
    with clock("figures"):
        counted = chart_pupils(school=school, calendar=calendar, as_of=as_of)
        chart_from = _chart_from(school=school, charted=last, recounted=recounted, counted=counted, calendar=calendar)
        _save_figures(
            school=school, ladder=ladder, facts=facts, spec=spec, as_of=as_of, counted=counted, chart_from=chart_from
        )
    with clock("reviews"):
        result.reviews_created = reviews_create(
            ladder=ladder, calendar=calendar, as_of=as_of, pupil_ids=set(facts.facts)
        )
        # Reasons that came another way (the register grid, the MIS's register): the follow-up is done.
        follow_ups_close(
            school=school, tasks=Task.objects.filter(school=school), user=None, outcome=FOLLOW_UPS_DONE_BY_THE_REGISTER
        )
        result.tasks_overdue = tasks_mark_overdue(school=school, as_of=as_of)
    run.phases = clock.ms
    return result


def _last_done(*, school: School, as_of: date, weeks_from: date) -> NightlyRun | None:
    """The last good night whose stored weekly counts and weekly chart tonight carries on from, if any.

    None when there is none, when its counts start elsewhere (a new year, a
    ladder looking further back), or when tonight is earlier than that night.
    """
    last = _good_nights(school).order_by("-finished_at").first()
    if last is None or last.weeks_from != weeks_from or last.run_on > as_of:
        return None
    return last


def _good_nights(school: School) -> Any:
    """The school's nights that succeeded and left weekly counts to build on."""
    return NightlyRun.objects.filter(school=school, status=NightlyRun.Status.DONE, changes_cutoff__isnull=False)


def _can_build_on(*, school: School, run: NightlyRun, last: NightlyRun) -> bool:
    """May tonight recount only what changed since `last`? Otherwise it recounts every pupil-week.

    Not when a full recount was asked for, and not when the last full one is
    more than NIGHTLY_FULL_EVERY_DAYS old: insurance against writes that
    bypass `changed_at` (deleted marks).
    """
    if run.full:
        return False
    last_full = _good_nights(school).filter(full=True).aggregate(at=Max("started_at"))["at"]
    return last_full is not None and timezone.now() - last_full <= timedelta(days=settings.NIGHTLY_FULL_EVERY_DAYS)


def _changes_cutoff() -> datetime:
    """Marks stamped at or after this may not be visible to us yet: the next night looks at them again.

    A mark written by a transaction still open now carries a `changed_at` no
    earlier than that transaction's start, so on PostgreSQL the cutoff is the
    oldest open transaction's start (or now), less a minute for clock skew.
    """
    now = timezone.now()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                # Client backends only: autovacuum's long transactions write no marks.
                "SELECT min(xact_start) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
            )
            (oldest,) = cursor.fetchone()
        if oldest is not None and oldest < now:
            now = oldest
    return now - CLOCK_SKEW


def _counts_by_week(marks: Any, *, start: date, end: date) -> Any:
    """Marks in [start, end] grouped by pupil and Monday, counted as `pupils.statistics` counts them.

    The same rules as `pupils.selectors.school_summaries`: on roll, and not on Year 11 study leave.
    """
    conditions = {name: Q(code__in=sorted(codes)) for name, codes in stats.COUNTED_CODES.items()}
    assert tuple(conditions) == PupilWeek.COUNTS
    if stats.study_leave_periods(start, end):
        marks = marks.exclude(on_study_leave(start=start, end=end, pupil="pupil__"))
    return (
        marks.filter(date__gte=start, date__lte=end)
        .filter(date__gte=F("pupil__start_on"))
        .filter(Q(pupil__leaving_on__isnull=True) | Q(date__lte=F("pupil__leaving_on")))
        .annotate(week=TruncWeek("date", output_field=DateField()))
        .values("pupil_id", "week")
        .annotate(**{name: Count("pk", filter=cond) for name, cond in conditions.items()})
        .order_by()
    )


@dataclass(frozen=True)
class Recounted:
    """What `pupil_weeks_refresh` did: how many pupil-weeks it recounted, and the first Monday whose stored
    counts it changed for a pupil it recounted (None if it changed none)."""

    weeks: int
    first_changed: date | None


def pupil_weeks_refresh(*, school: School, start: date, end: date, since: NightlyRun | None) -> Recounted:
    """Bring the school's stored weekly counts up to date with the register for [start, end].

    With `since` None, recount every pupil-week. Otherwise recount only, for
    each pupil, the weeks from the first one that may have changed since that
    run: marks stamped after its cutoff, marks dated after its night, and every
    week of a pupil whose record changed (starting or leaving day). Counting is
    done in the database; nothing row by row passes through Python. Returns how
    many pupil-weeks were recounted, and the first Monday whose stored counts
    changed. Idempotent.
    """
    pupils = pupils_on_roll_between(school=school, start=start, end=end)
    ids = list(pupils.values_list("pk", flat=True))
    if since is None:
        # Pupils no longer on roll in the window have no weeks in it. Found among the school's pupils
        # first: a join from the weekly counts would read the whole authority's.
        gone = list(Pupil.objects.filter(school=school).exclude(pk__in=pupils).values_list("pk", flat=True))
        if gone:
            PupilWeek.objects.filter(pupil_id__in=gone).delete()
        return _weeks_recount(pupil_ids=ids, start=start, end=end, from_monday=None)
    # The school's marks, found through its pupils by the (pupil, date) index. A join rather than a
    # list of ids: a list of hundreds of parameters costs more to send than the query takes.
    marks = AttendanceMark.objects.filter(pupil__in=pupils, date__gte=start, date__lte=end)
    # Two queries, each able to use an index: new days by (pupil, date), corrections by changed_at.
    first_changed: dict[int, date] = dict(
        marks.filter(date__gt=since.run_on)
        .values("pupil_id")
        .annotate(first=Min("date"))
        .values_list("pupil_id", "first")
    )
    corrected = (
        marks.filter(changed_at__gte=since.changes_cutoff, date__lte=since.run_on)
        .values("pupil_id")
        .annotate(first=Min("date"))
        .values_list("pupil_id", "first")
    )
    for pupil_id, first in corrected:
        first_changed[pupil_id] = min(first, first_changed.get(pupil_id, first))
    for pupil_id in pupils.filter(updated_at__gte=since.changes_cutoff).values_list("pk", flat=True):
        first_changed[pupil_id] = start
    # Every pupil counted again from the Monday of their first changed day; grouped by that Monday.
    by_monday: dict[date, list[int]] = defaultdict(list)
    for pupil_id, first in first_changed.items():
        by_monday[monday_of(first)].append(pupil_id)
    weeks, changed = 0, None
    for monday, group in sorted(by_monday.items()):
        recounted = _weeks_recount(pupil_ids=group, start=start, end=end, from_monday=monday)
        weeks += recounted.weeks
        changed = _earliest(changed, recounted.first_changed)
    return Recounted(weeks, changed)


def _earliest(*days: date | None) -> date | None:
    return min((d for d in days if d is not None), default=None)


def _chart_from(
    *, school: School, charted: NightlyRun | None, recounted: Recounted, counted: set[int], calendar: SchoolCalendar
) -> date | None:
    """The first Monday whose school figures tonight may change, or None for the whole year.

    The weekly chart adds up the stored weeks of the pupils it counts
    (`counted`, from `chart_pupils`). Weeks before the first one whose stored
    counts changed tonight stand as the last good night (`charted`) left
    them, unless there was none or the chart's pupils may not be the same
    ones: a pupil joined, or any pupil's record changed since that night (a
    corrected starting or leaving day can take a pupil out of weeks without
    changing who was enrolled on either night). Then every week is added up
    again. The week of the last night is always redone, as it was still open then.
    """
    if charted is None:
        return None
    if Pupil.objects.filter(school=school, updated_at__gte=charted.changes_cutoff).exists():
        return None
    if chart_pupils(school=school, calendar=calendar, as_of=charted.run_on) != counted:
        return None
    return _earliest(recounted.first_changed, monday_of(charted.run_on))


#: A Monday: weeks are counted as whole weeks since it.
_EPOCH_MONDAY = date(2000, 1, 3)


def _weeks_recount(*, pupil_ids: list[int], start: date, end: date, from_monday: date | None) -> Recounted:
    """Recount these pupils' weeks in [start, end] from `from_monday` (None: every week), replacing what was stored."""
    if not pupil_ids:
        return Recounted(0, None)
    if connection.vendor == "postgresql":
        return _weeks_recount_postgresql(pupil_ids=pupil_ids, start=start, end=end, from_monday=from_monday)
    stored = PupilWeek.objects.filter(pupil_id__in=pupil_ids)
    (stored.filter(week_start__gte=from_monday) if from_monday else stored).delete()
    first = max(start, from_monday) if from_monday else start
    select = _counts_by_week(AttendanceMark.objects.filter(pupil_id__in=pupil_ids), start=first, end=end)
    sql, params = select.query.sql_with_params()
    qn = connection.ops.quote_name
    columns = ", ".join(
        qn(PupilWeek._meta.get_field(name).column) for name in ("pupil", "week_start", *PupilWeek.COUNTS)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {qn(PupilWeek._meta.db_table)} ({columns}) {sql}", params)
        return Recounted(max(cursor.rowcount, 0), monday_of(first))  # every week rewritten: all may have changed


def _weeks_recount_postgresql(*, pupil_ids: list[int], start: date, end: date, from_monday: date | None) -> Recounted:
    """`_counts_by_week` written for PostgreSQL's speed, writing only what changed.

    Marks are read pupil by pupil through the (pupil, date, session) index,
    which on PostgreSQL carries the code too (an index-only scan: see
    pupils migration 0009), clipped to the days each pupil was on roll; the
    window's own dates bound the index's range, so the planner knows how few
    rows it reads. Each mark's code is turned into its ten 0-or-1 counts by
    a join to a small table built from `pupils.statistics.COUNTED_CODES` (a
    hash lookup and integer sums: measured faster than ten filtered counts,
    110 against 160-200 ms for a school's year). Weeks are whole numbers of weeks since a Monday (no
    date_trunc, no time zones). The fresh counts are compared with the stored
    ones in the same statement, and only the differences are written (new
    weeks inserted, changed weeks updated, weeks that no longer have marks
    deleted, each found by its id): nothing at all when nothing changed, as
    on a full recount of an unchanged year. Returns how many pupil-weeks were
    counted and the first Monday whose stored counts changed.
    """
    first = max(start, from_monday) if from_monday else start
    conditions = stats.COUNTED_CODES
    assert tuple(conditions) == PupilWeek.COUNTS
    qn = connection.ops.quote_name
    marks, pupils, table = (qn(m._meta.db_table) for m in (AttendanceMark, Pupil, PupilWeek))
    counts = [qn(PupilWeek._meta.get_field(name).column) for name in PupilWeek.COUNTS]
    all_codes = sorted(set().union(*conditions.values()))
    weights = ", ".join(
        "(%s" + "".join(f", {int(code in codes)}" for codes in conditions.values()) + ")" for code in all_codes
    )
    fresh_counts = ", ".join(f"f.{c}" for c in counts)
    # Year 11 study leave, left out as `pupils.statistics.summarise` leaves it out.
    leave = stats.study_leave_periods(first, end)
    study_leave = "".join(" AND NOT (m.date BETWEEN %s AND %s AND p.date_of_birth BETWEEN %s AND %s)" for _ in leave)
    sql = f"""
        WITH fresh AS (
            SELECT m.pupil_id, %s::date + 7 * ((m.date - %s::date) / 7) AS week_start,
                {", ".join(f"SUM(w.{c})::smallint AS {c}" for c in counts)}
            FROM {pupils} p
            JOIN {marks} m ON m.pupil_id = p.id
            JOIN (VALUES {weights}) AS w(code, {", ".join(counts)}) ON w.code = m.code::text
            WHERE p.id = ANY(%s)
              AND m.date BETWEEN %s AND %s
              AND m.date >= p.start_on AND (p.leaving_on IS NULL OR m.date <= p.leaving_on)
              {study_leave}
            GROUP BY 1, 2
        ),
        stored AS (
            SELECT id, pupil_id, week_start, {", ".join(counts)} FROM {table}
            WHERE pupil_id = ANY(%s) AND week_start >= %s
        ),
        diff AS (
            SELECT s.id AS stored_id, COALESCE(f.week_start, s.week_start) AS week_start, f.pupil_id, {fresh_counts}
            FROM fresh f FULL JOIN stored s ON s.pupil_id = f.pupil_id AND s.week_start = f.week_start
            WHERE s.id IS NULL OR f.pupil_id IS NULL
               OR ({fresh_counts}) IS DISTINCT FROM ({", ".join(f"s.{c}" for c in counts)})
        ),
        inserted AS (
            INSERT INTO {table} (pupil_id, week_start, {", ".join(counts)})
            SELECT pupil_id, week_start, {", ".join(counts)} FROM diff WHERE stored_id IS NULL
        ),
        updated AS (
            UPDATE {table} t SET {", ".join(f"{c} = d.{c}" for c in counts)} FROM diff d
            WHERE t.id = ANY(ARRAY(SELECT stored_id FROM diff WHERE pupil_id IS NOT NULL AND stored_id IS NOT NULL))
              AND t.id = d.stored_id
        ),
        deleted AS (
            DELETE FROM {table} WHERE id = ANY(ARRAY(SELECT stored_id FROM diff WHERE pupil_id IS NULL))
        )
        SELECT (SELECT count(*) FROM fresh), (SELECT min(week_start) FROM diff)
    """
    params: list[Any] = [_EPOCH_MONDAY, _EPOCH_MONDAY, *all_codes, pupil_ids, first, end]
    params += [v for p in leave for v in (p.first, p.last, p.born_from, p.born_to)]
    params += [pupil_ids, from_monday or date.min]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)  # PostgreSQL runs every data-modifying WITH, referenced or not
        recounted, first_changed = cursor.fetchone()
    return Recounted(int(recounted), first_changed)


def _place_pupils(
    *, school: School, ladder: Ladder, spec: LadderSpec, facts: SchoolFacts, as_of: date, clock: PhaseClock
) -> NightResult:
    with clock("deciding"):
        result, moves = _decide_pupils(school=school, ladder=ladder, spec=spec, facts=facts, as_of=as_of)
    with clock("moves"):
        # Withdrawn first: a pupil has one pending proposal at a time.
        Proposal.objects.bulk_update(moves.withdrawals, ["status", "decided_at", "decision_reason"], batch_size=500)
        result.proposed = len(Proposal.objects.bulk_create(moves.proposals))
        Placement.objects.bulk_update(moves.improving, ["improving_since", "updated_at"], batch_size=500)
        # Every mover at once: a fixed number of queries for the school's moves, tasks and letters.
        changes = stages_enter(ladder=ladder, entries=moves.entries, on=as_of)
        result.moved = len(changes)
        teachers = class_teachers_by_group(school)
        holds = _condition_check(facts=facts, spec=spec, as_of=as_of)
        result.tasks_created, result.letters_queued = stages_work_create(
            changes=changes, calendar=facts.calendar, teachers=teachers, user=None, holds=holds
        )
        tasks, letters = conditional_work_catch_up(
            school=school, ladder=ladder, facts=facts, holds=holds, teachers=teachers
        )
        result.tasks_created += tasks
        result.letters_queued += letters
    return result


def conditional_work_catch_up(
    *,
    school: School,
    ladder: Ladder,
    facts: SchoolFacts,
    holds: Callable[[int, dict[str, Any]], bool],
    teachers: dict[int, Any],
) -> tuple[int, int]:
    """Give pupils at a stage the work it gives only while a `when` holds, the first night it holds.

    On entry, a stage's action or letter with a `when` is given only if it
    holds then (`_condition_check`). A pupil who stays at the stage and comes
    to need it later (at Monitor for one unexplained absence, whose attendance
    then slips; there for attendance, with an N later) gets it the first night
    it holds, due from that night. Once per stage entry: the unique (stage
    change, key) of tasks and letters means a task done, or a letter
    cancelled, is not given again while the pupil stays there. Only pupils on
    roll tonight, at a stage with such work, from the stage change that put
    them there. Returns (tasks, letters) given.

    Most such pupils are owed nothing on most nights (given it already, or it
    does not hold): they are found from plain ids and keys, and only the few
    owed something are read as stage changes and given it.
    """
    stages = {stage.pk: stage for stage in ladder.stages.all()}
    conditional = [
        pk
        for pk, stage in stages.items()
        if any(a.get("when") for a in stage.actions)
        or any(when for _, when in stage_letters({"letters": stage.letters}))
    ]
    if not conditional:
        return 0, 0
    at_stage = {
        pupil_id: stage_id
        for pupil_id, stage_id in Placement.objects.filter(ladder=ladder, stage_id__in=conditional).values_list(
            "pupil_id", "stage_id"
        )
        if pupil_id in facts.facts
    }
    latest: dict[int, tuple[int, int]] = {}
    for pupil_id, change_id, to_stage_id in (
        StageChange.objects.filter(ladder=ladder, pupil_id__in=list(at_stage))
        .order_by("pupil_id", "-on", "-pk")
        .values_list("pupil_id", "pk", "to_stage_id")
    ):
        latest.setdefault(pupil_id, (change_id, to_stage_id))
    current = {change_id: pupil_id for pupil_id, (change_id, to) in latest.items() if to == at_stage[pupil_id]}
    given = stage_work_given(list(current))
    owed = [
        change_id
        for change_id, pupil_id in current.items()
        if stage_work_owed(
            stage=stages[at_stage[pupil_id]],
            holds=functools.partial(holds, pupil_id),
            tasks=given.tasks.get(change_id, ()),
            letters=given.letters.get(change_id, ()),
        )
    ]
    # The stages, the pupils and the school are tonight's rows already: each stage change's own row only.
    pupils = {pupil.pk: pupil for pupil in facts.pupils}
    changes = list(StageChange.objects.filter(pk__in=owed).order_by("pk")) if owed else []
    for change in changes:
        change.to_stage, change.pupil = stages[change.to_stage_id], pupils[change.pupil_id]
        change.from_stage = stages.get(change.from_stage_id) if change.from_stage_id else None
        change.pupil.school = school
    return stages_work_create(
        changes=changes,
        calendar=facts.calendar,
        teachers=teachers,
        user=None,
        holds=holds,
        given_on=facts.as_of,
        given=given,
    )


def _condition_check(*, facts: SchoolFacts, spec: LadderSpec, as_of: date) -> Callable[[int, dict[str, Any]], bool]:
    """Whether a stage action's `when` holds for a pupil (by id) the night moves or keeps, from the night's facts."""

    def holds(pupil_id: int, when: dict[str, Any]) -> bool:
        pupil_facts = facts.facts.get(pupil_id)
        if pupil_facts is None:  # not on roll tonight: give the task, as a person's move would
            return True
        evaluator = Evaluator(pupil_facts, facts.calendar, as_of, spec.min_possible, None, explain=False)
        return evaluator.check(when)[0]

    return holds


@dataclass
class _Moves:
    """What deciding every pupil asks the night to write."""

    entries: list[Entry] = field(default_factory=list)
    improving: list[Placement] = field(default_factory=list)
    withdrawals: list[Proposal] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)


def _decide_pupils(
    *, school: School, ladder: Ladder, spec: LadderSpec, facts: SchoolFacts, as_of: date
) -> tuple[NightResult, _Moves]:
    ladder_stages = list(ladder.stages.all())
    placements = current_placements(ladder=ladder, stages=ladder_stages)
    stages = {s.key: s for s in ladder_stages}
    by_pk = {s.pk: s for s in ladder_stages}
    pending = {}
    for proposal in Proposal.objects.filter(ladder=ladder, status=Proposal.Status.PENDING):
        proposal.to_stage = by_pk[proposal.to_stage_id]  # the same rows: no join, no stage's JSON read again
        pending[proposal.pupil_id] = proposal
    # Most pupils stay where they are with nothing to do: only the rest go through `decide`.
    to_decide = pupils_to_decide(
        spec=spec,
        facts=facts,
        placements={k: placed for k, (_, placed) in placements.items()},
        pending={k: proposal.to_stage.key for k, proposal in pending.items()},
    )
    # A night re-run on a corrected register may find a pupil it already moved indicated elsewhere:
    # one automatic move a pupil a night, so they stay as tonight's first run left them until the next.
    moved_tonight = set(
        StageChange.objects.filter(ladder=ladder, on=as_of, kind__in=StageChange.BY_THE_NIGHT).values_list(
            "pupil_id", flat=True
        )
    )
    # A person said no to these moves lately: not asked again yet (`decide` proposes the next one down instead).
    resting: dict[int, set[str]] = defaultdict(set)
    for pupil_id, stage_key in declined_lately(school=school, calendar=facts.calendar, as_of=as_of):
        resting[pupil_id].add(stage_key)
    pause = settings.NIGHTLY_TEST_PAUSE_S
    result = NightResult(pupils=len(facts.pupils))
    moves = _Moves()
    for pupil in facts.pupils:
        if pause:  # tests only: lets a test stop a worker half-way through a school
            time.sleep(pause)
        if (to_decide is not None and pupil.pk not in to_decide) or pupil.pk in moved_tonight:
            continue
        pupil.school = school  # the same row: saves a query for each pupil who moves
        row, current = placements.get(pupil.pk, (None, None))
        decision = decide(
            spec, facts.facts[pupil.pk], current, as_of=as_of, calendar=facts.calendar, resting=resting[pupil.pk]
        )
        if decision.moved:
            moves.entries.append(
                Entry(
                    pupil=pupil,
                    placement=row,
                    stage=stages[decision.stage_key],
                    kind=StageChange.Kind.INITIAL if row is None else StageChange.Kind.AUTOMATIC,
                    reasons=list(decision.reasons),
                    entry_pct=facts.year_to_date(pupil.pk, spec),
                )
            )
        elif row is not None and row.improving_since != decision.improving_since:
            row.improving_since = decision.improving_since
            row.updated_at = timezone.now()
            moves.improving.append(row)
        # A move waiting for approval stays while a higher one rests with nothing proposed in its place:
        # the data has not turned against it.
        keep_waiting = decision.rested is not None and decision.proposal is None
        if (decision.proposal is not None or pupil.pk in pending) and not keep_waiting:
            withdrawn, made = _proposal_changes(
                pupil=pupil,
                ladder=ladder,
                decision=decision,
                from_stage=stages[decision.stage_key],
                stages=stages,
                pending=pending.get(pupil.pk),
                on=as_of,
            )
            moves.withdrawals += [withdrawn] if withdrawn else []
            moves.proposals += [made] if made else []
    return result, moves


def _save_figures(
    *,
    school: School,
    ladder: Ladder,
    facts: SchoolFacts,
    spec: LadderSpec,
    as_of: date,
    counted: set[int],
    chart_from: date | None,
) -> None:
    """Last night's figures per pupil and per school week (from `chart_from` on), for dashboards and class lists.

    The weeks count the pupils in `counted` (`chart_pupils`): leavers too.
    """
    if chart_from == monday_of(as_of):  # a night like most: only this week's row of the chart changes
        weeks = this_week_figures(facts, counted=counted)
    else:
        weeks = school_week_figures(school=school, pupil_ids=sorted(counted), as_of=as_of, since=chart_from)
    figures = school_figures(facts=facts, spec=spec, weeks=weeks)
    current = Placement.objects.filter(ladder=ladder).values_list("pk", "pupil_id", *Placement.FIGURES)
    changed = []
    for pk, pupil_id, *old in current:
        f = figures.pupils.get(pupil_id)
        if f is None:  # no longer on roll: their last figures stand
            continue
        new = (
            pct_as_printed(f.attendance_pct),
            pct_as_printed(f.attendance_change),
            f.lates_half_term,
            f.persistent,
            f.severe,
            as_of,
        )
        if tuple(old) != new:
            changed.append((pk, *new))
    _placements_set(changed)
    SchoolWeek.objects.bulk_create(
        [
            SchoolWeek(
                school=school,
                week_start=w.week_start,
                attendance_pct=pct_as_printed(w.attendance_pct),
                persistent_absence_pct=pct_as_printed(w.persistent_absence_pct),
                pupils=w.pupils,
                year_attendance_pct=pct_as_printed(w.year_attendance_pct),
                severe_absence_pct=pct_as_printed(w.severe_absence_pct),
            )
            for w in figures.weeks
        ],
        update_conflicts=True,
        unique_fields=["school", "week_start"],
        update_fields=[
            "attendance_pct",
            "persistent_absence_pct",
            "pupils",
            "year_attendance_pct",
            "severe_absence_pct",
        ],
    )


def _placements_set(rows: list[tuple[Any, ...]]) -> None:
    """Write (pk, *Placement.FIGURES) to placements: one UPDATE ... FROM unnest(...) on PostgreSQL."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        objs = []
        for pk, *values in rows:
            obj = Placement(pk=pk)
            for name, value in zip(Placement.FIGURES, values, strict=True):
                setattr(obj, name, value)
            objs.append(obj)
        Placement.objects.bulk_update(objs, Placement.FIGURES, batch_size=100)
        return
    table = Placement._meta.db_table
    casts = ("bigint", "numeric", "numeric", "integer", "boolean", "boolean", "date")
    sets = ", ".join(f"{name} = v.{name}" for name in Placement.FIGURES)
    names = ", ".join(("id", *Placement.FIGURES))
    arrays = ", ".join(f"%s::{cast}[]" for cast in casts)
    # One array a column, however many rows: a short statement, quick to send and to plan.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS p SET {sets}, updated_at = now() FROM unnest({arrays}) AS v({names}) WHERE p.id = v.id",
            [list(column) for column in zip(*rows, strict=True)],
        )


def _proposal_changes(
    *,
    pupil: Pupil,
    ladder: Ladder,
    decision: Decision,
    from_stage: Stage,
    stages: dict[str, Stage],
    pending: Proposal | None,
    on: date,
) -> tuple[Proposal | None, Proposal | None]:
    """Keep one pending proposal per pupil in step with tonight's decision: (the one to withdraw, the one to make).

    `from_stage` is where the pupil stands after tonight's move, if any. Saves nothing: the night
    writes every pupil's together.
    """
    withdrawn = None
    if pending is not None:
        if decision.proposal == pending.to_stage.key:
            return None, None
        withdrawn = pending
        withdrawn.status = Proposal.Status.WITHDRAWN
        withdrawn.decided_at = timezone.now()
        withdrawn.decision_reason = "No longer indicated by the data"
    if decision.proposal is None:
        return withdrawn, None
    made = Proposal(
        pupil=pupil,
        ladder=ladder,
        from_stage=from_stage,
        to_stage=stages[decision.proposal],
        proposed_on=on,
        reasons=list(decision.proposal_reasons),
    )
    return withdrawn, made


# --- reviews and overdue work ---------------------------------------------------------


def reviews_create(*, ladder: Ladder, calendar: SchoolCalendar, as_of: date, pupil_ids: set[int]) -> int:
    """Create each pupil's next stage review once the last one is done and its date has come. Idempotent.

    Reviews of one stage entry are numbered ("review", "review-2", ...), each
    due `review_every_weeks` school weeks after the one before; the unique
    (stage change, template key) constraint keeps each to one task however
    often the night runs. An open review is not followed by another: it is
    overdue instead. Returns how many reviews were created.
    """
    latest = StageChange.objects.filter(ladder=ladder).values("pupil_id").annotate(last=Max("id"))
    # A pupil kept at their stage when this ladder replaced another carries on that stage's reviews.
    owner: dict[int, int] = {}
    if StageChange.objects.filter(ladder=ladder, kind=StageChange.Kind.KEPT).exists():  # most ladders: never
        kept = StageChange.objects.filter(pk__in=latest.values("last"), kind=StageChange.Kind.KEPT)
        owner = {
            ancestor: change_id
            for change_id, chain in kept_lineage(list(kept.values_list("pk", flat=True))).items()
            for ancestor in chain[1:]
        }
    reviews: dict[int, list[tuple[int, str, date]]] = defaultdict(list)
    for change_id, key, status, due_on in Task.objects.filter(
        Q(stage_change_id__in=latest.values("last"), stage_change__to_stage__review_every_weeks__isnull=False)
        | Q(stage_change_id__in=list(owner)),
        kind=Task.Kind.REVIEW,
    ).values_list("stage_change_id", "template_key", "status", "due_on"):
        reviews[owner.get(change_id, change_id)].append((_review_number(key), status, due_on))
    # Only the stage entries whose latest review is done and has come due need anything tonight.
    ready = [
        change_id for change_id, done in reviews.items() if max(done)[1] == Task.Status.DONE and max(done)[2] <= as_of
    ]
    if not ready:
        return 0
    changes = {
        c.pk: c for c in StageChange.objects.filter(pk__in=ready).select_related("to_stage", "pupil", "pupil__school")
    }
    created = 0
    for change_id, change in changes.items():
        stage = change.to_stage
        done = sorted(reviews.get(change_id, []))
        if change.pupil_id not in pupil_ids or not stage.review_every_weeks or not done:
            continue
        number, status, due_on = done[-1]
        if status != Task.Status.DONE or due_on > as_of:
            continue
        next_number = number + 1
        _, was_created = Task.objects.get_or_create(
            stage_change=change,
            template_key=f"review-{next_number}",
            defaults={
                "school": change.pupil.school,
                "pupil": change.pupil,
                "kind": Task.Kind.REVIEW,
                "title": f"Review {change.pupil.full_name} at {stage.name}",
                "role": "attendance_lead",
                "due_on": calendar.add_school_days(due_on, stage.review_every_weeks * 5),
            },
        )
        created += was_created
    return created


def _review_number(key: str) -> int:
    _, _, number = key.partition("review-")
    return int(number) if number.isdigit() else 1


def tasks_mark_overdue(*, school: School, as_of: date) -> int:
    """Flag open tasks due on or before `as_of` (the register day the night closes) as overdue. Idempotent.

    Unflags tasks that are done, cancelled or no longer due (a night re-run for
    an earlier day). Returns how many open tasks are overdue.
    """
    tasks = Task.objects.filter(school=school)
    overdue = Task.overdue_on(as_of + timedelta(days=1))
    tasks.filter(overdue, is_overdue=False).update(is_overdue=True)
    tasks.filter(~overdue, is_overdue=True).update(is_overdue=False)
    return tasks.filter(overdue).count()
