"""Claiming a night, failing, taking over a dead one, the morning status, the dispatcher, reviews and overdue work."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from interventions import nightly, selectors, services, tasks
from interventions.models import NightlyRun, Placement, StageChange, Task
from tests.factories import PupilFactory, SchoolFactory
from tests.interventions.conftest import SIMPLE_LADDER

AS_OF = date(2025, 11, 26)


@pytest.fixture
def oakfield(school, register):
    services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
    pupil = PupilFactory(school=school, surname="Absent")
    register(
        pupil, date(2025, 9, 1), AS_OF, lambda day, session: "O" if (day.toordinal() * 2 + session) % 12 == 0 else "/"
    )
    return school


def test_a_night_that_is_running_cannot_be_started_twice(oakfield):
    if connection.vendor == "postgresql":
        pytest.skip("on PostgreSQL a running night is a locked row: see the next test")
    NightlyRun.objects.create(school=oakfield, run_on=AS_OF, started_at=timezone.now())
    with pytest.raises(nightly.NightRunning):
        nightly.nightly_run(school=oakfield, as_of=AS_OF)
    assert not StageChange.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_night_whose_row_is_locked_by_a_live_attempt_is_left_alone(postgres_only, school, register):
    services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
    register(PupilFactory(school=school), date(2025, 9, 1), AS_OF, lambda day, session: "/")
    live = NightlyRun.objects.create(school=school, run_on=AS_OF, started_at=timezone.now())
    locked, release = threading.Event(), threading.Event()

    def live_attempt() -> None:  # another worker, mid-night: its row is locked in its transaction
        with transaction.atomic():
            NightlyRun.objects.select_for_update().get(pk=live.pk)
            locked.set()
            release.wait(10)
        connections.close_all()

    thread = threading.Thread(target=live_attempt)
    thread.start()
    try:
        assert locked.wait(10)
        with pytest.raises(nightly.NightRunning):
            nightly.nightly_run(school=school, as_of=AS_OF)
    finally:
        release.set()
        thread.join()
    assert NightlyRun.objects.get().status == "running" and not StageChange.objects.exists()
    # Once that worker is gone (its lock released, the row still RUNNING), the night is taken over.
    assert nightly.nightly_run(school=school, as_of=AS_OF).status == "done"


def test_the_database_refuses_a_second_running_attempt(oakfield):
    NightlyRun.objects.create(school=oakfield, run_on=AS_OF, started_at=timezone.now())
    with pytest.raises(IntegrityError):
        NightlyRun.objects.create(school=oakfield, run_on=AS_OF, started_at=timezone.now())


def test_a_dead_attempt_is_taken_over_and_recorded_as_failed(oakfield, settings):
    # On PostgreSQL nobody holds this row's lock, so its worker is gone; elsewhere it is past the time limit.
    started = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    dead = NightlyRun.objects.create(school=oakfield, run_on=AS_OF, started_at=started)
    run = nightly.nightly_run(school=oakfield, as_of=AS_OF)
    dead.refresh_from_db()
    assert (dead.status, run.status) == ("failed", "done")
    assert "Abandoned" in dead.error
    assert StageChange.objects.count() == 1


def test_a_failing_night_records_the_error_keeps_nothing_and_the_next_attempt_succeeds(oakfield, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(nightly, "tasks_mark_overdue", broken)
    with pytest.raises(RuntimeError):
        nightly.nightly_run(school=oakfield, as_of=AS_OF)
    failed = NightlyRun.objects.get()
    assert (failed.status, failed.error, failed.finished_at is not None) == (
        "failed",
        "RuntimeError: disk on fire",
        True,
    )
    assert not StageChange.objects.exists() and not Placement.objects.exists()
    assert selectors.nightly_status(school=oakfield, today=AS_OF + timedelta(days=1)).state == "failed"
    monkeypatch.undo()
    nightly.nightly_run(school=oakfield, as_of=AS_OF)
    assert selectors.nightly_status(school=oakfield, today=AS_OF + timedelta(days=1)).state == "ok"
    assert StageChange.objects.count() == 1


def test_a_night_left_for_a_person_is_emailed_to_it_once_the_schedule_gives_up(oakfield, monkeypatch, settings):
    from django.core import mail

    settings.NIGHTLY_MAX_ATTEMPTS, settings.NIGHTLY_ALERT_EMAILS = 2, ["it@example.org"]
    monkeypatch.setattr(nightly, "tasks_mark_overdue", lambda **kwargs: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        nightly.nightly_run(school=oakfield, as_of=AS_OF)
    assert mail.outbox == []  # the schedule tries again within the hour
    with pytest.raises(ZeroDivisionError):
        nightly.nightly_run(school=oakfield, as_of=AS_OF)
    (alert,) = mail.outbox
    assert alert.to == ["it@example.org"]
    assert alert.subject == (
        f"Attendance: the night of Wed 26 Nov 2025 for {oakfield.name} has failed 2 times and will not be tried again"
    )
    assert "ZeroDivisionError: division by zero" in alert.body
    assert f"python manage.py run_nightly --school {oakfield.urn} --as-of 2025-11-26" in alert.body
    # Someone running it by hand, and failing again, is told by the command itself: no second e-mail.
    with pytest.raises(ZeroDivisionError):
        nightly.nightly_run(school=oakfield, as_of=AS_OF)
    assert len(mail.outbox) == 1


def test_no_one_is_emailed_when_no_one_is_named(oakfield, monkeypatch, settings):
    from django.core import mail

    settings.NIGHTLY_MAX_ATTEMPTS, settings.NIGHTLY_ALERT_EMAILS = 1, []
    monkeypatch.setattr(nightly, "tasks_mark_overdue", lambda **kwargs: 1 / 0)
    monkeypatch.setattr(nightly, "send_mail", lambda *args, **kwargs: pytest.fail("no one to e-mail"))
    with pytest.raises(ZeroDivisionError):
        nightly.nightly_run(school=oakfield, as_of=AS_OF)
    assert mail.outbox == [] and NightlyRun.objects.get().status == "failed"


def _killed(school, night: date, settings) -> NightlyRun:
    """An attempt whose worker was killed: RUNNING, nobody holding its lock, past the time limit (for SQLite)."""
    started = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    return NightlyRun.objects.create(school=school, run_on=night, started_at=started)


def test_a_killed_attempt_is_closed_as_failed_and_the_schedule_tries_the_night_again(oakfield, settings, monkeypatch):
    sent: list[tuple[int, str]] = []
    monkeypatch.setattr(
        tasks.nightly_run_task, "delay_on_commit", lambda school_id, night: sent.append((school_id, night))
    )
    killed = _killed(oakfield, AS_OF, settings)
    assert tasks.nightly_dispatch_task(now="2025-11-27T02:15:00+00:00") == 1
    killed.refresh_from_db()
    assert killed.status == "failed" and killed.error.startswith("Abandoned: the worker stopped")
    assert sent == [(oakfield.pk, "2025-11-26")]
    assert selectors.nightly_status(school=oakfield, today=AS_OF + timedelta(days=1)).state == "failed"


def test_a_night_whose_last_attempt_was_killed_is_reported_once_and_left_for_a_person(oakfield, settings):
    from django.core import mail

    settings.NIGHTLY_MAX_ATTEMPTS, settings.NIGHTLY_ALERT_EMAILS = 2, ["it@example.org"]
    NightlyRun.objects.create(school=oakfield, run_on=AS_OF, started_at=timezone.now(), status="failed")
    _killed(oakfield, AS_OF, settings)
    # A redelivered task finds the killed attempt, counts it, and gives up rather than try a third time.
    assert tasks.nightly_run_task.delay(oakfield.pk, AS_OF.isoformat()).get()["status"] == "gave up"
    assert not StageChange.objects.exists()
    (alert,) = mail.outbox
    assert alert.subject.endswith("has failed 2 times and will not be tried again")
    assert "Abandoned: the worker stopped before the night finished" in alert.body
    assert list(NightlyRun.objects.values_list("status", flat=True)) == ["failed", "failed"]
    assert tasks.nightly_dispatch_task(now="2025-11-27T02:30:00+00:00") == 0
    assert len(mail.outbox) == 1


def test_a_killed_last_attempt_found_in_the_schedules_way_is_reported_and_not_tried_again(oakfield, settings):
    from django.core import mail

    settings.NIGHTLY_MAX_ATTEMPTS, settings.NIGHTLY_ALERT_EMAILS = 2, ["it@example.org"]
    NightlyRun.objects.create(school=oakfield, run_on=AS_OF, started_at=timezone.now(), status="failed")
    _killed(oakfield, AS_OF, settings)
    # The schedule's attempt finds the killed one in its way when it claims the night.
    with pytest.raises(nightly.NightGivenUp):
        nightly.nightly_run(school=oakfield, as_of=AS_OF, if_not_done=True, scheduled=True)
    assert sorted(NightlyRun.objects.values_list("status", flat=True)) == ["failed", "failed"]
    assert not StageChange.objects.exists()
    (alert,) = mail.outbox
    assert "Abandoned: the worker stopped" in alert.body
    # A person may still run it, and is told by the command: no second e-mail.
    assert nightly.nightly_run(school=oakfield, as_of=AS_OF).status == "done"
    assert len(mail.outbox) == 1


def test_a_failure_closed_as_abandoned_before_it_was_recorded_is_reported_once(oakfield, settings):
    from django.core import mail

    settings.NIGHTLY_MAX_ATTEMPTS, settings.NIGHTLY_ALERT_EMAILS = 1, ["it@example.org"]
    # A night that raised: its rollback unlocked its row, and the dispatcher closed it before it could say why.
    run = _killed(oakfield, AS_OF, settings)
    assert nightly.abandoned_close() == 1
    nightly._night_failed(run, RuntimeError("disk on fire"))
    run.refresh_from_db()
    assert run.error.startswith("Abandoned") and len(mail.outbox) == 1


def test_an_attempt_that_has_only_just_started_is_not_taken_for_dead(oakfield):
    # On PostgreSQL nobody holds its lock yet (it is between its claim and its night); elsewhere it is young.
    fresh = NightlyRun.objects.create(school=oakfield, run_on=AS_OF, started_at=timezone.now())
    assert nightly.abandoned_close() == 0
    fresh.refresh_from_db()
    assert fresh.status == "running"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_live_attempt_is_not_closed_by_the_dispatcher(postgres_only, oakfield, settings):
    live = _killed(oakfield, AS_OF, settings)  # old enough, but its worker is alive: it holds the row's lock
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                NightlyRun.objects.select_for_update().get(pk=live.pk)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert locked.wait(10)
        assert nightly.abandoned_close() == 0
    finally:
        release.set()
        thread.join()
    live.refresh_from_db()
    assert live.status == "running"


def test_if_not_done_leaves_a_finished_night_alone(oakfield):
    first = nightly.nightly_run(school=oakfield, as_of=AS_OF)
    again = nightly.nightly_run(school=oakfield, as_of=AS_OF, if_not_done=True)
    assert again.pk == first.pk
    assert NightlyRun.objects.count() == 1


def test_the_run_records_its_counts_and_duration(oakfield):
    run = nightly.nightly_run(school=oakfield, as_of=AS_OF)
    assert (run.pupils, run.moved, run.tasks_created, run.letters_queued, run.full) == (1, 1, 2, 1, True)
    assert run.duration_s is not None and run.duration_s >= 0
    assert run.weeks_from == date(2025, 9, 2) and run.changes_cutoff is not None


def test_morning_status_says_missed_until_the_night_has_run(oakfield, other_school):
    morning = AS_OF + timedelta(days=1)
    status = selectors.nightly_status(school=oakfield, today=morning)
    assert (status.state, status.night_of) == ("first", AS_OF)  # no night ever: a school starting, not a miss
    nightly.nightly_run(school=oakfield, as_of=AS_OF - timedelta(days=1))
    status = selectors.nightly_status(school=oakfield, today=morning)
    assert (status.state, status.night_of) == ("missed", AS_OF)
    assert selectors.nightly_status(school=other_school, today=morning).state == "off"
    NightlyRun.objects.create(school=oakfield, run_on=AS_OF, started_at=timezone.now())
    assert selectors.nightly_status(school=oakfield, today=morning).state == "running"


def test_status_without_a_date_asks_about_the_latest_night_due_in_the_schools_time_zone(oakfield):
    nightly.nightly_run(school=oakfield, as_of=AS_OF)
    # 01:30 in London on the 28th: the night of the 27th is not due until 02:00, the 26th's is.
    assert selectors.nightly_status(school=oakfield, now=datetime(2025, 11, 28, 1, 30, tzinfo=UTC)).state == "ok"
    late = selectors.nightly_status(school=oakfield, now=datetime(2025, 11, 28, 2, 30, tzinfo=UTC))
    assert (late.state, late.night_of) == ("missed", date(2025, 11, 27))


def test_status_before_the_schedules_hour_reports_yesterdays_night_if_it_already_ran(oakfield):
    early = datetime(2025, 11, 28, 1, 30, tzinfo=UTC)
    assert selectors.nightly_status(school=oakfield, now=early).night_of == date(2025, 11, 26)
    nightly.nightly_run(school=oakfield, as_of=date(2025, 11, 27))  # run by hand at half past one
    status = selectors.nightly_status(school=oakfield, now=early)
    assert (status.state, status.night_of) == ("ok", date(2025, 11, 27))


def test_dispatch_queues_each_due_school_once_in_its_own_time_zone(oakfield, register, monkeypatch):
    sydney = SchoolFactory(urn="400004", name="Sydney Primary", time_zone="Australia/Sydney")
    services.ladder_load(school=sydney, document=SIMPLE_LADDER, activate=True)
    register(PupilFactory(school=sydney), date(2025, 9, 1), AS_OF, lambda d, s: "/")
    SchoolFactory(urn="400005", name="No Ladder Primary")
    sent: list[tuple[int, str]] = []
    monkeypatch.setattr(
        tasks.nightly_run_task, "delay_on_commit", lambda school_id, night: sent.append((school_id, night))
    )
    NightlyRun.objects.create(
        school=oakfield, run_on=AS_OF - timedelta(days=1), started_at=timezone.now(), status="done"
    )
    # 01:00 UTC on the 27th is 01:00 in London (the 26th's night not due till 02:00) and noon in Sydney.
    assert tasks.nightly_dispatch_task(now="2025-11-27T01:00:00+00:00") == 1
    assert sent == [(sydney.pk, "2025-11-26")]
    sent.clear()
    # 02:15 in London on the 27th: Oakfield's night of the 26th is due; Sydney's has not run either.
    assert tasks.nightly_dispatch_task(now="2025-11-27T02:15:00+00:00") == 2
    assert sorted(sent) == sorted([(oakfield.pk, "2025-11-26"), (sydney.pk, "2025-11-26")])
    sent.clear()
    nightly.nightly_run(school=oakfield, as_of=AS_OF)
    for _ in range(3):  # a night that keeps failing is left for a person
        NightlyRun.objects.create(school=sydney, run_on=AS_OF, started_at=timezone.now(), status="failed")
    assert tasks.nightly_dispatch_task(now="2025-11-27T02:30:00+00:00") == 0


def test_the_task_runs_the_night_and_a_second_delivery_does_nothing(oakfield):
    result = tasks.nightly_run_task.delay(oakfield.pk, AS_OF.isoformat()).get()
    assert result["status"] == "done"
    assert tasks.nightly_run_task.delay(oakfield.pk, AS_OF.isoformat()).get()["run"] == result["run"]
    assert NightlyRun.objects.count() == 1 and StageChange.objects.count() == 1


def test_the_dispatch_schedule_migration_creates_the_periodic_task_once(db):
    from importlib import import_module

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    migration = import_module("interventions.migrations.0006_nightly_dispatch_schedule")
    migration.create(apps, None)
    migration.create(apps, None)
    task = PeriodicTask.objects.get(name="interventions: nightly dispatch")
    assert (task.task, task.crontab.minute, task.enabled) == ("interventions.tasks.nightly_dispatch_task", "*/15", True)


def test_open_work_past_its_date_is_overdue_and_done_work_is_not(oakfield, attendance_lead):
    nightly.nightly_run(school=oakfield, as_of=AS_OF)
    call = Task.objects.get(template_key="call")  # due two school days later: 28 November
    assert not call.is_overdue
    run = nightly.nightly_run(school=oakfield, as_of=date(2025, 11, 28))
    call.refresh_from_db()
    assert call.is_overdue and run.tasks_overdue == 1
    services.task_complete(task=call, user=attendance_lead)
    nightly.nightly_run(school=oakfield, as_of=date(2025, 12, 1))
    call.refresh_from_db()
    assert not call.is_overdue


def test_overdue_means_open_and_due_before_the_morning_in_the_database_and_on_the_object(oakfield):
    pupil = oakfield.pupils.get()
    morning = date(2025, 11, 28)
    made = [
        Task.objects.create(school=oakfield, pupil=pupil, title=f"{status} {due}", due_on=due, status=status)
        for status in Task.Status.values
        for due in (morning - timedelta(days=1), morning, morning + timedelta(days=1))
    ]
    in_database = {task.title for task in Task.objects.filter(Task.overdue_on(morning))}
    assert in_database == {task.title for task in made if task.is_overdue_on(morning)} == {"open 2025-11-27"}
    # The night closing the 27th's register flags what is overdue on the morning of the 28th.
    nightly.tasks_mark_overdue(school=oakfield, as_of=morning - timedelta(days=1))
    assert set(Task.objects.filter(is_overdue=True).values_list("title", flat=True)) == in_database


def test_the_next_review_follows_a_done_review_once_its_date_has_come(oakfield, attendance_lead):
    nightly.nightly_run(school=oakfield, as_of=AS_OF)
    review = Task.objects.get(template_key="review")  # every 2 weeks: due 10 December
    assert review.due_on == date(2025, 12, 10)
    services.task_complete(task=review, user=attendance_lead)
    assert nightly.nightly_run(school=oakfield, as_of=date(2025, 12, 9)).reviews_created == 0
    run = nightly.nightly_run(school=oakfield, as_of=date(2025, 12, 10))
    assert run.reviews_created == 1
    second = Task.objects.get(template_key="review-2")
    assert (second.kind, second.due_on, second.stage_change_id) == (
        "review",
        date(2026, 1, 7),
        review.stage_change_id,
    )
    # (Ten school days on, over Christmas.) Re-running, and the nights after, make no third review while the second is open: it goes overdue instead.
    nightly.nightly_run(school=oakfield, as_of=date(2025, 12, 10))
    nightly.nightly_run(school=oakfield, as_of=date(2026, 1, 8))
    assert Task.objects.filter(kind="review").count() == 2
    second.refresh_from_db()
    assert second.is_overdue


def test_run_nightly_for_all_schools_prints_a_line_a_school(oakfield, other_school):
    out = StringIO()
    call_command("run_nightly", "--all-schools", "--as-of", AS_OF.isoformat(), "--full", stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines == [
        {"school": oakfield.urn, "pupils": 1, "moved": 1, "proposed": 0, "tasks_created": 2, "letters_queued": 1}
    ]
    assert NightlyRun.objects.get().full


def test_run_nightly_due_runs_each_schools_latest_due_night_once(oakfield, other_school):
    """What scripts/dev runs at start: the night the schedule would have run, if it has not."""
    due = selectors.night_due(school=oakfield, now=timezone.now())
    out = StringIO()
    call_command("run_nightly", "--due", stdout=out)
    (line,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (line["school"], line["pupils"]) == (oakfield.urn, 1)  # the other school has no active ladder
    assert NightlyRun.objects.get().run_on == due
    again = StringIO()
    call_command("run_nightly", "--due", stdout=again)
    assert again.getvalue() == ""
    # A later night already done (run by hand, or the demo's own) makes an earlier one not due.
    NightlyRun.objects.all().delete()
    nightly.nightly_run(school=oakfield, as_of=due + timedelta(days=1))
    assert selectors.nights_due(now=timezone.now()) == []
    with pytest.raises(CommandError, match="leave out --as-of"):
        call_command("run_nightly", "--due", "--as-of", AS_OF.isoformat())


def test_run_nightly_for_a_school_runs_its_latest_due_night_by_default(oakfield):
    """Not today's: the night of a day closes its registers, so it runs once the day is over."""
    due = selectors.night_due(school=oakfield, now=timezone.now())
    assert due < timezone.localdate()
    call_command("run_nightly", "--school", oakfield.urn, stdout=StringIO())
    assert NightlyRun.objects.get().run_on == due
    assert selectors.nightly_status(school=oakfield).state == "ok"


def test_run_nightly_for_all_schools_runs_each_ones_latest_due_night_by_default(oakfield, other_school, monkeypatch):
    services.ladder_load(school=other_school, document=SIMPLE_LADDER, activate=True)
    other_school.time_zone = "Pacific/Kiritimati"  # 14 hours ahead of London
    other_school.save()
    now = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)  # 13:00 on Sunday in London, 03:00 on Monday there
    monkeypatch.setattr(timezone, "now", lambda: now)
    out = StringIO()
    call_command("run_nightly", "--all-schools", stdout=out)
    runs = dict(NightlyRun.objects.values_list("school__urn", "run_on"))
    assert runs == {oakfield.urn: date(2026, 12, 5), other_school.urn: date(2026, 12, 6)}
    assert [json.loads(line)["school"] for line in out.getvalue().splitlines()] == [oakfield.urn, other_school.urn]


@pytest.mark.parametrize("days_ahead", [0, 1])
@pytest.mark.parametrize("one_school", [True, False])
def test_run_nightly_refuses_a_night_whose_day_is_not_over(oakfield, other_school, one_school, days_ahead):
    which = ["--school", oakfield.urn] if one_school else ["--all-schools"]
    today = timezone.now().astimezone(ZoneInfo(oakfield.time_zone)).date()
    day = today + timedelta(days=days_ahead)
    with pytest.raises(CommandError) as refused:
        call_command("run_nightly", *which, "--as-of", day.isoformat(), stdout=StringIO())
    message = str(refused.value)
    assert f"The night of {day:%a} {day.day} {day:%b %Y} closes that day's registers" in message
    due = selectors.night_due(school=oakfield, now=timezone.now())
    assert f"The latest night due is {due:%a} {due.day} {due:%b %Y}: leave out --as-of to run it." in message
    assert not NightlyRun.objects.exists()
    assert not StageChange.objects.exists()


def test_admin_lists_runs_with_what_each_did(admin_client, oakfield):
    run = nightly.nightly_run(school=oakfield, as_of=AS_OF)
    response = admin_client.get("/admin/interventions/nightlyrun/")
    assert response.status_code == 200
    page = response.content.decode()
    assert oakfield.name in page
    assert (
        f"1 pupil, {run.moved} moved, {run.proposed} proposed, {run.tasks_created} task{'s' * (run.tasks_created != 1)}, "
        f"{run.letters_queued} letter{'s' * (run.letters_queued != 1)}"
    ) in page


def test_a_night_that_keeps_failing_is_left_alone_by_the_task(oakfield):
    for _ in range(3):
        NightlyRun.objects.create(school=oakfield, run_on=AS_OF, started_at=timezone.now(), status="failed")
    assert tasks.nightly_run_task.delay(oakfield.pk, AS_OF.isoformat()).get()["status"] == "gave up"
    assert not StageChange.objects.exists()
    # A person can still run it by hand.
    call_command("run_nightly", "--school", oakfield.urn, "--as-of", AS_OF.isoformat(), stdout=StringIO())
    assert StageChange.objects.count() == 1


def _attempt(school, night: date, status: str, error: str = "") -> NightlyRun:
    started = timezone.now()
    finished = None if status == "running" else started + timedelta(seconds=3)
    return NightlyRun.objects.create(
        school=school, run_on=night, status=status, started_at=started, finished_at=finished, error=error
    )


def test_the_history_shows_each_night_since_the_first_with_the_ones_that_failed_or_never_ran(oakfield):
    first = nightly.nightly_run(school=oakfield, as_of=date(2025, 11, 22))
    # The 23rd never ran; the 24th failed twice, then ran; the 25th failed; the 26th is running now.
    for status in ("failed", "failed", "done"):
        _attempt(oakfield, date(2025, 11, 24), status)
    _attempt(oakfield, date(2025, 11, 25), "failed", error="OperationalError: the database went away")
    _attempt(oakfield, date(2025, 11, 26), "running")

    rows = selectors.night_history(school=oakfield, now=datetime(2025, 11, 27, 2, 30, tzinfo=UTC))

    assert [(r.night_of.day, r.state, r.attempts, r.caught_up) for r in rows] == [
        (26, "running", 1, False),
        (25, "failed", 1, False),  # nothing later has succeeded: its figures are still missing
        (24, "ok", 3, False),
        (23, "missed", 0, True),  # the 24th ran from the same register
        (22, "ok", 1, False),  # and nothing before the school's first night
    ]
    assert rows[1].run.error == "OperationalError: the database went away"
    assert rows[-1].run == first and rows[-1].run.pupils == 1
    assert (rows[-1].placed, rows[-1].moved) == (1, 0)  # its first night: placed, as the dashboard says, not moved
    nightly.nightly_run(school=oakfield, as_of=date(2025, 11, 22), full=True)  # the same night, run again by hand
    again = selectors.night_history(school=oakfield, now=datetime(2025, 11, 27, 2, 30, tzinfo=UTC))[-1]
    assert (again.state, again.attempts, again.placed, again.moved) == ("ok", 1, 1, 0)  # what the night did, once
    # The tasks and letters it gave too: the run again gave none, which is not what the night made.
    assert (again.run.tasks_created, again.run.letters_queued) == (first.tasks_created, first.letters_queued)
    assert first.tasks_created > 0
    status = selectors.nightly_status(school=oakfield, today=date(2025, 11, 23))
    assert (status.run.tasks_created, status.run.letters_queued) == (first.tasks_created, first.letters_queued)
    assert NightlyRun.objects.filter(run_on=date(2025, 11, 22), tasks_created=0).exists()  # as recorded
    recent = selectors.night_history(school=oakfield, nights=2, now=datetime(2025, 11, 27, 2, 30, tzinfo=UTC))
    assert [r.night_of.day for r in recent] == [26, 25]


def test_a_school_that_never_ran_a_night_has_no_history(oakfield, other_school):
    assert selectors.night_history(school=other_school) == []


def test_a_school_whose_ladder_was_switched_off_has_missed_no_night_since(oakfield):
    nightly.nightly_run(school=oakfield, as_of=date(2025, 11, 24))
    oakfield.ladders.update(is_active=False)
    rows = selectors.night_history(school=oakfield, now=datetime(2025, 11, 27, 2, 30, tzinfo=UTC))
    assert [(r.night_of.day, r.state) for r in rows] == [(24, "ok")]


def test_the_nightly_runs_page_shows_the_lead_what_failed_and_what_never_ran(client, oakfield, attendance_lead):
    today = timezone.localdate()
    _attempt(oakfield, today - timedelta(days=4), "done")
    _attempt(oakfield, today - timedelta(days=2), "failed", error="OperationalError: the database went away")
    client.force_login(attendance_lead)

    dashboard = client.get(f"/school/{oakfield.urn}/dashboard/").content.decode()
    assert f'href="/school/{oakfield.urn}/nights/">Nightly runs</a>' in dashboard
    page = client.get(f"/school/{oakfield.urn}/nights/").content.decode()

    assert f'<th scope="row" class="fw-normal text-nowrap">{today - timedelta(days=2):%a %-d %b %Y}</th>' in page
    assert 'Failed</span> <span class="small">1 attempt</span>' in page
    assert "OperationalError: the database went away" in page
    assert page.count('data-state="missed"') >= 1  # the 3rd day back never ran
    assert page.count('data-state="ok"') == 1
    assert "A later night has run" not in page  # nothing after the failure has succeeded
    assert "Not tried again automatically" not in page  # one failure: the schedule tries again
    assert '<tr class="table-danger" data-state="failed">' in page

    # Once a later night has run from the same register, the failed and the missed nights are grey, not red.
    _attempt(oakfield, today - timedelta(days=1), "done")
    page = client.get(f"/school/{oakfield.urn}/nights/").content.decode()
    assert "A later night has run" in page and "table-danger" not in page
    assert '<span class="badge text-bg-secondary">Failed</span>' in page
    assert '<span class="badge text-bg-secondary">Did not run</span>' in page


def test_the_nightly_runs_page_says_when_a_night_is_left_for_it_staff(client, oakfield, attendance_lead, settings):
    settings.NIGHTLY_MAX_ATTEMPTS = 2
    night = timezone.localdate() - timedelta(days=1)
    _attempt(oakfield, night, "failed", error="OperationalError: the database went away")
    last = _attempt(oakfield, night, "failed", error=nightly.ABANDONED)
    client.force_login(attendance_lead)
    page = client.get(f"/school/{oakfield.urn}/nights/").content.decode()
    assert "Not tried again automatically: IT staff can run it by hand once the cause is fixed." in page
    assert "They were e-mailed." not in page
    NightlyRun.objects.filter(pk=last.pk).update(alerted=True)
    assert "They were e-mailed." in client.get(f"/school/{oakfield.urn}/nights/").content.decode()
