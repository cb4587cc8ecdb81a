"""A follow-up asked for only while an N waits is done when the office records the pupil's last reason."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from interventions import nightly, services
from interventions.models import ActionLog, Task
from interventions.rules import only_while_unexplained
from pupils.models import StaffMembership
from pupils.services import mark_correct
from tests.factories import MembershipFactory, PupilFactory, UserFactory

NIGHT = date(2025, 11, 25)  # a Tuesday
MONDAY, TUESDAY = date(2025, 11, 24), NIGHT
UNEXPLAINED = {"count": {"measure": "unexplained", "at_least": 1, "window": "half_term"}}

FOLLOW_UP_LADDER = {
    "key": "follow-up",
    "name": "Follow-up ladder",
    "stages": [
        {"key": "universal", "name": "Universal", "label": "U"},
        {
            "key": "monitor",
            "name": "Monitor",
            "label": "M",
            "criteria": {"any": [{"attendance": {"below": 95}}, UNEXPLAINED]},
            "actions": [
                {"key": "first-day", "title": "First-day follow-up", "role": "office", "when": UNEXPLAINED},
                {"key": "talk", "title": "Talk to the pupil", "role": "class_teacher"},
            ],
        },
    ],
}


@pytest.fixture
def office(client, school):
    user = UserFactory(username="owen")
    MembershipFactory(user=user, school=school, role=StaffMembership.Role.OFFICE)
    client.force_login(user)
    return client


@pytest.fixture
def alex(school, register, monkeypatch):
    """At Monitor, with an N on Monday and, in the afternoon, on Tuesday: the night gave both tasks."""
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 26))
    services.ladder_load(school=school, document=FOLLOW_UP_LADDER, activate=True)
    alex = PupilFactory(school=school, forename="Alex", surname="Smith")
    unexplained = {(MONDAY, 0), (MONDAY, 1), (TUESDAY, 1)}
    register(alex, date(2025, 9, 1), NIGHT, lambda day, session: "N" if (day, session) in unexplained else "/")
    nightly.nightly_run(school=school, as_of=NIGHT)
    assert set(Task.objects.filter(pupil=alex).values_list("template_key", flat=True)) == {"first-day", "talk"}
    return alex


def explain(client, school, pupil, day, reason="Mum rang: sickness bug"):
    response = client.post(
        reverse("pupils:first_day_reason", args=[school.urn, pupil.pk]),
        {"on": day.isoformat(), "code": "I", "reason": reason},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    return response.content.decode()


def test_the_last_reason_recorded_does_the_follow_up_and_says_so(office, school, alex):
    first = explain(office, school, alex, MONDAY)
    assert "is done" not in first  # Tuesday's N is still waiting
    assert Task.objects.get(template_key="first-day").status == Task.Status.OPEN

    last = explain(office, school, alex, TUESDAY)
    assert "No N is left for Alex, so the follow-up task “First-day follow-up” is done." in last
    follow_up = Task.objects.get(template_key="first-day")
    assert follow_up.status == Task.Status.DONE and follow_up.completed_by.username == "owen"
    logged = ActionLog.objects.get(task=follow_up)
    assert logged.by.username == "owen"
    assert logged.outcome == "Reason recorded: PM on Tue 25 Nov now I: Mum rang: sickness bug"
    # An action asked for whatever the register says is still to do.
    assert Task.objects.get(template_key="talk").status == Task.Status.OPEN


def test_an_n_left_on_another_day_keeps_the_follow_up_open(office, school, alex):
    explain(office, school, alex, TUESDAY)
    assert Task.objects.get(template_key="first-day").status == Task.Status.OPEN
    assert not ActionLog.objects.exists()


@pytest.mark.parametrize(
    ("when", "only_while"),
    [
        (UNEXPLAINED, True),
        ({"count": {"measure": "unexplained", "at_least": 0}}, False),
        ({"count": {"measure": "unauthorised", "at_least": 1}}, False),
        ({"all": [{"attendance": {"below": 90}}, UNEXPLAINED]}, True),
        ({"all": [{"attendance": {"below": 90}}]}, False),
        ({"any": [UNEXPLAINED, {"count": {"measure": "unexplained", "at_least": 3, "window": "year"}}]}, True),
        ({"any": [UNEXPLAINED, {"attendance": {"below": 90}}]}, False),
        ({"any": []}, False),
        ({"not": UNEXPLAINED}, False),
    ],
)
def test_which_conditions_hold_only_while_an_n_waits(when, only_while):
    assert only_while_unexplained(when) is only_while


def test_reasons_that_came_another_way_leave_the_night_to_do_the_follow_up(school, alex, attendance_lead):
    nightly.nightly_run(school=school, as_of=NIGHT, full=True)  # both N still waiting: nothing done
    assert Task.objects.get(template_key="first-day").status == Task.Status.OPEN
    # The office corrected the register grid, or the MIS's register came in with the reasons.
    for day, session in ((MONDAY, 0), (MONDAY, 1), (TUESDAY, 1)):
        mark_correct(pupil=alex, date=day, session=session, code="I", reason="from the MIS", user=attendance_lead)

    nightly.nightly_run(school=school, as_of=date(2025, 11, 26))
    follow_up = Task.objects.get(template_key="first-day")
    assert follow_up.status == Task.Status.DONE and follow_up.completed_by is None
    assert ActionLog.objects.get(task=follow_up).outcome == nightly.FOLLOW_UPS_DONE_BY_THE_REGISTER
    assert Task.objects.get(template_key="talk").status == Task.Status.OPEN


def test_if_closing_the_follow_up_fails_the_reason_is_still_kept(office, school, alex, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "follow_ups_close", broken)
    explain(office, school, alex, MONDAY)
    page = explain(office, school, alex, TUESDAY)
    assert "now I" in page and "is done" not in page
    assert not alex.marks.filter(code="N").exists()  # the reasons stand
    assert Task.objects.get(template_key="first-day").status == Task.Status.OPEN  # the night will close it
    assert "Could not close the follow-ups" in caplog.text


def test_a_follow_up_done_by_recording_the_reason_offers_no_undo(office, school, alex):
    explain(office, school, alex, MONDAY)
    explain(office, school, alex, TUESDAY)
    follow_up = Task.objects.get(template_key="first-day")
    assert follow_up.status == Task.Status.DONE
    page = office.get(reverse("interventions:tasks", args=[school.urn])).content.decode()
    assert "Marked done in the last few minutes" not in page
    refused = office.post(reverse("interventions:task_reopen", args=[school.urn, follow_up.pk]), HTTP_HX_REQUEST="true")
    assert refused.status_code == 422 and Task.objects.get(pk=follow_up.pk).status == Task.Status.DONE


def test_my_tasks_says_which_days_a_follow_up_still_waits_for_and_done_by_hand_says_they_still_do(office, school, alex):
    page = office.get(reverse("interventions:tasks", args=[school.urn])).content.decode()
    link = f'<a href="/school/{school.urn}/office/today/?on=2025-11-24">record it on the first-day calls</a>'
    assert f"No reason yet for Mon 24 Nov, Tue 25 Nov: {link}." in page
    assert page.count("data-waiting") == 1  # the follow-up's row, not another task's

    # Pressed Done after a voicemail: the task is done, but the absences are still waiting, and it says so.
    follow_up = Task.objects.get(template_key="first-day")
    row = office.post(
        reverse("interventions:task_done", args=[school.urn, follow_up.pk]),
        {"outcome": "Left a voicemail for mum"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "Done, but still no reason recorded for Mon 24 Nov, Tue 25 Nov" in row
    follow_up.refresh_from_db()
    assert follow_up.status == Task.Status.DONE
    assert set(alex.marks.filter(code="N").values_list("date", flat=True)) == {MONDAY, TUESDAY}


def test_without_javascript_done_by_hand_says_the_absences_still_wait(office, school, alex):
    follow_up = Task.objects.get(template_key="first-day")
    tasks = reverse("interventions:tasks", args=[school.urn])
    response = office.post(
        reverse("interventions:task_done", args=[school.urn, follow_up.pk]), {"next": tasks}, follow=True
    )
    assert (
        "Alex Smith still has no reason recorded for Mon 24 Nov, Tue 25 Nov: it stays on the office&#x27;s list."
        in (response.content.decode())
    )
