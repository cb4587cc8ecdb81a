"""The DSL reads the audit trail; the trust/LA officer reads across schools and changes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from interventions import nightly, services
from pupils.models import StaffMembership
from tests.factories import MembershipFactory, PupilFactory, UserFactory
from tests.interventions.conftest import SIMPLE_LADDER, fill_register

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def two_schools(school, other_school):
    today = timezone.localdate()
    pupils = {}
    for s, surname in [(school, "Oakley"), (other_school, "Birch")]:
        services.ladder_load(school=s, document=SIMPLE_LADDER, activate=True)
        pupil = PupilFactory(school=s, surname=surname, forename="Jo")
        fill_register(pupil, today - timedelta(days=40), today - timedelta(days=1), lambda d, x: "N" if x else "/")
        nightly.nightly_run(school=s, as_of=today - timedelta(days=1))
        pupils[s.urn] = pupil
    return pupils


def test_dsl_sees_who_opened_a_pupils_record(sign_in, live_server, school, two_schools):
    MembershipFactory(user=UserFactory(username="dana"), school=school, role=StaffMembership.Role.DSL)
    page = sign_in("dana")
    page.get_by_role("link", name="Oakley, Jo").click()
    page.get_by_role("heading", name="Jo Oakley").wait_for()
    page.get_by_role("link", name="Audit").click()
    page.get_by_role("heading", name="Audit trail").wait_for()
    row = page.get_by_role("row").filter(has_text=f"pupil record {two_schools[school.urn].upn}")
    assert row.first.get_by_text("dana").is_visible()


def test_la_officer_reads_both_schools_and_cannot_change_anything(
    sign_in, live_server, school, other_school, two_schools
):
    officer = UserFactory(username="lena")
    for s in (school, other_school):
        MembershipFactory(user=officer, school=s, role=StaffMembership.Role.LA_OFFICER)
    page = sign_in("lena")
    page.get_by_role("link", name=other_school.name).click()
    page.get_by_role("link", name="Birch, Jo").click()
    page.get_by_role("heading", name="Jo Birch").wait_for()
    assert page.get_by_role("button", name="Log action").count() == 0
    page.goto(f"{live_server.url}/school/{school.urn}/dashboard/")
    assert page.get_by_role("link", name="Oakley, Jo").is_visible()
    assert page.get_by_role("button", name="Approve").count() == 0
    response = page.goto(f"{live_server.url}/school/{school.urn}/office/")
    assert response.status == 404


def test_la_officer_compares_schools_and_puts_the_lowest_attendance_first(sign_in, live_server, school, other_school):
    """Oakfield's pupil is away every afternoon; the other school's every day is full. Ordered by attendance,
    Oakfield comes first, though it is second by name."""
    today = timezone.localdate()
    for s, code in [(school, "N"), (other_school, "/")]:
        services.ladder_load(school=s, document=SIMPLE_LADDER, activate=True)
        pupil = PupilFactory(school=s, surname="Ward", forename="Ali")
        fill_register(
            pupil, today - timedelta(days=40), today - timedelta(days=1), lambda d, x, code=code: code if x else "/"
        )
        nightly.nightly_run(school=s, as_of=today - timedelta(days=1))
    officer = UserFactory(username="lena")
    for s in (school, other_school):
        MembershipFactory(user=officer, school=s, role=StaffMembership.Role.LA_OFFICER)
    page = sign_in("lena")
    table = page.get_by_role("table", name="Your schools, by name")
    names = table.locator("tbody th").all_inner_texts()
    assert [n.split(" URN")[0] for n in names] == sorted([school.name, other_school.name])
    table.get_by_role("link", name="Attendance").click()
    table = page.get_by_role("table", name="Your schools, lowest attendance first")
    first = table.locator("tbody tr").first
    assert school.name in first.inner_text() and "50.0%" in first.inner_text()
    assert first.get_by_text("(below national)").count() == 1
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("School URN,School,Week of") and lines[1].startswith(f"{school.urn},{school.name},")
