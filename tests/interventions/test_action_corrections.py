"""Correcting a logged action: the entry changes, and what it said before stays on the record beside it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from interventions import services
from interventions.models import ActionCorrection, ActionLog
from interventions.selectors import ladder_spec, school_facts
from interventions.services import active_ladder
from pupils.models import AuditEvent, RegistrationGroup
from tests.factories import PupilFactory
from tests.interventions.conftest import SIMPLE_LADDER

pytestmark = pytest.mark.django_db


@pytest.fixture
def pupil(school, class_teacher):
    """In the teacher's class 4B."""
    return PupilFactory(
        school=school, registration_group=RegistrationGroup.objects.get(school=school, name="4B"), forename="Sam"
    )


@pytest.fixture
def call(pupil, class_teacher):
    """The teacher's phone call home three days ago."""
    return services.action_log(
        pupil=pupil,
        user=class_teacher,
        kind=ActionLog.Kind.PHONE_CALL,
        title="Phone call",
        occurred_on=timezone.localdate() - timedelta(days=3),
        outcome="Mum says he has a cold",
    )


def url(school, pupil, action):
    return reverse("interventions:action_correct", args=[school.urn, pupil.pk, action.pk])


def pupil_page(client, school, pupil) -> str:
    return client.get(reverse("interventions:pupil", args=[school.urn, pupil.pk])).content.decode()


def test_a_teacher_corrects_their_own_call_and_the_page_shows_both_versions(client, school, pupil, class_teacher, call):
    today = timezone.localdate()
    client.force_login(class_teacher)
    assert url(school, pupil, call) in pupil_page(client, school, pupil)  # offered on the pupil's page

    response = client.post(
        url(school, pupil, call),
        {
            "kind": "meeting",
            "occurred_on": today - timedelta(days=2),
            "outcome": "Mum says he has a cold; back Monday",
            "notes": "",
            "reason": "It was a meeting at the gate, the day after",
        },
    )
    assert response.status_code == 302 and response.url.endswith(f"#action-{call.pk}")

    call.refresh_from_db()
    assert (call.kind, call.title, call.occurred_on, call.outcome) == (
        "meeting",
        "Meeting",  # the title was the kind's own name: it follows the kind
        today - timedelta(days=2),
        "Mum says he has a cold; back Monday",
    )
    (before,) = call.corrections.all()
    assert (before.kind, before.title, before.occurred_on, before.outcome, before.by) == (
        "phone_call",
        "Phone call",
        today - timedelta(days=3),
        "Mum says he has a cold",
        class_teacher,
    )
    page = pupil_page(client, school, pupil)
    assert "Corrected. What the entry said before is kept beside it, with your reason." in page
    assert "It was a meeting at the gate, the day after" in page
    assert f"<strong>{today - timedelta(days=3):%-d %b %Y}</strong> Phone call. Outcome: Mum says he has a cold" in page
    named = f"“Phone call”, {today - timedelta(days=3):%-d %b %Y}"
    assert AuditEvent.objects.filter(what=f"corrected {named} logged for {pupil.upn}", user=class_teacher).exists()


def test_each_correction_keeps_the_version_before_it(pupil, class_teacher, attendance_lead, call):
    services.action_correct(
        action=call, user=class_teacher, reason="typo", occurred_on=call.occurred_on, outcome="Mum: a cold", notes=""
    )
    services.action_correct(
        action=call,
        user=attendance_lead,
        reason="notes",
        occurred_on=call.occurred_on,
        outcome="Mum: a cold",
        notes="x",
    )
    assert [(c.outcome, c.notes, c.by) for c in call.corrections.all()] == [
        ("Mum says he has a cold", "", class_teacher),
        ("Mum: a cold", "", attendance_lead),
    ]
    call.refresh_from_db()
    assert (call.outcome, call.notes) == ("Mum: a cold", "x")


def test_the_lead_may_correct_a_teachers_entry_and_a_teacher_may_not_correct_the_leads(
    client, school, pupil, call, attendance_lead, class_teacher
):
    other = services.action_log(
        pupil=pupil, user=attendance_lead, kind="meeting", title="Meeting", occurred_on=timezone.localdate()
    )
    client.force_login(attendance_lead)
    assert client.get(url(school, pupil, call)).status_code == 200
    client.force_login(class_teacher)
    assert client.get(url(school, pupil, other)).status_code == 404
    assert url(school, pupil, other) not in pupil_page(client, school, pupil)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"reason": ""}, "reason", "Say why it is corrected: the reason is kept on the record."),
        ({"occurred_on": "2999-01-01"}, "occurred_on", "An action cannot be logged for a date in the future."),
        ({"occurred_on": "2020-01-01"}, "occurred_on", "is before the pupil joined the school"),
        ({"kind": "other", "outcome": ""}, "notes", "an action logged as “Other” needs an outcome or notes"),
        ({"kind": "stage_action"}, "kind", "Select a valid choice."),
        ({}, None, "Nothing was changed: change the date, what happened or the words, then save."),
    ],
)
def test_a_bad_correction_is_refused_in_place_and_changes_nothing(
    client, school, pupil, class_teacher, call, change, field, message
):
    client.force_login(class_teacher)
    data = {"kind": call.kind, "occurred_on": call.occurred_on, "outcome": call.outcome, "notes": "", "reason": "why"}
    response = client.post(url(school, pupil, call), {**data, **change})
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert any(message in e for e in errors.get(field or "__all__", [])), errors
    assert escape(message) in response.content.decode()  # said on the page, beside the field or above the form
    assert not ActionCorrection.objects.exists()
    assert ActionLog.objects.get(pk=call.pk).outcome == "Mum says he has a cold"


def test_a_letter_keeps_its_kind(pupil, attendance_lead):
    letter = services.action_log(
        pupil=pupil, user=attendance_lead, kind="letter", title="First reminder", occurred_on=timezone.localdate()
    )
    with pytest.raises(ValidationError) as refused:
        services.action_correct(
            action=letter,
            user=attendance_lead,
            reason="r",
            kind="meeting",
            occurred_on=letter.occurred_on,
            outcome="",
            notes="",
        )
    assert refused.value.message_dict == {"kind": ["A letter entry keeps its kind: correct its date or words."]}
    assert not ActionCorrection.objects.exists()
    assert ActionLog.objects.get(pk=letter.pk).kind == "letter"


def test_the_correction_form_offers_no_kind_for_a_letter(client, school, pupil, attendance_lead):
    letter = services.action_log(
        pupil=pupil, user=attendance_lead, kind="letter", title="First reminder", occurred_on=timezone.localdate()
    )
    client.force_login(attendance_lead)
    response = client.get(url(school, pupil, letter))
    assert "kind" not in response.context["form"].fields
    client.post(
        url(school, pupil, letter),
        {"occurred_on": letter.occurred_on - timedelta(days=1), "outcome": "", "notes": "", "reason": "posted Friday"},
    )
    letter.refresh_from_db()
    assert (letter.kind, letter.occurred_on) == ("letter", timezone.localdate() - timedelta(days=1))


def test_the_night_counts_family_contact_as_corrected(school, pupil, class_teacher, call):
    services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
    spec = ladder_spec(active_ladder(school))

    def last_contact():
        facts = school_facts(school=school, spec=spec, as_of=timezone.localdate())
        return facts.facts[pupil.pk].last_family_contact_on

    assert last_contact() == call.occurred_on
    services.action_correct(
        action=call,
        user=class_teacher,
        reason="It was Sam I spoke to, not his mum",
        kind="pupil_conversation",
        occurred_on=call.occurred_on,
        outcome=call.outcome,
        notes="",
    )
    assert last_contact() is None  # a conversation with the pupil is not contact with the family


def test_a_correction_made_meanwhile_is_shown_before_another_is_saved(client, school, pupil, class_teacher, call):
    client.force_login(class_teacher)
    opened = client.get(url(school, pupil, call)).context["form"].initial["seen"]
    services.action_correct(  # the attendance lead, a moment earlier
        action=call,
        user=None,
        reason="Was Tuesday",
        occurred_on=call.occurred_on - timedelta(days=1),
        outcome="Cold",
        notes="",
    )
    data = {"kind": "phone_call", "occurred_on": call.occurred_on, "outcome": "A cold", "notes": "", "reason": "typo"}
    response = client.post(url(school, pupil, call), {**data, "seen": opened}, follow=True)
    page = response.content.decode()
    assert "Someone corrected this entry while you had it open: here it is as it now reads." in page
    assert response.context["form"].initial["outcome"] == "Cold" and response.context["form"].initial["seen"] == 1
    call.refresh_from_db()
    assert (call.outcome, call.corrections.count()) == ("Cold", 1)  # the teacher's correction was not saved


def test_a_next_step_marked_done_may_have_its_date_corrected_without_notes(pupil, attendance_lead):
    today = timezone.localdate()
    done = services.action_log(
        pupil=pupil, user=attendance_lead, kind="other", title="Call mum back", occurred_on=today
    )
    services.action_correct(
        action=done,
        user=attendance_lead,
        reason="Rang her yesterday",
        occurred_on=today - timedelta(1),
        outcome="",
        notes="",
    )
    done.refresh_from_db()
    assert done.occurred_on == today - timedelta(days=1)
