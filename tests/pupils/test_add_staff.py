"""add_staff: a login with a role at one school, as IT staff script it."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from pupils.models import StaffMembership
from tests.factories import PupilFactory, RegistrationGroupFactory
from tests.pupils.importing import run, run_rejected


@pytest.fixture
def classes(school):
    return [RegistrationGroupFactory(school=school, name=name) for name in ("7A", "7B", "8A")]


def test_a_new_class_teacher_gets_a_login_that_sees_only_their_classes(school, classes):
    mine = PupilFactory(school=school, surname="Mine", registration_group=classes[0])
    theirs = PupilFactory(school=school, surname="Theirs", registration_group=classes[2])

    out = run(
        "add_staff", "--school", school.urn, "--username", "rpatel", "--role", "class_teacher",
        "--classes", "7A, 7B", "--name", "Rita Patel", "--email", "r.patel@example.org",
    )  # fmt: skip

    assert f"rpatel is now class teacher at {school.name} (URN {school.urn}), for 7A, 7B." in out
    password = re.search(r"Password: (\S+) \(shown once", out).group(1)
    user = get_user_model().objects.get(username="rpatel")
    assert (user.get_full_name(), user.email, user.is_staff) == ("Rita Patel", "r.patel@example.org", False)
    client = Client()
    assert client.login(username="rpatel", password=password)
    assert client.get(reverse("interventions:pupil", args=[school.urn, mine.pk])).status_code == 200
    assert client.get(reverse("interventions:pupil", args=[school.urn, theirs.pk])).status_code == 404


def test_an_existing_login_gains_a_role_and_keeps_its_password(school, other_school, classes, attendance_lead):
    attendance_lead.first_name, attendance_lead.last_name = "Alice", "Hart"
    attendance_lead.save()
    out = run("add_staff", "--school", other_school.urn, "--username", "Alice", "--role", "senior_leader")
    assert f"alice is now senior leader at {other_school.name}" in out
    assert "Password" not in out
    assert (
        f"An existing login (Alice Hart, {attendance_lead.email}): its password is unchanged. "
        f"Its other roles: attendance lead at {school.name}."
    ) in out
    attendance_lead.refresh_from_db()
    assert attendance_lead.check_password("correct horse battery staple")
    roles = set(StaffMembership.objects.filter(user=attendance_lead).values_list("school__urn", "role"))
    assert roles == {(school.urn, "attendance_lead"), (other_school.urn, "senior_leader")}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--role", "teacher"], "--role: 'teacher' is not a role (one of attendance_lead, class_teacher, "),
        (["--role", "class_teacher"], "--classes: a class teacher sees only their own classes: name at least one"),
        (["--role", "class_teacher", "--classes", "7A,9Z"], "--classes: not a class at "),
        (["--role", "office", "--username", "r patel!"], "--username: Enter a valid username."),
        (["--role", "office", "--email", "r.patel at school"], "--email: Enter a valid email address."),
    ],
)
def test_bad_details_are_refused_naming_the_option_and_nothing_is_created(school, classes, args, expected):
    given = dict(zip(args[::2], args[1::2], strict=True))
    given.setdefault("--username", "rpatel")
    before = (get_user_model().objects.count(), StaffMembership.objects.count())
    message = run_rejected("add_staff", "--school", school.urn, *(v for pair in given.items() for v in pair))
    assert message.startswith(expected), message
    assert (get_user_model().objects.count(), StaffMembership.objects.count()) == before


def test_a_class_from_another_school_is_not_one_of_this_schools(school, other_school, classes):
    RegistrationGroupFactory(school=other_school, name="9Z")
    message = run_rejected(
        "add_staff", "--school", school.urn, "--username", "rpatel", "--role", "class_teacher", "--classes", "9Z"
    )
    assert message == f"--classes: not a class at {school.name}: 9Z (its classes: 7A, 7B, 8A)"


def test_giving_a_role_held_already_changes_nothing_so_a_script_can_run_again(school, classes, attendance_lead):
    out = run("add_staff", "--school", school.urn, "--username", "alice", "--role", "attendance_lead")
    assert out == f"alice is already attendance lead at {school.name} (URN {school.urn}). Nothing changed.\n"
    args = ("add_staff", "--school", school.urn, "--username", "rpatel", "--role", "class_teacher")
    run(*args, "--classes", "7A")
    assert "Nothing changed." in run(*args, "--classes", "7A")
    moved = run(*args, "--classes", "7B,8A")
    assert f"rpatel is now class teacher at {school.name} (URN {school.urn}), for 7B, 8A." in moved
    assert "Their classes were 7A; now 7B, 8A." in moved
    membership = StaffMembership.objects.get(user__username="rpatel")
    assert sorted(membership.classes.values_list("name", flat=True)) == ["7B", "8A"]
    assert StaffMembership.objects.filter(user__username="rpatel").count() == 1


def test_classes_are_refused_for_a_role_that_sees_the_whole_school(school, classes):
    message = run_rejected(
        "add_staff", "--school", school.urn, "--username", "z1", "--role", "la_officer", "--classes", "7A"
    )
    assert message == (
        "--classes: only a class teacher is limited to classes: a trust / LA officer sees the whole school"
    )
    assert not StaffMembership.objects.exists()


def test_a_username_taken_by_someone_else_is_refused(school, other_school, attendance_lead):
    message = run_rejected(
        "add_staff", "--school", other_school.urn, "--username", "alice", "--role", "office", "--name", "Alice Jones"
    )
    assert message == (
        f"--username: alice is already the login of {attendance_lead.email} "
        f"(attendance lead at {school.name}): give another username for someone else, or leave out the name "
        "and e-mail to give this person the role"
    )
    assert not StaffMembership.objects.filter(school=other_school).exists()


def test_the_service_says_what_it_added(school, classes):
    from pupils.services import StaffAdded, staff_add

    added = staff_add(school=school, username="rpatel", role="office", password="a long new password")
    assert isinstance(added, StaffAdded)
    assert (added.membership.role, added.password) == ("office", "a long new password")


def test_one_login_cannot_be_class_teacher_and_la_officer_at_one_school(school, classes):
    run("add_staff", "--school", school.urn, "--username", "z1", "--role", "la_officer")
    message = run_rejected(
        "add_staff", "--school", school.urn, "--username", "z1", "--role", "class_teacher", "--classes", "7A"
    )
    assert message == (
        f"--role: z1 is a trust / LA officer at {school.name}, and one login cannot be both there: their class "
        "teacher's right to log actions would reach every class"
    )
    assert list(StaffMembership.objects.values_list("role", flat=True)) == ["la_officer"]


def test_read_only_follows_the_permissions_that_change_anything(school, staff_roles):
    from pupils.access import CHANGES, PERMISSIONS, school_access

    assert {p for p in PERMISSIONS if not p.startswith("view_")} == CHANGES
    assert [school_access(user, school.urn).read_only for user in staff_roles] == [
        role == "la_officer" for role in StaffMembership.Role.values
    ]


@pytest.fixture
def staff_roles(school):
    """One login for each role at the school, in the order of StaffMembership.Role."""
    from tests.factories import MembershipFactory, UserFactory

    group = RegistrationGroupFactory(school=school, name="9A")
    users = []
    for role in StaffMembership.Role.values:
        membership = MembershipFactory(user=UserFactory(username=f"u-{role}"), school=school, role=role)
        if role == "class_teacher":
            membership.classes.add(group)
        users.append(membership.user)
    return users
