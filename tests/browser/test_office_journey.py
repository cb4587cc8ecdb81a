"""The office's morning in a real browser: import the registers, correct a mark, take the first-day calls.

Set SCREENSHOTS=/some/dir to keep a picture of each page on the way.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from pupils import uploads
from pupils.calendar import monday_of
from pupils.models import AttendanceMark, ImportBatch, MarkChange, StaffMembership
from pupils.services import school_calendar
from tests.browser.conftest import screenshot
from tests.factories import ContactFactory, MarkFactory, MembershipFactory, PupilFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def shot(page, name):
    screenshot(page, f"office_{name}")


@pytest.fixture
def office(school, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    MembershipFactory(user=UserFactory(username="owen"), school=school, role=StaffMembership.Role.OFFICE)
    pupils = {
        surname: PupilFactory(school=school, surname=surname, forename=forename)
        for surname, forename in [("Ahmed", "Zara"), ("Brown", "Leo"), ("Clarke", "Mia")]
    }
    ContactFactory(pupil=pupils["Clarke"], name="Kim Clarke", phone="07700 900321", relationship="Mother")
    return pupils


def test_office_imports_marks_then_corrects_one_in_the_register(live_server, page, sign_in, school, office, tmp_path):
    # The register opens at the week of the last school day: mark up to three of its days.
    last = school_calendar(school).register_day(timezone.localdate())
    days = list(school_calendar(school).school_days(monday_of(last), last))[:3]
    first = days[0]
    rows = [
        f"{pupil.upn},{day.isoformat()},{session},{code}"
        for pupil, code in ((office["Ahmed"], "/"), (office["Brown"], "N"), (office["Clarke"], "L"))
        for day in days
        for session in ("AM", "PM")
    ]
    marks = tmp_path / "week.csv"
    marks.write_text("upn,date,session,code\n" + "\n".join(rows) + "\n", encoding="utf-8")

    page = sign_in("owen")
    assert page.url.endswith(f"/school/{school.urn}/office/")
    page.get_by_role("heading", name="Import a file").wait_for()
    shot(page, "home_empty")

    page.get_by_label("File*", exact=True).set_input_files(str(marks))
    page.get_by_role("button", name="Upload and import").click()
    page.get_by_text(f"{len(rows)} rows in the file: {len(rows)} new marks").wait_for()
    assert ImportBatch.objects.get().status == "done"
    shot(page, "import_done")

    page.get_by_role("link", name="Open the register").click()
    page.get_by_role("heading", name="4B").wait_for()
    shot(page, "register")
    brown = office["Brown"]
    cell = page.locator(f"#cell-{brown.pk}-{first:%Y%m%d}-0")
    assert cell.inner_text().strip() == "N"

    cell.get_by_role("link").click()
    editor = page.locator(f"#cell-{brown.pk}-{first:%Y%m%d}-0")
    editor.get_by_label("Code").wait_for()
    # The editor makes the row taller; the row's other marks still fill their cells, colour and all.
    beside = page.locator(f"#cell-{brown.pk}-{first:%Y%m%d}-1")
    # Polled: the row grows as the editor's swap settles, and the mark beside it follows a frame later.
    page.wait_for_function(
        "([mark, cell]) => mark.getBoundingClientRect().height >= cell.getBoundingClientRect().height - 2",
        arg=[beside.locator("a").element_handle(), beside.element_handle()],
        timeout=5000,
    )
    editor.get_by_label("Code").fill("ZZ")
    editor.get_by_label("Reason").fill("Dad rang at 9:10: ear infection")
    editor.get_by_role("button", name="Save").click()
    editor.get_by_text("ZZ is not an attendance code: choose one from the list").wait_for()  # refused in place
    shot(page, "register_refused")
    assert AttendanceMark.objects.get(pupil=brown, date=first, session=0).code == "N"

    editor.get_by_label("Code").fill("I")
    editor.get_by_role("button", name="Save").click()
    page.get_by_role("link", name=f"Leo Brown, {first:%A} {first.day} {first:%B} AM: I").wait_for()
    shot(page, "register_corrected")
    mark = AttendanceMark.objects.get(pupil=brown, date=first, session=0)
    assert mark.code == "I"
    change = MarkChange.objects.get(mark=mark)
    assert (change.old_code, change.new_code, change.reason) == ("N", "I", "Dad rang at 9:10: ear infection")

    # Without reloading, the next week and back: the correction is there, marked as corrected.
    page.get_by_role("link", name="Next week").click()
    following = monday_of(first) + timedelta(days=7)
    page.get_by_text(f"week of {following:%A} {following.day}").wait_for()
    page.get_by_role("link", name="Previous week").click()
    page.get_by_role("link", name=f"Leo Brown, {first:%A} {first.day} {first:%B} AM: I, Illness").wait_for()
    assert "✎" in page.locator(f"#cell-{brown.pk}-{first:%Y%m%d}-0").inner_text()


def test_office_rings_a_family_and_records_the_reason(live_server, page, sign_in, school, office):
    today = school_calendar(school).register_day(timezone.localdate())  # on a weekend, Friday's register
    clarke = office["Clarke"]
    MarkFactory(pupil=clarke, date=today, session=0, code="N")
    MarkFactory(pupil=office["Ahmed"], date=today, session=0, code="/")

    page = sign_in("owen")
    page.get_by_text("absent with no reason yet").click()
    page.get_by_role("heading", name="Absent with no reason yet").wait_for()
    assert page.get_by_role("link", name="07700 900321").is_visible()
    assert page.get_by_role("link", name="Ahmed, Zara").count() == 0
    shot(page, "first_day_calls")

    page.get_by_label("New code for Mia Clarke").select_option("M")
    page.get_by_label("Reason given for Mia Clarke").fill("Mum rang: orthodontist at 10")
    page.get_by_role("button", name="Reason received for Mia Clarke").click()
    page.get_by_text("Mia Clarke: AM now M").wait_for()
    shot(page, "first_day_done")
    assert AttendanceMark.objects.get(pupil=clarke, date=today).code == "M"


def test_office_works_through_every_absence_still_waiting_on_one_list(live_server, page, sign_in, school, office):
    calendar = school_calendar(school)
    today = calendar.register_day(timezone.localdate())
    days = list(calendar.school_days(today - timedelta(days=21), today))
    older, recent = days[0], days[-2]
    clarke, brown = office["Clarke"], office["Brown"]
    MarkFactory(pupil=clarke, date=older, session=0, code="N")
    MarkFactory(pupil=clarke, date=recent, session=1, code="N")
    MarkFactory(pupil=brown, date=recent, session=0, code="N")

    page = sign_in("owen")
    page.goto(f"{live_server.url}/school/{school.urn}/office/today/")
    page.get_by_role("link", name="Still no reason").click()
    page.get_by_role("heading", name="Every absence still without a reason").wait_for()
    groups = page.locator("tbody th[scope=rowgroup]").all_inner_texts()
    assert [g.split(" ")[0] for g in groups] == [f"{older:%A}", f"{recent:%A}"]
    assert "school days waiting" in groups[0]
    shot(page, "waiting")

    when = f"{older:%A} {older.day} {older:%B}"
    page.get_by_label("New code for Mia Clarke").first.select_option("I")
    page.get_by_label("Reason given for Mia Clarke").first.fill("Gran rang back: she had a fever")
    page.get_by_role("button", name=f"Reason received for Mia Clarke on {when}").click()
    page.get_by_text("Mia Clarke: AM now I").wait_for()
    assert AttendanceMark.objects.get(pupil=clarke, date=older).code == "I"
    assert AttendanceMark.objects.get(pupil=clarke, date=recent).code == "N"  # her other day still waits


def test_on_a_phone_first_day_calls_fit_the_screen_and_a_reason_can_be_recorded(
    live_server, page, sign_in, school, office
):
    today = school_calendar(school).register_day(timezone.localdate())
    clarke = office["Clarke"]
    MarkFactory(pupil=clarke, date=today, session=0, code="N")
    page = sign_in("owen")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/school/{school.urn}/office/today/")
    button = page.get_by_role("button", name="Reason received for Mia Clarke")
    for control in (
        page.get_by_label("New code for Mia Clarke"),
        page.get_by_label("Reason given for Mia Clarke"),
        button,
    ):
        box = control.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box  # on screen, not scrolled off to the side
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "first_day_calls_phone")
    page.get_by_label("New code for Mia Clarke").select_option("I")
    page.get_by_label("Reason given for Mia Clarke").fill("Dad rang: temperature")
    button.click()
    page.get_by_text("Mia Clarke: AM now I").wait_for()


def test_a_rejected_file_and_a_large_file_in_progress(live_server, page, sign_in, school, office, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(f"upn,date,session,code\n{office['Ahmed'].upn},2025-11-24,AM,J9\nX,2025-11-24,AM,/\n")
    page = sign_in("owen")
    page.get_by_label("File*", exact=True).set_input_files(str(bad))
    page.get_by_role("button", name="Upload and import").click()
    page.get_by_text("The file was rejected and nothing was changed").wait_for()
    assert page.get_by_role("cell", name="unknown attendance code 'J9'").is_visible()
    assert not AttendanceMark.objects.exists()
    shot(page, "import_rejected")

    progress = uploads.UploadProgress(
        token="big", school_id=school.pk, kind="marks", filename="year.csv", size=40_000_000, uploaded_by="owen"
    )
    progress.state, progress.bytes_read = "reading", 14_000_000
    uploads._save(progress)
    page.goto(f"{live_server.url}/school/{school.urn}/office/uploads/big/")
    page.get_by_text("35%").wait_for()
    shot(page, "import_progress")
    progress.state = "writing"
    uploads._save(progress)
    page.get_by_text("Every row checked: writing to the register.").wait_for()  # polled, no reload
    page.goto(f"{live_server.url}/school/{school.urn}/office/")
    shot(page, "home")


def test_office_finds_its_follow_up_calls_and_marks_one_done(live_server, page, sign_in, school, office):
    from interventions.models import ActionLog, Task

    today = timezone.localdate()
    for surname, due in (("Ahmed", today - timedelta(days=1)), ("Brown", today)):
        Task.objects.create(
            school=school, pupil=office[surname], title="First-day follow-up", role="office", due_on=due
        )
    Task.objects.create(
        school=school, pupil=office["Clarke"], title="Lead's check", role="attendance_lead", due_on=today
    )

    page = sign_in("owen")
    page.get_by_text("2 tasks of yours due today or overdue").click()
    page.get_by_role("heading", name="My tasks").wait_for()
    shot(page, "tasks")
    assert page.get_by_role("heading", name="Overdue 1").is_visible()
    assert page.get_by_role("heading", name="Due today 1").is_visible()
    assert page.get_by_text("Lead's check").count() == 0

    row = page.locator(f"#task-{Task.objects.get(pupil=office['Ahmed']).pk}")  # read before the server writes
    page.get_by_role("button", name="Mark done: First-day follow-up, for Zara Ahmed").click()
    row.locator(".badge").get_by_text("Done").wait_for()
    assert Task.objects.get(pupil=office["Ahmed"]).status == "done"
    assert ActionLog.objects.filter(task__pupil=office["Ahmed"]).exists()
    page.get_by_role("link", name="Registers").click()
    expect(page.get_by_text("1 task of yours due today or overdue")).to_be_visible()


def test_a_long_group_of_tasks_opens_to_show_the_rest_and_each_can_be_done(live_server, page, sign_in, school):
    from interventions.models import Task

    MembershipFactory(user=UserFactory(username="owen"), school=school, role=StaffMembership.Role.OFFICE)
    today = timezone.localdate()
    pupils = [PupilFactory(school=school, surname=f"Caller{n:02}", forename="Sam") for n in range(12)]
    for n, pupil in enumerate(pupils):
        Task.objects.create(
            school=school, pupil=pupil, title="First-day follow-up", role="office", due_on=today + timedelta(days=1 + n)
        )
    page = sign_in("owen")
    page.goto(f"{live_server.url}/school/{school.urn}/tasks/")
    page.get_by_role("heading", name="My tasks").wait_for()
    last = page.get_by_role("button", name="Mark done: First-day follow-up, for Sam Caller11")
    assert page.get_by_role("button", name="Mark done: First-day follow-up, for Sam Caller04").is_visible()
    assert not last.is_visible()  # folded away: only the five due soonest show
    shot(page, "tasks_folded")

    row = page.locator(f"#task-{Task.objects.get(pupil=pupils[11]).pk}")  # read before the server writes (SQLite)
    page.get_by_text("Show the other 7 pupils").click()
    expect(last).to_be_visible()
    last.click()
    expect(row.locator(".badge").get_by_text("Done")).to_be_visible()
    assert Task.objects.get(pupil=pupils[11]).status == "done"
    assert Task.objects.filter(status="open").count() == 11
