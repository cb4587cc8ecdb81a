"""Keyboard use: after a part of the page is swapped in place, focus stays where the person was working."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from interventions.models import Proposal
from tests.browser.conftest import screenshot
from tests.browser.test_lead_and_teacher_journeys import morning  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


FOCUSED = "document.activeElement.getAttribute('aria-label') || document.activeElement.id || ''"


def focus_lands_on(page, name: str) -> None:
    """Wait for focus to reach `name` (htmx moves it as the swap settles); fail with where it is instead.

    Then wait for htmx to finish settling: a key pressed in the few milliseconds before it has wired up
    the new content would submit the page's plain form instead, which no person is quick enough to do.
    """
    try:
        page.wait_for_function(f"() => ({FOCUSED}) === {name!r}", timeout=3000)
    except Exception:
        where = page.evaluate("document.activeElement.outerHTML.slice(0, 200)")
        raise AssertionError(f"focus is on {where}, not {name!r}") from None
    page.wait_for_function("() => !document.querySelector('.htmx-added, .htmx-settling, .htmx-request')")


def test_a_teacher_logs_and_undoes_by_keyboard_without_losing_their_place(sign_in, morning):  # noqa: F811
    page = sign_in("bob")
    log = page.get_by_role("button", name="Log conversation with Sam Bennett")
    log.focus()
    page.keyboard.press("Enter")
    focus_lands_on(page, "Undo the conversation logged with Sam Bennett")
    page.keyboard.press("Enter")
    focus_lands_on(page, "Log conversation with Sam Bennett")


def test_a_lead_deciding_and_logging_by_keyboard_lands_on_what_to_fix_or_what_happened(sign_in, live_server, morning):  # noqa: F811
    page = sign_in("alice")
    proposal = Proposal.objects.get()
    row = page.locator(f"#proposal-{proposal.pk}")
    # The moves waiting come after the pupils' table: one link jumps there, and Tab goes on from it.
    page.get_by_role("navigation", name="On this page").get_by_role("link", name="moves awaiting approval").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == f"reason-{proposal.pk}"
    row.get_by_role("button", name="Approve").focus()
    page.keyboard.press("Enter")
    focus_lands_on(page, f"reason-{proposal.pk}")  # the field to fill in, announced as invalid
    assert page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"
    page.keyboard.type("Agreed at attendance panel")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Approve
    page.wait_for_function("() => document.activeElement.getAttribute('role') === 'status'", timeout=3000)
    assert "Approved by alice" in page.evaluate("document.activeElement.textContent")

    page.goto(f"{live_server.url}/school/{proposal.pupil.school.urn}/pupils/{morning['Bennett'].pk}/")
    page.get_by_label("What happened").select_option(label="Phone the family")
    page.get_by_label("Outcome").fill("No answer")
    page.locator("#action-form [name=occurred_on]").fill((timezone.localdate() + timedelta(days=2)).isoformat())
    page.get_by_role("button", name="Log action").focus()
    page.keyboard.press("Enter")
    page.locator("#action-form .is-invalid").first.wait_for()
    page.wait_for_function("() => document.activeElement.name === 'occurred_on'", timeout=3000)  # the date to come
    screenshot(page, "keyboard-action-error")


def test_a_box_that_refreshes_itself_never_takes_focus(sign_in, live_server, attendance_lead, school):
    from django.urls import reverse

    from letters.models import PrintBatch

    batch = PrintBatch.objects.create(school=school, status="running", total=3, created_by=attendance_lead)
    page = sign_in("alice")
    page.goto(live_server.url + reverse("letters:batch", args=[school.urn, batch.pk]))
    with page.expect_response(lambda r: r.url.endswith(f"/letters/batches/{batch.pk}/")):
        pass  # one refresh of the progress box, polled every second
    page.wait_for_timeout(300)  # let it settle
    assert page.evaluate("document.activeElement === document.body")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"  # Tab starts at the top, as it should


def test_a_move_refused_by_keyboard_lands_on_what_to_fix(sign_in, live_server, morning):  # noqa: F811
    page = sign_in("alice")
    pupil = morning["Bennett"]
    page.goto(f"{live_server.url}/school/{pupil.school.urn}/pupils/{pupil.pk}/")
    page.get_by_text("Move to a stage").click()
    page.get_by_label("Move to stage").select_option(index=2)
    # Past the browser's own check of required fields (older browsers, assistive tools): the server's refusal.
    page.evaluate("document.querySelector('form[hx-post$=\"/move/\"]').noValidate = true")
    page.get_by_role("button", name="Save").focus()
    page.keyboard.press("Enter")  # no reason given: refused in place
    page.wait_for_function("() => document.activeElement.name === 'reason'", timeout=3000)
    assert "is-invalid" in page.evaluate("document.activeElement.className")


def test_the_week_of_a_register_can_be_typed_before_it_is_shown(sign_in, live_server, school, attendance_lead):
    from tests.factories import RegistrationGroupFactory

    RegistrationGroupFactory(school=school, name="4B")
    page = sign_in("alice")
    page.goto(f"{live_server.url}/school/{school.urn}/office/register/")
    requests = []
    page.on("request", lambda request: requests.append(request.url) if "/office/register/" in request.url else None)
    week = page.get_by_label("Week of")
    week.focus()
    # In the browser's order (month first here); each part typed makes a complete date the browser reports.
    week.press_sequentially("11232026")
    assert week.input_value() == "2026-11-23"
    assert requests == [], "the grid reloaded while the date was being typed"
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "week=2026-11-23" in url)
    assert "23 Nov" in page.locator("#register-grid").inner_text()
