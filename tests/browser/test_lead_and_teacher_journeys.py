"""The attendance lead's and the class teacher's mornings, in a real browser."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from interventions import nightly, services
from interventions.models import ActionLog, Placement, Proposal
from tests.browser.conftest import screenshot
from tests.factories import PupilFactory, RegistrationGroupFactory
from tests.interventions.conftest import SIMPLE_LADDER, fill_register

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def every(n):
    counter = {"i": 0}

    def code_for(day, session):
        counter["i"] += 1
        return "O" if counter["i"] % n == 0 else ("/" if session == 0 else "\\")

    return code_for


@pytest.fixture
def morning(school, attendance_lead, class_teacher):
    services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
    today = timezone.localdate()
    group = RegistrationGroupFactory(school=school, name="4B")
    pupils = {}
    for surname, n in [("Ashworth", 2), ("Bennett", 13), ("Clarke", 1000)]:
        pupil = PupilFactory(school=school, surname=surname, forename="Sam", registration_group=group)
        fill_register(pupil, today - timedelta(days=60), today - timedelta(days=1), every(n))
        pupils[surname] = pupil
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
    return pupils


def test_lead_approves_a_move_in_place_and_logs_a_call(sign_in, live_server, morning):
    page = sign_in("alice")
    assert "/dashboard/" in page.url
    proposal = page.locator(f"#proposal-{Proposal.objects.get().pk}")
    proposal.get_by_role("button", name="Approve").click()
    proposal.get_by_text("Give a reason").wait_for()  # refused in place, nothing changed
    assert Proposal.objects.get().status == "pending"
    page.get_by_label("Reason for the decision on Sam Ashworth").fill("Agreed at attendance panel")
    page.locator(f"#proposal-{Proposal.objects.get().pk}").get_by_role("button", name="Approve").click()
    page.get_by_text("Approved by alice").wait_for()
    assert Placement.objects.get(pupil=morning["Ashworth"]).stage.key == "panel"
    # No reload: the stage cards and the waiting count follow the decision.
    panel_card = page.locator("#stage-counts .card").filter(has_text="Attendance panel")
    assert panel_card.locator(".fs-3").inner_text() == "1"
    assert page.locator("#proposal-count").inner_text() == "0"

    page.get_by_role("link", name="Bennett, Sam").click()
    page.get_by_role("heading", name="Sam Bennett").wait_for()
    page.get_by_label("What happened").select_option(label="Phone the family")
    page.get_by_label("Outcome").fill("Spoke to dad: car trouble, back tomorrow")
    page.get_by_label("Next step (becomes a task)").fill("Check Sam is back")
    page.get_by_label("Next step due").fill(timezone.localdate().isoformat())
    page.get_by_role("button", name="Log action").click()
    page.get_by_text("Logged: Phone the family.").wait_for()
    # Without a reload, the action and its next step are on the page.
    page.locator("#actions-list").get_by_text("Outcome: Spoke to dad: car trouble, back tomorrow").wait_for()
    page.locator("#tasks-list li").filter(has_text="Check Sam is back").wait_for()
    # The call is still offered, saying it is done, so nobody makes it again not knowing.
    today = timezone.localdate()
    done = page.get_by_label("What happened").locator(
        "option", has_text=f"Phone the family (done {today.day} {today:%b})"
    )
    done.wait_for(state="attached")
    action = ActionLog.objects.get(pupil=morning["Bennett"])
    assert (action.title, action.outcome) == ("Phone the family", "Spoke to dad: car trouble, back tomorrow")


def test_class_teacher_logs_a_conversation_in_one_click(sign_in, live_server, morning):
    page = sign_in("bob")
    assert "/classes/" in page.url
    assert page.get_by_role("heading", name="4B").is_visible()
    # A click on the wrong row can be taken back.
    page.get_by_role("button", name="Log conversation with Sam Ashworth").click()
    page.get_by_role("button", name="Undo the conversation logged with Sam Ashworth").click()
    page.get_by_role("button", name="Log conversation with Sam Ashworth").wait_for()
    assert not ActionLog.objects.filter(pupil=morning["Ashworth"]).exists()
    page.get_by_role("button", name="Log conversation with Sam Clarke").click()
    page.get_by_text("Logged ✓").wait_for()
    assert ActionLog.objects.get(pupil=morning["Clarke"]).kind == "pupil_conversation"
    page.get_by_role("link", name="Clarke, Sam").click()
    assert page.get_by_text("Conversation with pupil").first.is_visible()
    # The dashboard is not the class teacher's.
    response = page.goto(f"{live_server.url}/school/100001/dashboard/")
    assert response.status == 404


def test_class_teacher_corrects_the_date_of_a_call_and_the_earlier_version_stays(sign_in, live_server, morning):
    pupil = morning["Bennett"]
    today = timezone.localdate()
    page = sign_in("bob")
    page.goto(f"{live_server.url}/school/100001/pupils/{pupil.pk}/")
    page.get_by_label("What happened").select_option(label="Phone call")
    page.get_by_label("Outcome").fill("Dad: dentist")
    page.get_by_role("button", name="Log action").click()
    page.get_by_text("Logged: Phone call").wait_for()
    page.get_by_role("link", name=re.compile(r"^Correct “Phone call”, ")).click()
    page.get_by_label("Why it is corrected").fill("I rang on Monday evening, logged it today")
    page.get_by_label("Date").fill((today + timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Save").click()
    page.get_by_text("An action cannot be logged for a date in the future.").wait_for()  # in place, nothing changed
    assert ActionLog.objects.get(pupil=pupil).occurred_on == today
    screenshot(page, "action-correct-form")
    page.get_by_label("Date").fill((today - timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Corrected. What the entry said before is kept beside it").wait_for()
    assert ActionLog.objects.get(pupil=pupil).occurred_on == today - timedelta(days=1)
    entry = page.locator(f"#action-{ActionLog.objects.get(pupil=pupil).pk}")
    entry.get_by_text("Corrected", exact=False).first.click()  # open the earlier version
    expect(entry).to_contain_text(f"it read: {today:%-d %b %Y} Phone call. Outcome: Dad: dentist")
    screenshot(page, "action-corrected")


def test_my_classes_fits_a_phone_screen(sign_in, live_server, morning):
    page = sign_in("bob")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.get_by_role("heading", name="4B").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the table scrolls in its card instead
    # What a teacher came for is on screen without scrolling sideways: the attendance and the log button,
    # inside the table's box (beyond its edge the box hides it), for every pupil, and once logged, Undo too.
    box = page.locator(".table-responsive").first.bounding_box()
    for surname in ("Ashworth", "Bennett", "Clarke"):
        button = page.get_by_role("button", name=f"Log conversation with Sam {surname}")
        assert button.bounding_box()["x"] + button.bounding_box()["width"] <= box["x"] + box["width"], surname
    # The trend and the half-term's lates, columns on a desktop, ride under the figure and the name.
    for surname in ("Ashworth", "Bennett", "Clarke"):
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"{surname}, Sam"))
        placement = Placement.objects.get(pupil=morning[surname])
        assert row.locator(".d-sm-none").filter(has=page.locator("[title] > [aria-hidden]")).is_visible(), surname
        lates = row.get_by_text(f"{placement.lates_half_term} late this half-term")
        assert lates.is_visible() if placement.lates_half_term else lates.count() == 0, surname
    page.get_by_role("button", name="Log conversation with Sam Ashworth").click()
    undo = page.get_by_role("button", name="Undo the conversation logged with Sam Ashworth")
    assert undo.bounding_box()["x"] + undo.bounding_box()["width"] <= box["x"] + box["width"]
    screenshot(page, "my_classes_phone")


def test_saving_a_referrals_status_in_place_updates_the_counts(sign_in, live_server, morning, attendance_lead, school):
    services.referral_record(
        pupil=morning["Bennett"], user=attendance_lead, to="camhs", made_on=timezone.localdate(), status="made"
    )
    page = sign_in("alice")
    page.goto(f"{live_server.url}/school/{school.urn}/lists/referrals/")
    counts = page.locator("#referral-counts")
    assert counts.get_by_text("Made, awaiting reply").locator("..").inner_text().startswith("1")
    page.get_by_label("Status of the referral for Sam Bennett").select_option("accepted")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved ✓ Accepted").wait_for()
    # No reload: the cards at the top moved the referral from "made" to "accepted".
    assert counts.get_by_text("Accepted").locator("..").inner_text().startswith("1")
    assert counts.get_by_text("Made, awaiting reply").locator("..").inner_text().startswith("0")


def test_correcting_a_referrals_date_in_its_row_moves_it_on_the_pupils_record(
    sign_in, live_server, morning, attendance_lead, school
):
    """The date box sits in the Date column, outside the row's <form>: the browser must still send it."""
    today = timezone.localdate()
    referral = services.referral_record(
        pupil=morning["Bennett"], user=attendance_lead, to="camhs", made_on=today - timedelta(days=2)
    )
    services.referral_record(
        pupil=morning["Ashworth"], user=attendance_lead, to="school_nurse", made_on=today - timedelta(days=5)
    )
    earlier = today - timedelta(days=9)
    page = sign_in("alice")
    page.goto(f"{live_server.url}/school/{school.urn}/lists/referrals/")
    rows = page.locator("#referral-list tbody tr")
    assert "Bennett" in rows.first.inner_text()  # newest first
    page.get_by_label("Date of the referral for Sam Bennett").fill(earlier.isoformat())
    page.get_by_role("button", name="Save").first.click()
    page.get_by_text(f"is now dated {earlier.day} {earlier:%b %Y}, and listed in its place.").wait_for()
    assert "Ashworth" in rows.first.inner_text() and "Bennett" in rows.nth(1).inner_text()  # moved to its place
    referral.refresh_from_db()
    assert referral.made_on == earlier
    assert ActionLog.objects.get(referral=referral, title="Referral: CAMHS / mental health").occurred_on == earlier

    # A day in the future is refused beside the date, which is marked as the field to put right.
    page.get_by_label("Date of the referral for Sam Bennett").fill((today + timedelta(days=3)).isoformat())
    rows.nth(1).get_by_role("button", name="Save").click()
    page.get_by_text("A referral cannot be recorded for a date in the future.").wait_for()
    expect(page.get_by_label("Date of the referral for Sam Bennett")).to_have_attribute("aria-invalid", "true")
    referral.refresh_from_db()
    assert referral.made_on == earlier

    # On a phone the row is one block, every cell named: nothing to scroll sideways to.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    table = page.locator("#referral-list table")
    assert table.evaluate("t => t.scrollWidth <= t.parentElement.clientWidth + 1")
    screenshot(page, "referrals_phone")


def test_a_referral_recorded_in_place_joins_the_referrals_so_far_at_once(
    sign_in, live_server, morning, attendance_lead, school
):
    pupil = morning["Bennett"]
    page = sign_in("alice")
    page.goto(f"{live_server.url}/school/{school.urn}/pupils/{pupil.pk}/referrals/new/")
    so_far = page.locator("#referrals-so-far")
    assert so_far.inner_text().strip() == "None yet."
    page.get_by_label("Referred to").select_option(label="CAMHS / mental health")
    page.get_by_role("button", name="Record referral").click()
    page.get_by_text("Recorded: referral to CAMHS / mental health.").wait_for()
    assert "CAMHS" in so_far.inner_text() and "None yet." not in so_far.inner_text()
    page.get_by_label("Referred to").select_option(label="Early help / MARF")
    page.get_by_role("button", name="Record referral").click()
    page.get_by_text("Recorded: referral to Early help / MARF.").wait_for()
    assert so_far.locator("li").count() == 2  # the second save shows at once too, not one behind


def _filled(address: str) -> dict[str, list[str]]:
    """The query's parameters that have a value."""
    return parse_qs(urlsplit(address).query)


def test_typing_part_of_a_name_narrows_the_dashboards_list_as_the_lead_types(sign_in, live_server, morning):
    page = sign_in("alice")
    pupils = page.locator("#pupil-list tbody")
    expect(pupils).to_contain_text("Ashworth, Sam")
    page.get_by_label("Name or UPN").press_sequentially("sam benn", delay=30)

    expect(page.get_by_text("1 pupil matches these filters.")).to_be_visible()
    expect(pupils).to_contain_text("Bennett, Sam")
    expect(pupils).not_to_contain_text("Ashworth")
    assert parse_qs(urlsplit(page.url).query)["name"] == ["sam benn"], "the search is in the address, to go back to"


def test_filtering_the_dashboard_twice_keeps_one_of_each_filter_in_the_address(sign_in, live_server, morning):
    page = sign_in("alice")
    page.get_by_label("Stage", exact=True).select_option(label="Concern")
    page.wait_for_url(lambda address: "stage" in _filled(address))
    page.get_by_label("Class", exact=True).select_option(label="4B")
    # The address already names every filter, empty: wait for the class to be filled in.
    page.wait_for_url(lambda address: "registration_group" in _filled(address))
    page.get_by_role("button", name="Filter").click()
    page.get_by_text("1 pupil matches these filters.").wait_for()
    query = page.url.split("?", 1)[1]
    assert sorted(part.split("=")[0] for part in query.split("&") if part.split("=")[1]) == [
        "registration_group",
        "stage",
    ], page.url
    assert query.count("stage=") == 1, page.url


@pytest.mark.parametrize("width", [1280, 390])
def test_the_pupil_pages_figures_fit_without_scrolling_sideways(sign_in, live_server, morning, school, width):
    page = sign_in("alice")
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/school/{school.urn}/pupils/{morning['Bennett'].pk}/")
    figures = page.get_by_role("region", name="Attendance")
    figures.get_by_role("rowheader", name="Hours of learning lost").wait_for()
    table, card = figures.locator("table").bounding_box(), figures.bounding_box()
    assert table["x"] + table["width"] <= card["x"] + card["width"], "the figures run past their card"
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_dashboards_pupil_list_fits_a_phone_every_figure_named(sign_in, live_server, morning):
    page = sign_in("alice")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    table = page.locator("#pupil-table")
    assert table.evaluate("t => t.scrollWidth <= t.parentElement.clientWidth + 1"), "the list scrolls sideways"
    bennett = table.get_by_role("row").filter(has_text="Bennett")
    attendance = bennett.locator('td[data-label="Attendance"]')
    box = attendance.bounding_box()
    assert box["x"] + box["width"] <= 390 and "%" in attendance.inner_text()
    assert attendance.evaluate("td => getComputedStyle(td, '::before').content") == '"Attendance: "'
    # Stacked, the work waiting (moves to approve, tasks) comes before the chart and the fifty pupils.
    above = page.locator("#proposals-heading").bounding_box()["y"]
    assert (
        above < page.locator("#chart-heading").bounding_box()["y"] < page.locator("#list-heading").bounding_box()["y"]
    )
    screenshot(page, "dashboard_pupils_phone")


def test_on_a_wide_screen_the_work_waiting_sits_beside_the_list(sign_in, live_server, morning):
    page = sign_in("alice")
    page.set_viewport_size({"width": 1366, "height": 800})
    page.reload()
    work, pupils = (page.locator(f"#{name}-heading").bounding_box() for name in ("proposals", "list"))
    assert work["x"] > pupils["x"] + pupils["width"]  # to the right, as before


@pytest.mark.parametrize("width", [1280, 390])
def test_the_weekly_charts_labels_are_readable_on_a_desktop_and_a_phone(sign_in, live_server, morning, width):
    page = sign_in("alice")
    page.set_viewport_size({"width": width, "height": 900})
    page.reload()
    chart = page.get_by_role("region", name="Attendance and persistent absence by week")
    charts = chart.get_by_role("img")
    assert charts.count() == 1  # the one drawn for this width; the other is not displayed
    heights = charts.locator("text").evaluate_all("ts => ts.map(t => t.getBoundingClientRect().height)")
    assert heights and min(heights) >= 9, heights  # 10px text not shrunk to a smudge


def test_lead_marks_a_task_done_with_what_happened_and_takes_back_a_wrong_one(sign_in, live_server, morning):
    from interventions.models import Task

    task = Task.objects.filter(status="open", role="attendance_lead").order_by("due_on", "pk").first()
    page = sign_in("alice")
    page.goto(f"{live_server.url}/school/100001/tasks/")
    row = page.locator(f"#task-{task.pk}")
    row.get_by_label("How it went (optional)").fill("Wrong pupil")
    row.get_by_role("button", name="Mark done").click()
    row.get_by_role("button", name="Undo marking done").click()  # pressed on the wrong row: taken back in place
    row.get_by_role("button", name="Mark done").wait_for()
    task.refresh_from_db()
    assert task.status == "open" and not ActionLog.objects.filter(task=task).exists()
    screenshot(page, "tasks-undone")

    summary = page.locator("#tasks-summary")
    before = Task.objects.filter(status="open", role="attendance_lead").count()  # hers: none is assigned
    expect(summary).to_have_text(re.compile(rf"^{before} open task"))  # fetched again after the Undo
    row.get_by_label("How it went (optional)").fill("Left a voicemail for mum")
    row.get_by_role("button", name="Mark done").click()
    row.get_by_role("button", name="Undo marking done").wait_for()
    task.refresh_from_db()
    assert task.status == "done"
    assert ActionLog.objects.get(task=task).outcome == "Left a voicemail for mum"
    # The counts at the top follow, and the task joins those that can be taken back, without a reload.
    expect(summary).to_have_text(re.compile(rf"^{before - 1} open task|^Nothing to do"))
    expect(page.locator("#just-done")).to_contain_text(task.title)
    assert page.evaluate("document.activeElement.textContent").strip() == "Undo"  # focus stays on the row's Undo


def test_a_button_pressed_after_signing_out_signs_in_again_on_a_whole_page_and_comes_back(
    sign_in, live_server, morning
):
    page = sign_in("bob")
    classes = page.url
    page.context.clear_cookies(name="sessionid")  # as the idle sign-out leaves a page open on the iPad
    page.get_by_role("button", name="Log conversation with Sam Clarke").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.get_by_text("You were signed out").is_visible()
    assert page.locator("nav").count() == 1  # the sign-in page itself, not one squeezed into the row
    assert not ActionLog.objects.exists()
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Log conversation with Sam Clarke").wait_for()
    assert page.url == classes


def test_a_button_on_a_page_gone_stale_says_so_and_saves_nothing(sign_in, live_server, morning):
    page = sign_in("bob")
    # Signing in again in another window gives a new security token; this page still has the old one.
    page.context.add_cookies([{"name": "csrftoken", "value": "x" * 32, "url": live_server.url}])
    page.get_by_role("button", name="Log conversation with Sam Clarke").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "This page is out of date" in alert.inner_text() and "nothing was saved" in alert.inner_text()
    assert not ActionLog.objects.exists()


def test_on_a_touch_screen_undo_is_a_finger_sized_target(live_server, browser, morning):
    context = browser.new_context(viewport={"width": 768, "height": 1024}, has_touch=True, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill("bob")
        page.get_by_label("Password").fill("correct horse battery staple")
        page.get_by_role("button", name="Sign in").click()
        assert page.evaluate("matchMedia('(pointer: coarse)').matches")
        page.get_by_role("button", name="Log conversation with Sam Clarke").tap()
        undo = page.get_by_role("button", name="Undo the conversation logged with Sam Clarke").first
        box = undo.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44
    finally:
        context.close()
