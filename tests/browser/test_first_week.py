"""A school's first week: the lead signs in to an empty dashboard, chooses a ladder, and runs the first night."""

from __future__ import annotations

import pytest
from django.utils import timezone

from interventions.models import NightlyRun, Placement
from tests.factories import PupilFactory, RegistrationGroupFactory
from tests.interventions.conftest import fill_school_days

from .conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def imported(school):
    """What the office imported on day one: three pupils in 4B and five weeks of their registers."""
    group = RegistrationGroupFactory(school=school, name="4B")
    for surname, absent_every in (("Ashworth", 4), ("Bennett", 1000), ("Clarke", 1000)):
        pupil = PupilFactory(school=school, registration_group=group, surname=surname)
        counter = iter(range(1, 10_000))
        fill_school_days(
            pupil, 25, timezone.localdate(), lambda d, s, e=absent_every, c=counter: "O" if next(c) % e == 0 else "/"
        )


def test_the_lead_chooses_a_ladder_and_runs_the_first_night(live_server, sign_in, school, attendance_lead, imported):
    page = sign_in("alice")
    page.get_by_role("heading", name=f"{school.name}: getting started").wait_for()
    steps = page.locator("#start-steps")
    assert "3 pupils on roll" in steps.inner_text()
    screenshot(page, "first_week_start")

    steps.get_by_role("link", name="Ladder page").click()
    page.get_by_role("button", name="Copy the shipped DfE national framework").click()
    page.get_by_role("link", name="simulate it").click()  # the copy opens to be edited: try it first
    page.get_by_role("link", name="Activate…").click()
    page.get_by_role("button", name="Yes, make it the active ladder").click()
    page.get_by_text("is now the active ladder").wait_for()

    page.get_by_role("link", name="Dashboard", exact=True).first.click()
    page.get_by_role("status").filter(has_text="No night has run yet").wait_for()
    assert "No pupil is on the ladder yet" in page.locator("#pupil-list").inner_text()
    screenshot(page, "first_week_before_night")

    page.get_by_role("button", name="Run the night of").click()
    page.get_by_text("has run: the dashboard shows what it did").wait_for()
    assert "done, 3 pupils" in page.get_by_text("done, 3 pupils").inner_text()
    listed = page.locator("#pupil-list").inner_text()
    assert all(name in listed for name in ("Ashworth", "Bennett", "Clarke"))
    assert page.locator("#night-run").count() == 0
    assert NightlyRun.objects.get(school=school).status == NightlyRun.Status.DONE
    assert Placement.objects.filter(pupil__school=school).count() == 3
    screenshot(page, "first_week_after_night")


def test_the_lead_gives_a_teacher_a_login_and_the_teacher_signs_in_with_it(
    live_server, sign_in, school, attendance_lead
):
    RegistrationGroupFactory(school=school, name="4B")
    RegistrationGroupFactory(school=school, name="5C")
    page = sign_in("alice")
    page.get_by_role("link", name="Staff", exact=True).click()
    page.get_by_label("Their name").fill("Priya Shah")
    page.get_by_label("Username*").fill("priya.shah")
    page.get_by_label("Role*").select_option(label="Class teacher")
    page.get_by_label("4B").check()
    page.get_by_role("button", name="Give the role").click()
    page.get_by_text("is now a class teacher here, for 4B.").wait_for()
    missed = page.locator("#new-password").inner_text()
    assert page.locator("#staff").get_by_role("rowheader", name="Priya Shah").is_visible()
    screenshot(page, "first_week_staff_added")
    # The note with the password went missing: a login not yet used can be given another.
    page.locator("#staff").get_by_role("row").filter(has_text="Priya Shah").get_by_role(
        "button", name="New password"
    ).click()
    page.get_by_text("A new password for Priya Shah").wait_for()
    password = page.locator("#new-password").inner_text()
    assert password != missed

    page.get_by_role("button", name="Sign out").click()
    page = sign_in("priya.shah", password)
    page.get_by_role("heading", name="My classes").wait_for()
    assert page.url.endswith(f"/school/{school.urn}/classes/")  # their home: their classes
