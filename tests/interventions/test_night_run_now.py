"""A school starting out: the dashboard before a ladder is active, before the first night, and running a night now."""

from __future__ import annotations

import pytest
from celery import current_app
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from interventions import selectors, services, tasks
from interventions.models import NightlyRun, Placement
from pupils.models import AuditEvent, StaffMembership
from tests.factories import MembershipFactory, PupilFactory, UserFactory
from tests.interventions.conftest import SIMPLE_LADDER, fill_school_days

pytestmark = pytest.mark.django_db


def member(school, role):
    return MembershipFactory(user=UserFactory(username=f"{role}-{school.urn}"), school=school, role=role).user


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def starting(school):
    """Oakfield with two pupils and five weeks of registers, one of them often absent; no night run yet."""
    for surname, every in (("Absent", 3), ("Present", 1000)):
        pupil = PupilFactory(school=school, surname=surname)
        counter = iter(range(1, 10_000))
        fill_school_days(
            pupil, 25, timezone.localdate(), lambda day, session, e=every, c=counter: "O" if next(c) % e == 0 else "/"
        )
    return school


def test_without_an_active_ladder_the_dashboard_says_what_to_do_first(client, starting, attendance_lead):
    client.force_login(attendance_lead)
    url = reverse("interventions:dashboard", args=[starting.urn])
    page = client.get(url).content.decode()
    assert "getting started" in page
    assert "2 pupils on roll" in page and "registers marked up to" in page
    assert reverse("interventions:ladder", args=[starting.urn]) in page
    assert "copy one of the shipped ladders" in page and "None yet." in page
    services.ladder_load(school=starting, document=SIMPLE_LADDER)  # a copy, not yet active
    page = client.get(url).content.decode()
    assert "1 ladder of its own, none active yet" in page and "Simple ladder" in page


def test_a_senior_leader_and_the_dsl_are_told_who_takes_the_first_steps(client, school):
    client.force_login(member(school, StaffMembership.Role.DSL))
    page = client.get(reverse("interventions:dashboard", args=[school.urn])).content.decode()
    assert "the attendance lead or a senior leader takes them" in page
    assert "No pupils on roll yet" in page and "no register marks yet" in page
    assert "copy one of the shipped ladders" not in page


def test_before_the_first_night_the_dashboard_says_so_not_that_a_night_was_missed(client, starting, attendance_lead):
    services.ladder_load(school=starting, document=SIMPLE_LADDER, activate=True)
    client.force_login(attendance_lead)
    page = client.get(reverse("interventions:dashboard", args=[starting.urn])).content.decode()
    assert "No night has run yet: the first places every pupil on the ladder" in page
    assert "did not run" not in page
    assert "No pupil is on the ladder yet. The nightly run places every pupil on roll" in page
    assert "No night has run yet.</li>" in page  # not "Nobody moved last night"
    assert 'id="night-run"' in page


def test_running_the_first_night_now_places_everyone_and_the_dashboard_shows_it(client, starting, attendance_lead):
    services.ladder_load(school=starting, document=SIMPLE_LADDER, activate=True)
    night = selectors.nightly_status(school=starting)
    client.force_login(attendance_lead)
    dashboard = reverse("interventions:dashboard", args=[starting.urn])
    response = client.post(reverse("interventions:night_run", args=[starting.urn]), {"next": dashboard})
    assert response.status_code == 302 and response.url == dashboard
    day = f"{night.night_of:%a} {night.night_of.day} {night.night_of:%b}"
    assert said(response) == [f"The night of {day} has run: the dashboard shows what it did."]
    run = NightlyRun.objects.get(school=starting)
    assert (run.run_on, run.status, run.pupils) == (night.night_of, NightlyRun.Status.DONE, 2)
    assert Placement.objects.filter(pupil__school=starting).count() == 2
    assert AuditEvent.objects.filter(
        school=starting, user=attendance_lead, what=f"started the night of {night.night_of:%Y-%m-%d} by hand"
    ).exists()
    page = client.get(dashboard).content.decode()
    assert f"Night of {day}: done, 2 pupils" in page and 'id="night-run"' not in page
    assert "Absent" in page and "Present" in page


def test_a_night_that_has_run_is_not_run_again(client, starting, attendance_lead):
    services.ladder_load(school=starting, document=SIMPLE_LADDER, activate=True)
    client.force_login(attendance_lead)
    url = reverse("interventions:night_run", args=[starting.urn])
    client.post(url)
    response = client.post(url)
    night = selectors.nightly_status(school=starting).night_of
    assert said(response)[-1] == f"The night of {night:%a} {night.day} {night:%b} has run already."
    assert NightlyRun.objects.filter(school=starting).count() == 1


def test_with_no_active_ladder_there_is_no_night_to_run(client, starting, attendance_lead):
    client.force_login(attendance_lead)
    response = client.post(reverse("interventions:night_run", args=[starting.urn]))
    assert said(response) == [
        "The school has no active ladder, so no night runs: activate one on the Ladder page first."
    ]
    assert not NightlyRun.objects.exists()


def test_a_night_the_schedule_gave_up_on_can_still_be_run_by_a_person(client, starting, attendance_lead, settings):
    services.ladder_load(school=starting, document=SIMPLE_LADDER, activate=True)
    night = selectors.nightly_status(school=starting).night_of
    for _ in range(settings.NIGHTLY_MAX_ATTEMPTS):
        NightlyRun.objects.create(
            school=starting, run_on=night, started_at=timezone.now(), status=NightlyRun.Status.FAILED, error="boom"
        )
    assert selectors.night_attempts_exhausted(school=starting, night=night)
    client.force_login(attendance_lead)
    page = client.get(reverse("interventions:dashboard", args=[starting.urn])).content.decode()
    assert "failed too often to be tried again" in page and 'id="night-run"' in page
    client.post(reverse("interventions:night_run", args=[starting.urn]))
    assert selectors.nightly_status(school=starting).state == "ok"


def test_a_night_that_fails_when_run_now_says_so_and_is_kept_as_failed(client, starting, attendance_lead, monkeypatch):
    services.ladder_load(school=starting, document=SIMPLE_LADDER, activate=True)

    def broken(**kwargs):
        raise RuntimeError("the register could not be read")

    monkeypatch.setattr("interventions.nightly.night_facts", broken)
    client.force_login(attendance_lead)
    response = client.post(reverse("interventions:night_run", args=[starting.urn]))
    night = selectors.nightly_status(school=starting)
    assert said(response) == [
        f"The night of {night.night_of:%a} {night.night_of.day} {night.night_of:%b} failed."
        " Nightly runs shows the error: ask IT to look at it."
    ]
    assert night.state == "failed" and "the register could not be read" in night.run.error
    assert not Placement.objects.exists()


def test_with_a_worker_the_night_is_queued_for_it_and_the_page_says_it_has_started(
    client, starting, attendance_lead, monkeypatch
):

    services.ladder_load(school=starting, document=SIMPLE_LADDER, activate=True)
    night = selectors.nightly_status(school=starting).night_of
    monkeypatch.setitem(current_app.conf, "task_always_eager", False)
    queued = []
    monkeypatch.setattr(tasks.nightly_run_task, "delay", lambda *args, **kwargs: queued.append((args, kwargs)))
    client.force_login(attendance_lead)
    response = client.post(reverse("interventions:night_run", args=[starting.urn]))
    day = f"{night:%a} {night.day} {night:%b}"
    assert said(response) == [f"The night of {day} has started. It takes a minute or two: refresh to see it done."]
    assert queued == [((starting.pk, night.isoformat()), {"by_hand": True})]
    assert not NightlyRun.objects.exists()  # the worker's to run
    assert AuditEvent.objects.filter(what=f"started the night of {night:%Y-%m-%d} by hand").count() == 1

    def broker_down(*args, **kwargs):
        raise OperationalError("Connection refused")

    monkeypatch.setattr(tasks.nightly_run_task, "delay", broker_down)
    response = client.post(reverse("interventions:night_run", args=[starting.urn]))
    assert said(response)[-1] == (f"The night of {day} could not be started: the task queue is not answering. Ask IT.")
    assert AuditEvent.objects.filter(what__startswith="started the night").count() == 1  # only what started


def test_the_nights_page_offers_the_same_button_to_those_who_may_use_it(client, starting, attendance_lead):
    services.ladder_load(school=starting, document=SIMPLE_LADDER, activate=True)
    url = reverse("interventions:nights", args=[starting.urn])
    client.force_login(attendance_lead)
    page = client.get(url).content.decode()
    assert "No night has run yet" in page and 'id="night-run"' in page
    client.force_login(member(starting, StaffMembership.Role.DSL))
    assert 'id="night-run"' not in client.get(url).content.decode()
