"""The office's morning: from the print queue to a downloaded PDF to "posted", in a real browser."""

from __future__ import annotations

from io import BytesIO

import pytest
from pypdf import PdfReader

from interventions.models import ActionLog
from letters import services
from letters.models import Letter
from pupils.models import StaffMembership
from tests.browser.conftest import screenshot
from tests.factories import TODAY, ContactFactory, MembershipFactory, PupilFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def queued(school, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    MembershipFactory(user=UserFactory(username="olga"), school=school, role=StaffMembership.Role.OFFICE)
    letters = []
    for surname in ("Ahmed", "Brown", "Clarke"):
        pupil = PupilFactory(school=school, surname=surname)
        ContactFactory(pupil=pupil, name=f"Sam {surname}")
        letters += services.letter_queue(school=school, pupil=pupil, key="first_reminder", on=TODAY).letters
    return letters


def test_office_prints_the_queue_downloads_the_pdf_and_marks_it_posted(live_server, page, sign_in, school, queued):
    sign_in("olga")
    page.goto(f"{live_server.url}/school/{school.urn}/letters/")
    assert page.get_by_role("heading", name="Letters").is_visible()
    for letter in queued:
        assert page.get_by_role("link", name=letter.reference).is_visible()

    page.get_by_role("checkbox", name="Select every letter on this page").check()
    page.get_by_role("button", name="Print selected").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Ready: 3 letters on 3 pages").is_visible()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"letters-{school.urn}-batch-")
    pdf = PdfReader(BytesIO(download.path().read_bytes()))
    assert len(pdf.pages) == 3
    assert "Dear Sam Ahmed," in pdf.pages[0].extract_text()

    page.get_by_role("button", name="Mark all 3 as posted").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("3 letters marked as posted.").is_visible()
    assert page.locator(".badge", has_text="Posted").count() == 3

    assert set(Letter.objects.values_list("status", flat=True)) == {"posted"}
    assert ActionLog.objects.filter(kind="letter").count() == 3

    page.goto(f"{live_server.url}/school/{school.urn}/letters/?status=posted")
    assert page.get_by_role("link", name=queued[0].reference).is_visible()


def test_taking_a_letter_out_of_the_queue_asks_first(live_server, page, sign_in, school, queued):
    letter = queued[0]
    page = sign_in("olga")
    page.goto(f"{live_server.url}/school/{school.urn}/letters/{letter.pk}/")
    asked = []

    def answer(dialog, accept):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    page.get_by_role("button", name="Take out of the queue").click()
    page.wait_for_timeout(300)
    assert Letter.objects.get(pk=letter.pk).status == "queued"  # said no: nothing changed

    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    page.get_by_role("button", name="Take out of the queue").click()
    page.get_by_text("This letter was cancelled and will not be printed.").wait_for()
    assert Letter.objects.get(pk=letter.pk).status == "cancelled"
    assert (
        asked == [f"Take {letter.reference} out of the queue? It will not be printed, and it cannot be put back."] * 2
    )


def test_a_letter_already_waiting_is_not_queued_again_unless_asked_for(live_server, page, sign_in, school, queued):
    pupil = queued[0].pupil
    sign_in("olga")
    page.goto(f"{live_server.url}/school/{school.urn}/letters/compose/{pupil.pk}/")
    page.get_by_label("Letter").select_option("first_reminder")
    page.get_by_role("button", name="Add to the print queue").click()
    warning = page.locator("#already-waiting")
    warning.get_by_text("It was not added again.").wait_for()
    assert queued[0].reference in warning.inner_text()
    assert Letter.objects.filter(pupil=pupil).count() == 1

    warning.get_by_role("button", name="Add another anyway").click()
    page.wait_for_url("**/letters/*/")
    assert Letter.objects.filter(pupil=pupil, template__key="first_reminder").count() == 2


def test_on_a_phone_the_queue_shows_who_each_letter_goes_to_without_scrolling_sideways(
    live_server, page, sign_in, school, queued
):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in("olga")
    page.goto(f"{live_server.url}/school/{school.urn}/letters/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    table = page.locator("table.table-stack-sm")
    assert table.evaluate("t => t.scrollWidth <= t.parentElement.clientWidth + 1")
    for letter in queued:
        row = page.locator("tr", has=page.get_by_role("link", name=letter.reference))
        to = row.locator('td[data-label="To"]')
        assert to.is_visible() and to.bounding_box()["x"] + to.bounding_box()["width"] <= 390
    page.get_by_role("checkbox", name="Select every letter on this page").check()  # the one shown on a phone
    assert page.locator('input[name="letter"]:checked').count() == 3
    screenshot(page, "letters-queue-phone")
