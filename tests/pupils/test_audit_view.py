from __future__ import annotations

import pytest
from django.urls import reverse

from pupils.models import StaffMembership
from pupils.services import audit_record
from tests.factories import MembershipFactory, PupilFactory, UserFactory


@pytest.fixture
def events(school, attendance_lead, other_school):
    pupil = PupilFactory(school=school)
    audit_record(school=school, user=attendance_lead, verb="view", what=f"pupil record {pupil.upn}", pupil=pupil)
    audit_record(school=other_school, user=None, verb="change", what="something at Birchwood")
    return pupil


def test_lead_reads_their_schools_trail_only(client, school, events, attendance_lead):
    client.force_login(attendance_lead)
    body = client.get(reverse("pupils:audit", args=[school.urn])).content.decode()
    assert f"pupil record {events.upn}" in body
    assert "something at Birchwood" not in body


def test_filter_by_pupil(client, school, events, attendance_lead):
    client.force_login(attendance_lead)
    response = client.get(reverse("pupils:audit", args=[school.urn]), {"upn": "A000000000000"})
    assert list(response.context["page"]) == []


@pytest.mark.parametrize("role", ["class_teacher", "office", "senior_leader", "la_officer"])
def test_other_roles_cannot_read_the_trail(client, school, events, role):
    user = MembershipFactory(user=UserFactory(username=f"u-{role}"), school=school, role=role).user
    client.force_login(user)
    assert client.get(reverse("pupils:audit", args=[school.urn])).status_code == 404


def test_dsl_can_read_the_trail(client, school, events):
    dsl = MembershipFactory(user=UserFactory(username="dee"), school=school, role=StaffMembership.Role.DSL).user
    client.force_login(dsl)
    assert client.get(reverse("pupils:audit", args=[school.urn])).status_code == 200


def test_outsider_gets_404(client, school, events, outsider):
    client.force_login(outsider)
    assert client.get(reverse("pupils:audit", args=[school.urn])).status_code == 404
