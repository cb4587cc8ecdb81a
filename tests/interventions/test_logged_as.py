"""An action's `logged_as`: logging that kind of action for the pupil does their open task for it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from interventions import nightly, services
from interventions.ladder_format import LOGGED_AS, validate_ladder
from interventions.ladder_words import LOGGED_AS_WORDS, ladder_picture
from interventions.models import ActionLog, Task
from pupils.models import RegistrationGroup
from tests.factories import PupilFactory
from tests.interventions.conftest import fill_register

LADDER = {
    "key": "logged-as",
    "name": "Logged-as ladder",
    "stages": [
        {"key": "universal", "name": "Universal", "label": "U"},
        {
            "key": "concern",
            "name": "Concern",
            "label": "C",
            "criteria": {"attendance": {"below": 95}},
            "actions": [
                {
                    "key": "talk",
                    "title": "Talk to the pupil",
                    "role": "class_teacher",
                    "logged_as": "pupil_conversation",
                },
                {"key": "ring", "title": "Ring home", "role": "office", "logged_as": "phone_call"},
                {"key": "plan", "title": "Write a support plan", "role": "class_teacher"},
            ],
        },
    ],
}


@pytest.fixture
def pupil(school, class_teacher, today):
    """In the teacher's class 4B, at Concern since last night, with its three tasks."""
    services.ladder_load(school=school, document=LADDER, activate=True)
    pupil = PupilFactory(school=school, registration_group=RegistrationGroup.objects.get(name="4B"), forename="Sam")
    fill_register(pupil, today - timedelta(days=70), today - timedelta(days=1), lambda d, s: "O" if s else "/")
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
    assert Task.objects.filter(pupil=pupil, status="open").count() == 3
    return pupil


def url(name, school, *args):
    return reverse(f"interventions:{name}", args=[school.urn, *args])


def status(key):
    return Task.objects.get(template_key=key).status


def my_tasks_line(page: str) -> str:
    """The classes page's line counting the person's tasks, as the page or an htmx reply has it."""
    return re.search(r'<p class="mb-3" id="my-tasks-line"([^>]*)><a [^>]*>(.*?)</a></p>', page, re.DOTALL).group(1, 2)


def test_one_click_does_the_teachers_task_and_undo_opens_it_again(client, school, pupil, class_teacher):
    client.force_login(class_teacher)
    before = my_tasks_line(client.get(url("classes", school)).content.decode())
    reply = client.post(url("quick_log", school, pupil.pk), HTTP_HX_REQUEST="true").content.decode()
    assert "task “Talk to the pupil” done" in reply
    logged = ActionLog.objects.get(pupil=pupil)
    assert logged.task.template_key == "talk" and status("talk") == "done"
    assert (status("ring"), status("plan")) == ("open", "open")  # other kinds, and no logged_as
    # The count of their tasks above the class list follows, without a reload.
    after = my_tasks_line(reply)
    assert after[0] == ' hx-swap-oob="true"' and after[1] != before[1]
    assert after[1] == my_tasks_line(client.get(url("classes", school)).content.decode())[1]

    reply = client.post(url("action_undo", school, pupil.pk, logged.pk), HTTP_HX_REQUEST="true").content.decode()
    talk = Task.objects.get(template_key="talk")
    assert (talk.status, talk.completed_by, talk.completed_at) == ("open", None, None)
    assert not ActionLog.objects.exists()
    assert my_tasks_line(reply) == (' hx-swap-oob="true"', before[1])


def test_the_full_form_does_it_too_and_says_so(client, school, pupil, class_teacher):
    client.force_login(class_teacher)
    response = client.post(
        url("action_create", school, pupil.pk),
        {"kind": "pupil_conversation", "occurred_on": timezone.localdate(), "outcome": "Worried about maths"},
        follow=True,
    )
    assert "Logged: Conversation with pupil; their task “Talk to the pupil” is done." in response.content.decode()
    assert (
        status("talk") == "done" and ActionLog.objects.get(task__template_key="talk").outcome == "Worried about maths"
    )


def test_a_task_that_is_not_the_loggers_stays_open_for_its_owner(client, school, pupil, class_teacher, attendance_lead):
    today = timezone.localdate()
    client.force_login(class_teacher)
    client.post(url("action_create", school, pupil.pk), {"kind": "phone_call", "occurred_on": today})
    assert status("ring") == "open"  # the office's call: the teacher's own call home does not close it
    client.force_login(attendance_lead)  # who may do anyone's work
    client.post(url("action_create", school, pupil.pk), {"kind": "phone_call", "occurred_on": today})
    assert status("ring") == "done"


def test_an_action_written_up_from_before_the_task_was_given_does_not_do_it(client, school, pupil, class_teacher):
    client.force_login(class_teacher)
    before = Task.objects.get(template_key="talk").created_at.date() - timedelta(days=1)
    client.post(url("action_create", school, pupil.pk), {"kind": "pupil_conversation", "occurred_on": before})
    assert ActionLog.objects.get(pupil=pupil).task is None and status("talk") == "open"


def test_logged_as_names_a_kind_of_logged_action():
    stage = {**LADDER["stages"][1], "actions": [{"key": "talk", "title": "Talk", "logged_as": "chat"}]}
    check = validate_ladder({**LADDER, "stages": [LADDER["stages"][0], stage]})
    assert not check.ok
    assert [(problem.place, problem.message) for problem in check.errors] == [
        (
            "stage 'concern', actions › item 1 › logged_as",
            "'chat' is not a kind of logged action this knows; choose one of: phone_call, pupil_conversation,"
            " parent_conversation, meeting, home_visit",
        )
    ]
    assert set(LOGGED_AS) <= set(ActionLog.Kind.values)  # every kind it may name is one a person can log


def test_the_ladder_page_says_what_logging_does_a_task():
    concern = next(stage for stage in ladder_picture(LADDER).stages if stage.key == "concern")
    assert [(a.title, a.logged_as) for a in concern.actions] == [
        ("Talk to the pupil", "a conversation with the pupil"),
        ("Ring home", "a phone call"),
        ("Write a support plan", ""),
    ]
    assert set(LOGGED_AS_WORDS) == set(LOGGED_AS)


def test_undoing_the_one_click_log_after_the_pupil_moved_stage_leaves_the_old_stages_task_done(
    client, school, pupil, class_teacher, attendance_lead
):
    client.force_login(class_teacher)
    client.post(url("quick_log", school, pupil.pk), HTTP_HX_REQUEST="true")
    logged = ActionLog.objects.get(pupil=pupil)
    services.pupil_move(
        pupil=pupil,
        stage=Task.objects.get(template_key="talk").stage_change.ladder.stages.get(key="universal"),
        user=attendance_lead,
        reason="Doing well",
    )
    client.post(url("action_undo", school, pupil.pk, logged.pk), HTTP_HX_REQUEST="true")
    assert not ActionLog.objects.filter(pk=logged.pk).exists()
    assert status("talk") == "done"  # it belongs to the stage they left


def test_a_conversation_corrected_to_a_phone_call_no_longer_does_the_talk_task(
    client, school, pupil, class_teacher, attendance_lead
):
    client.force_login(class_teacher)
    client.post(url("quick_log", school, pupil.pk), HTTP_HX_REQUEST="true")
    logged = ActionLog.objects.get(pupil=pupil)
    assert status("talk") == "done"

    client.force_login(attendance_lead)
    response = client.post(
        url("action_correct", school, pupil.pk, logged.pk),
        {"kind": "phone_call", "occurred_on": logged.occurred_on, "outcome": "", "notes": "", "reason": "Rang mum"},
        follow=True,
    )
    assert (
        "The task “Talk to the pupil” is open again: the entry, as corrected, does not do it."
        in response.content.decode()
    )
    talk = Task.objects.get(template_key="talk")
    assert (talk.status, talk.completed_by) == ("open", None)
    logged.refresh_from_db()
    assert (logged.kind, logged.task) == ("phone_call", None)
    assert status("ring") == "open"  # the office's call: a correction closes nothing

    # The teacher's Undo, still within its ten minutes, is refused: the corrected entry stays, with its history.
    client.force_login(class_teacher)
    client.post(url("action_undo", school, pupil.pk, logged.pk), HTTP_HX_REQUEST="true")
    assert ActionLog.objects.filter(pk=logged.pk).exists() and logged.corrections.count() == 1
    assert f"/actions/{logged.pk}/undo/" not in client.get(url("pupil", school, pupil.pk)).content.decode()


def test_a_conversation_corrected_only_in_its_words_still_does_the_task(client, school, pupil, class_teacher):
    client.force_login(class_teacher)
    client.post(url("quick_log", school, pupil.pk), HTTP_HX_REQUEST="true")
    logged = ActionLog.objects.get(pupil=pupil)
    services.action_correct(
        action=logged,
        user=class_teacher,
        reason="Added what he said",
        occurred_on=logged.occurred_on,
        outcome="Worried about maths",
        notes="",
    )
    logged.refresh_from_db()
    assert logged.task.template_key == "talk" and status("talk") == "done"


def test_backdating_a_conversation_to_before_the_task_was_given_opens_the_task_again(pupil, class_teacher):
    today = timezone.localdate()
    logged = services.action_log(
        pupil=pupil,
        user=class_teacher,
        kind="pupil_conversation",
        occurred_on=today,
        closes=Task.objects.get(template_key="talk"),
    )
    assert status("talk") == "done"
    given = Task.objects.get(template_key="talk").created_at
    corrected = services.action_correct(
        action=logged,
        user=class_teacher,
        reason="It was the week before",
        occurred_on=timezone.localdate(given) - timedelta(days=7),
        outcome="",
        notes="",
    )
    assert corrected.task_reopened.template_key == "talk" and status("talk") == "open"


def test_done_then_corrected_cannot_be_taken_back(client, school, pupil, class_teacher):
    task = Task.objects.get(template_key="plan")
    client.force_login(class_teacher)
    client.post(url("task_done", school, task.pk), {"outcome": "Plan written"})
    logged = ActionLog.objects.get(task=task)
    assert logged.by_done_button
    services.action_correct(
        action=logged,
        user=class_teacher,
        reason="Written with his mum",
        occurred_on=logged.occurred_on,
        outcome="Plan written with mum",
        notes="",
    )
    logged.refresh_from_db()
    assert logged.task == task  # the Done button's record: still what did it

    response = client.post(url("task_reopen", school, task.pk), follow=True)
    assert "What Done put on the record has been corrected since" in response.content.decode()
    assert status("plan") == "done" and ActionLog.objects.filter(pk=logged.pk).exists()
