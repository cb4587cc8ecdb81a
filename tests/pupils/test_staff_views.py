"""The Staff page: the lead gives roles (making logins), and takes them away, without the system's administrator."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from interventions.models import Task
from pupils.models import AuditEvent, StaffMembership
from tests.factories import MembershipFactory, PupilFactory, RegistrationGroupFactory, UserFactory

pytestmark = pytest.mark.django_db

Role = StaffMembership.Role


@pytest.fixture
def lead(client, school, attendance_lead):
    RegistrationGroupFactory(school=school, name="4B")
    RegistrationGroupFactory(school=school, name="5C")
    client.force_login(attendance_lead)
    return client


def staff_url(school):
    return reverse("pupils:staff", args=[school.urn])


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_a_new_class_teacher_gets_a_login_whose_password_is_shown_once_and_works(lead, school, attendance_lead):
    response = lead.post(
        staff_url(school),
        {"name": "Priya Shah", "username": "priya.shah", "email": "", "role": "class_teacher", "classes": ["4B"]},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "<strong>Priya Shah</strong> (priya.shah) is now a class teacher here, for 4B." in body
    password = re.search(r'<code class="fs-5 user-select-all" id="new-password">([^<]+)</code>', body).group(1)
    membership = StaffMembership.objects.get(user__username="priya.shah", school=school)
    assert membership.role == Role.CLASS_TEACHER and [g.name for g in membership.classes.all()] == ["4B"]
    assert AuditEvent.objects.filter(user=attendance_lead, what="gave priya.shah the role class teacher").exists()
    priya = Client()
    assert priya.login(username="priya.shah", password=password)
    assert priya.get(reverse("interventions:classes", args=[school.urn])).status_code == 200
    again = lead.get(staff_url(school)).content.decode()
    assert password not in again and "Priya Shah" in again  # listed, and the password never shown again


def test_someone_who_already_signs_in_keeps_their_password(lead, school, other_school):
    elsewhere = MembershipFactory(user=UserFactory(username="sam.jones"), school=other_school, role=Role.DSL).user
    body = lead.post(staff_url(school), {"username": "sam.jones", "role": "senior_leader"}).content.decode()
    assert "is now a senior leader here" in body and "they use the password they have" in body
    assert 'id="new-password"' not in body
    assert elsewhere.check_password("correct horse battery staple")
    assert set(elsewhere.memberships.values_list("school__urn", "role")) == {
        (other_school.urn, Role.DSL),
        (school.urn, Role.SENIOR_LEADER),
    }


@pytest.mark.parametrize(
    ("posted", "field", "words"),
    [
        ({"username": "new.teacher", "role": "class_teacher"}, "classes", "name at least one"),
        ({"username": "new.lead", "role": "attendance_lead", "classes": ["4B"]}, "classes", "sees the whole school"),
        ({"username": "officer", "role": "la_officer"}, "role", "Select a valid choice"),
        ({"username": "", "role": "office"}, "username", "This field is required"),
        ({"username": "no.role"}, "role", "This field is required"),  # no role is given unless chosen
    ],
)
def test_a_role_that_cannot_be_given_is_refused_beside_its_field_and_nothing_is_made(
    lead, school, posted, field, words
):
    users = get_user_model().objects.count()
    response = lead.post(staff_url(school), {"name": "", "email": "", **posted})
    assert response.status_code == 422
    assert any(words in error for error in response.context["form"].errors[field])
    assert get_user_model().objects.count() == users
    assert not AuditEvent.objects.filter(what__startswith="gave").exists()


def test_a_username_someone_else_has_is_refused_naming_whose_it_is(lead, school):
    UserFactory(username="j.smith", first_name="John", last_name="Smith")
    response = lead.post(staff_url(school), {"name": "Jane Smith", "username": "j.smith", "role": "office"})
    assert response.status_code == 422
    assert "j.smith is already the login of John Smith" in response.context["form"].errors["username"][0]
    assert not StaffMembership.objects.filter(user__username="j.smith").exists()


def test_taking_a_role_away_hands_their_open_tasks_back_and_shuts_the_school_to_them(lead, school):
    group = school.registration_groups.get(name="4B")
    teacher = MembershipFactory(user=UserFactory(username="leaving"), school=school, role=Role.CLASS_TEACHER)
    teacher.classes.add(group)
    pupil = PupilFactory(school=school, registration_group=group)
    today = timezone.localdate()
    task = Task.objects.create(
        school=school, pupil=pupil, title="Phone home", role=Role.CLASS_TEACHER, assigned_to=teacher.user, due_on=today
    )
    response = lead.post(reverse("pupils:staff_remove", args=[school.urn, teacher.pk]))
    assert said(response) == [
        "leaving is no longer a class teacher here. Their 1 open task went back to the class teachers' shared list."
    ]
    assert not StaffMembership.objects.filter(pk=teacher.pk).exists()
    task.refresh_from_db()
    assert task.assigned_to is None and task.status == Task.Status.OPEN
    assert AuditEvent.objects.filter(what="took away leaving's role class teacher").exists()
    gone = Client()
    gone.force_login(teacher.user)
    assert gone.get(reverse("interventions:classes", args=[school.urn])).status_code == 404


def test_the_schools_only_attendance_lead_cannot_be_taken_away(lead, school, attendance_lead):
    only = StaffMembership.objects.get(user=attendance_lead, school=school)
    response = lead.post(reverse("pupils:staff_remove", args=[school.urn, only.pk]))
    assert said(response) == [
        f"{attendance_lead.username} is the only attendance lead at {school.name}: give someone else that role first"
    ]
    assert StaffMembership.objects.filter(pk=only.pk).exists()
