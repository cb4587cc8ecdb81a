"""The Staff page: the lead gives roles (making logins), and takes them away, without the system's administrator."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from interventions.models import Task
from pupils.models import AuditEvent, StaffMembership, YearGroup
from pupils.services import staff_remove
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
    assert AuditEvent.objects.filter(
        user=attendance_lead, what="gave priya.shah the role class teacher for 4B"
    ).exists()
    priya = Client()
    assert priya.login(username="priya.shah", password=password)
    assert priya.get(reverse("interventions:classes", args=[school.urn])).status_code == 200
    again = lead.get(staff_url(school)).content.decode()
    assert password not in again and "Priya Shah" in again  # listed, and the password never shown again


def test_a_colleague_given_a_further_role_keeps_their_password(lead, school):
    colleague = MembershipFactory(user=UserFactory(username="sam.jones"), school=school, role=Role.DSL).user
    body = lead.post(staff_url(school), {"username": "sam.jones", "role": "senior_leader"}).content.decode()
    assert "is now a senior leader here" in body and "they use the password they have" in body
    assert 'id="new-password"' not in body
    assert colleague.check_password("correct horse battery staple")
    assert set(colleague.memberships.values_list("role", flat=True)) == {Role.DSL, Role.SENIOR_LEADER}


@pytest.mark.parametrize(
    ("posted", "field", "words"),
    [
        ({"username": "new.teacher", "name": "Ann New", "role": "class_teacher"}, "classes", "name at least one"),
        (
            {"username": "new.lead", "name": "Lee New", "role": "attendance_lead", "classes": ["4B"]},
            "classes",
            "sees the whole school",
        ),
        ({"username": "officer", "role": "la_officer"}, "role", "Select a valid choice"),
        ({"username": "", "role": "office"}, "username", "This field is required"),
        ({"username": "no.role"}, "role", "This field is required"),  # no role is given unless chosen
    ],
)
def test_a_role_that_cannot_be_given_is_refused_beside_its_field_and_nothing_is_made(
    lead, school, posted, field, words
):
    users = get_user_model().objects.count()
    response = lead.post(staff_url(school), {"email": "", **posted})
    assert response.status_code == 422
    assert any(words in error for error in response.context["form"].errors[field])
    assert get_user_model().objects.count() == users
    assert not AuditEvent.objects.filter(what__startswith="gave").exists()


def test_a_colleagues_username_typed_for_someone_new_is_refused_not_given_to_the_colleague(lead, school):
    MembershipFactory(
        user=UserFactory(username="j.smith", first_name="John", last_name="Smith"), school=school, role=Role.OFFICE
    )
    response = lead.post(staff_url(school), {"name": "Jane Smith", "username": "J.Smith", "role": "senior_leader"})
    assert response.status_code == 422
    assert response.context["form"].errors["username"] == [
        "j.smith is John Smith's login here: choose another username for someone new, or leave the name empty "
        "to give John Smith this role."
    ]
    assert list(StaffMembership.objects.filter(user__username="j.smith").values_list("role", flat=True)) == [
        Role.OFFICE
    ]


def test_taking_a_role_away_hands_their_open_tasks_back_and_shuts_the_school_to_them(lead, school):
    group = school.registration_groups.get(name="4B")
    teacher = MembershipFactory(user=UserFactory(username="leaving"), school=school, role=Role.CLASS_TEACHER)
    teacher.classes.add(group)
    pupil = PupilFactory(school=school, registration_group=group)
    today = timezone.localdate()
    task = Task.objects.create(
        school=school, pupil=pupil, title="Phone home", role=Role.CLASS_TEACHER, assigned_to=teacher.user, due_on=today
    )
    # A next step given to them by name, with no role: theirs too, as this was their only role here.
    next_step = Task.objects.create(
        school=school, pupil=pupil, title="Ring back", assigned_to=teacher.user, due_on=today
    )
    response = lead.post(reverse("pupils:staff_remove", args=[school.urn, teacher.pk]))
    assert said(response) == [
        "leaving is no longer a class teacher here. Their 2 open tasks went back to the role's shared list."
    ]
    assert not StaffMembership.objects.filter(pk=teacher.pk).exists()
    for handed_back in (task, next_step):
        handed_back.refresh_from_db()
        assert handed_back.assigned_to is None and handed_back.status == Task.Status.OPEN
    assert AuditEvent.objects.filter(what="took away leaving's role class teacher").exists()
    gone = Client()
    gone.force_login(teacher.user)
    assert gone.get(reverse("interventions:classes", args=[school.urn])).status_code == 404


def test_the_schools_only_attendance_lead_is_never_left_without_one(school, attendance_lead):

    only = StaffMembership.objects.get(user=attendance_lead, school=school)
    with pytest.raises(ValidationError, match=f"{attendance_lead.username} is the only attendance lead at"):
        staff_remove(membership=only)
    assert StaffMembership.objects.filter(pk=only.pk).exists()
    second = MembershipFactory(school=school, role=Role.ATTENDANCE_LEAD)
    staff_remove(membership=only)
    with pytest.raises(ValidationError, match="is the only attendance lead"):
        staff_remove(membership=second)


def test_a_senior_leader_gives_only_roles_whose_rights_they_hold(client, school):
    RegistrationGroupFactory(school=school, name="4B")
    slt = MembershipFactory(user=UserFactory(username="head"), school=school, role=Role.SENIOR_LEADER).user
    lead = MembershipFactory(user=UserFactory(username="the.lead"), school=school, role=Role.ATTENDANCE_LEAD)
    client.force_login(slt)
    page = client.get(staff_url(school))
    assert [value for value, _ in page.context["form"].fields["role"].choices] == [
        "",
        Role.CLASS_TEACHER,
        Role.SENIOR_LEADER,
    ]
    for role in (Role.ATTENDANCE_LEAD, Role.DSL, Role.OFFICE, Role.LA_OFFICER):
        response = client.post(staff_url(school), {"username": "head", "role": role})
        assert response.status_code == 422 and "Select a valid choice" in response.context["form"].errors["role"][0]
    assert list(StaffMembership.objects.filter(user=slt).values_list("role", flat=True)) == [Role.SENIOR_LEADER]
    # Nor take the lead's role away; there is no button for it either.
    assert client.post(reverse("pupils:staff_remove", args=[school.urn, lead.pk])).status_code == 404
    assert f'action="{reverse("pupils:staff_remove", args=[school.urn, lead.pk])}"' not in page.content.decode()
    assert StaffMembership.objects.filter(pk=lead.pk).exists()


def test_nobody_changes_their_own_roles_here(lead, school, attendance_lead):
    response = lead.post(staff_url(school), {"username": attendance_lead.username, "role": "senior_leader"})
    assert response.status_code == 422
    assert "Your own roles are changed by another" in response.context["form"].errors["username"][0]
    own = StaffMembership.objects.get(user=attendance_lead, school=school)
    assert lead.post(reverse("pupils:staff_remove", args=[school.urn, own.pk])).status_code == 404
    assert StaffMembership.objects.filter(user=attendance_lead).count() == 1


def test_someone_who_works_only_at_another_school_is_not_named_nor_given_a_role(lead, school, other_school):
    MembershipFactory(
        user=UserFactory(username="b.head", first_name="Bella", last_name="Head", email="bella@birchwood.example"),
        school=other_school,
        role=Role.DSL,
    )
    for name in ("", "Someone Else"):
        response = lead.post(staff_url(school), {"name": name, "username": "b.head", "role": "class_teacher"})
        assert response.status_code == 422
        body = response.content.decode()
        assert "That username is taken: choose another." in body
        assert "Bella" not in body and "birchwood" not in body and other_school.name not in body
    assert not StaffMembership.objects.filter(user__username="b.head", school=school).exists()


def test_a_trust_or_la_officers_access_is_not_the_schools_to_take_away(lead, school):
    officer = MembershipFactory(user=UserFactory(username="la.officer"), school=school, role=Role.LA_OFFICER)
    page = lead.get(staff_url(school)).content.decode()
    assert "la.officer" in page
    assert reverse("pupils:staff_remove", args=[school.urn, officer.pk]) not in page
    assert lead.post(reverse("pupils:staff_remove", args=[school.urn, officer.pk])).status_code == 404
    assert StaffMembership.objects.filter(pk=officer.pk).exists()


def test_a_second_click_on_take_away_says_it_is_done_already(lead, school):
    teacher = MembershipFactory(user=UserFactory(username="twice"), school=school, role=Role.SENIOR_LEADER)

    stale = StaffMembership.objects.get(pk=teacher.pk)
    staff_remove(membership=teacher)

    with pytest.raises(ValidationError, match="That role has been taken away already."):
        staff_remove(membership=stale)


def test_a_role_taken_away_by_mistake_can_be_given_back(lead, school):
    mistaken = MembershipFactory(user=UserFactory(username="dan.b"), school=school, role=Role.SENIOR_LEADER)
    lead.post(reverse("pupils:staff_remove", args=[school.urn, mistaken.pk]))
    assert not StaffMembership.objects.filter(user__username="dan.b").exists()
    body = lead.post(staff_url(school), {"username": "dan.b", "role": "senior_leader"}).content.decode()
    assert "is now a senior leader here" in body and 'id="new-password"' not in body
    assert StaffMembership.objects.filter(user__username="dan.b", school=school, role=Role.SENIOR_LEADER).exists()


def test_a_username_nobody_has_with_no_name_is_taken_for_a_mistyped_colleagues(lead, school):
    users = get_user_model().objects.count()
    response = lead.post(staff_url(school), {"name": "  ", "username": "nosuchperson", "role": "office"})
    assert response.status_code == 422
    assert response.context["form"].errors["name"] == [
        "Nobody signs in as nosuchperson yet, so this makes a new login: give their name. "
        "For a colleague who already signs in here, check their username."
    ]
    assert get_user_model().objects.count() == users


def test_a_class_teacher_given_another_class_keeps_the_one_they_had(lead, school):
    tom = MembershipFactory(user=UserFactory(username="tom"), school=school, role=Role.CLASS_TEACHER)
    tom.classes.add(school.registration_groups.get(name="4B"))
    body = lead.post(staff_url(school), {"username": "tom", "role": "class_teacher", "classes": ["5C"]})
    assert "is now a class teacher here, for 4B, 5C." in body.content.decode()
    assert sorted(g.name for g in tom.classes.all()) == ["4B", "5C"]


def test_a_login_not_yet_used_gets_a_new_password_if_the_first_was_missed(lead, school, attendance_lead):
    body = lead.post(
        staff_url(school), {"name": "Priya Shah", "username": "priya.shah", "role": "office"}
    ).content.decode()
    first = re.search(r'id="new-password">([^<]+)<', body).group(1)
    membership = StaffMembership.objects.get(user__username="priya.shah")
    renew = reverse("pupils:staff_password", args=[school.urn, membership.pk])
    assert f'action="{renew}"' in lead.get(staff_url(school)).content.decode()
    body = lead.post(renew).content.decode()
    second = re.search(r'id="new-password">([^<]+)<', body).group(1)
    assert "A new password for <strong>Priya Shah</strong> (priya.shah)" in body and second != first
    assert not Client().login(username="priya.shah", password=first)
    assert AuditEvent.objects.filter(user=attendance_lead, what="made a new password for priya.shah, not yet used")
    priya = Client()
    assert priya.login(username="priya.shah", password=second)
    priya.get(reverse("pupils:office", args=[school.urn]))  # signs in: the password is hers from now on
    membership.user.refresh_from_db()
    assert membership.user.last_login is not None  # set by signing in
    assert f'action="{renew}"' not in lead.get(staff_url(school)).content.decode()
    response = lead.post(renew)
    assert said(response) == [
        "Priya Shah has signed in already, so the password is theirs: they change it under their name in the menu, "
        "or reset a forgotten one by e-mail"
    ]
    assert Client().login(username="priya.shah", password=second)


def test_a_login_used_at_another_school_too_is_not_given_a_password_here(lead, school, other_school):
    both = UserFactory(username="shared", last_login=None)
    MembershipFactory(user=both, school=other_school, role=Role.OFFICE)
    here = MembershipFactory(user=both, school=school, role=Role.OFFICE)
    response = lead.post(reverse("pupils:staff_password", args=[school.urn, here.pk]))
    assert said(response) == ["shared's login is used at another school too: whoever runs the system resets it"]
    assert Client().login(username="shared", password="correct horse battery staple")


def test_classes_are_offered_youngest_first(lead, school):

    reception = YearGroup.objects.get(school=school, code="R")
    RegistrationGroupFactory(school=school, name="RB", year_group=reception)
    RegistrationGroupFactory(school=school, name="RA", year_group=reception)
    choices = [value for value, _ in lead.get(staff_url(school)).context["form"].fields["classes"].choices]
    assert choices[:2] == ["RA", "RB"] and choices.index("RB") < choices.index("4B")
