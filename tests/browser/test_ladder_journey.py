"""The attendance lead changes the school's ladder: copy, edit (a mistake, then the fix), simulate, activate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from interventions import nightly, services
from interventions.models import Ladder, Placement
from pupils.models import AuditEvent
from tests.browser.conftest import screenshot
from tests.factories import PupilFactory, RegistrationGroupFactory
from tests.interventions.conftest import SIMPLE_LADDER, fill_school_days

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def absent_every(n: int):
    counter = {"i": 0}

    def code_for(day, session):
        counter["i"] += 1
        return "O" if counter["i"] % n == 0 else "/"

    return code_for


@pytest.fixture
def running(school):
    """The simple ladder, active, with four pupils placed: 100%, 95.2%, 92.9% and 85.7% attendance.

    Each has exactly 42 school days (84 sessions) marked, ending yesterday, so
    the percentages do not depend on the day the test runs.
    """
    services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
    today = timezone.localdate()
    group = RegistrationGroupFactory(school=school, name="4B")
    for surname, n in (("Ash", 1000), ("Birch", 21), ("Cedar", 13), ("Damson", 7)):
        pupil = PupilFactory(school=school, registration_group=group, surname=surname)
        fill_school_days(pupil, 42, today - timedelta(days=1), absent_every(n))
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))


def test_lead_copies_edits_simulates_and_activates_a_ladder(live_server, sign_in, attendance_lead, running):
    page = sign_in("alice")
    page.get_by_role("link", name="Ladder", exact=True).click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Simple ladder").is_visible()
    assert page.get_by_text("attendance below 95% year to date").first.is_visible()

    page.get_by_role("button", name="Copy to a new ladder").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Edit Simple ladder (copy)").is_visible()
    yaml_box = page.get_by_label("Ladder (YAML)")
    original = yaml_box.input_value()
    assert "key: simple-copy" in original

    # A mistake: a misspelt field. Nothing is saved and the message names the stage and the field.
    yaml_box.fill(original.replace("attendance: {below: 95}", "attendance: {belw: 96}", 1))
    page.get_by_role("button", name="Check and save").click()
    page.wait_for_load_state("networkidle")
    errors = page.locator("#ladder-errors")
    assert errors.get_by_text("Nothing was saved").is_visible()
    assert "stage 'concern', criteria" in errors.inner_text() and "belw" in errors.inner_text()
    assert "belw" in yaml_box.input_value()  # the text is kept, to fix
    # The problem's place is a link: it selects the line in the box, which has no line numbers of its own.
    errors.locator("a.go-to-line").first.click()
    selected = yaml_box.evaluate("box => box.value.slice(box.selectionStart, box.selectionEnd)")
    assert "belw: 96" in selected and "\n" not in selected
    screenshot(page, "ladder-error-line-selected")

    # The fix: concern now starts below 96%, which catches Birch (95.2%) too.
    yaml_box.fill(yaml_box.input_value().replace("belw: 96", "below: 96"))
    page.get_by_role("button", name="Check and save").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Saved “Simple ladder (copy)”").is_visible()
    assert page.get_by_text("attendance below 96% year to date").first.is_visible()

    page.get_by_role("link", name="Simulate on last night's register").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Nothing has been changed").is_visible()
    now = Placement.objects.filter(ladder__key="simple", stage__key="concern").count()
    cells = page.get_by_role("row", name="C Concern").get_by_role("cell")
    assert [cells.nth(i).inner_text() for i in (0, 1, 2)] == [str(now), str(now + 1), "+1"]  # Birch joins
    assert page.locator("tbody").get_by_text("Birch").is_visible()

    page.get_by_role("link", name="Activate…").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("It replaces Simple ladder").is_visible()
    placed = Placement.objects.filter(ladder__key="simple").count()
    assert page.get_by_text(f"{placed} pupils keep their stage").is_visible()
    page.get_by_role("button", name="Yes, make it the active ladder").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("is now the active ladder").is_visible()
    assert page.get_by_role("heading", name="Simple ladder (copy)").is_visible()

    assert Ladder.objects.get(is_active=True).key == "simple-copy"
    assert AuditEvent.objects.filter(user=attendance_lead, what="activated ladder simple-copy").exists()


def test_lead_simulates_an_edit_to_the_active_ladder_before_saving_it(live_server, sign_in, attendance_lead, running):
    page = sign_in("alice")
    page.goto(f"{live_server.url}/school/100001/ladders/simple/edit/")
    yaml_box = page.get_by_label("Ladder (YAML)")
    original = yaml_box.input_value()
    yaml_box.fill(original.replace("attendance: {below: 95}", "attendance: {below: 96}", 1))
    page.get_by_role("button", name="Simulate without saving").click()

    preview = page.get_by_role("region", name="Not saved: what your edit would change")
    preview.wait_for()
    cells = preview.get_by_role("row", name="Concern").get_by_role("cell")
    now = Placement.objects.filter(ladder__key="simple", stage__key="concern").count()
    assert [cells.nth(i).inner_text() for i in (0, 1, 2)] == [str(now), str(now + 1), "+1"]  # Birch, 95.2%
    birch = preview.get_by_role("listitem").filter(has_text="Birch")
    assert "as saved, stays where they are; as edited, moves to Concern" in birch.inner_text()
    assert "below: 96" in yaml_box.input_value()  # kept as edited
    screenshot(page, "ladder-edit-preview")
    assert services.ladder_document(Ladder.objects.get(key="simple"))["stages"][1]["criteria"] == {
        "attendance": {"below": 95}
    }

    page.get_by_role("button", name="Check and save").click()
    page.get_by_text("Saved “Simple ladder”").wait_for()
    assert services.ladder_document(Ladder.objects.get(key="simple"))["stages"][1]["criteria"] == {
        "attendance": {"below": 96}
    }
