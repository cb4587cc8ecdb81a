"""A senior leader's morning: sign in, open the escalations list, narrow it, export it as CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from interventions import nightly, services
from pupils.models import Flag, StaffMembership
from tests.factories import MembershipFactory, PupilFactory, RegistrationGroupFactory, UserFactory
from tests.interventions.conftest import SIMPLE_LADDER, fill_register

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def escalated(school, attendance_lead):
    """Three pupils placed by the night; then one moved up to casework and one to persistent absence."""
    services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
    today = timezone.localdate()
    group = RegistrationGroupFactory(school=school, name="4B")
    pupils = [PupilFactory(school=school, registration_group=group, surname=name) for name in ("Ash", "Birch", "Cedar")]
    for pupil in pupils:
        fill_register(pupil, today - timedelta(days=40), today - timedelta(days=1), lambda day, session: "/")
    nightly.nightly_run(school=school, as_of=today - timedelta(days=5))
    ladder = services.active_ladder(school)
    services.pupil_move(
        pupil=pupils[0], stage=ladder.stages.get(key="casework"), user=attendance_lead, reason="Casework agreed"
    )
    services.pupil_move(pupil=pupils[1], stage=ladder.stages.get(key="pa"), user=attendance_lead, reason="Panel")
    return pupils


@pytest.fixture
def senior_leader(school):
    return MembershipFactory(
        user=UserFactory(username="sam"), school=school, role=StaffMembership.Role.SENIOR_LEADER
    ).user


def test_senior_leader_reviews_escalations_and_exports_them(live_server, sign_in, senior_leader, escalated):
    page = sign_in("sam")
    page.get_by_role("link", name="Lists").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Escalations: who moved up the ladder").is_visible()
    table = page.locator("#escalation-list")
    assert table.get_by_role("link", name="Ash,").is_visible()
    assert table.get_by_role("link", name="Birch,").is_visible()
    assert table.get_by_text("moved by alice: Casework agreed").is_visible()

    # Narrowing the list swaps it in place, and the URL can be shared.
    page.get_by_label("Moved to").select_option(label="PA Persistent absence")
    page.wait_for_url("**stage=pa**")
    page.wait_for_load_state("networkidle")
    assert table.get_by_role("link", name="Birch,").is_visible()
    assert table.get_by_role("link", name="Ash,").count() == 0
    assert page.get_by_text("1 move up between").is_visible()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("escalations-100001-")
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert rows[0][:4] == ["School URN", "Moved on", "UPN", "Pupil"]
    assert [r[3] for r in rows[1:]] == [escalated[1].full_name]
    assert rows[1][0] == escalated[1].school.urn
    assert rows[1][7] == "Persistent absence" and rows[1][10] == "alice"


def test_absence_by_group_tables_fit_a_laptop_screen(live_server, sign_in, senior_leader, escalated):
    school = escalated[0].school
    for key, name in Flag.STANDARD.items():
        Flag.objects.get_or_create(school=school, key=key, defaults={"name": name, "is_standard": True})
    flags = list(Flag.objects.filter(school=school))
    for pupil in escalated:
        pupil.flags.set(flags)
    page = sign_in("sam")
    page.set_viewport_size({"width": 1280, "height": 768})
    page.goto(f"{live_server.url}/school/{school.urn}/lists/absence/")
    page.get_by_role("heading", name="By pupil group (flags)").wait_for()
    clipped = page.evaluate(
        "[...document.querySelectorAll('.table-responsive')].filter(e => e.scrollWidth > e.clientWidth).length"
    )
    assert clipped == 0


def test_a_senior_leader_opens_who_is_behind_a_groups_persistent_absence(
    live_server, sign_in, senior_leader, escalated
):
    school = escalated[0].school
    today = timezone.localdate()
    group = escalated[0].registration_group
    absent = PupilFactory(school=school, registration_group=group, year_group=escalated[0].year_group, surname="Dale")
    start = today - timedelta(days=40)
    fill_register(absent, start, today - timedelta(days=1), lambda day, session: "O" if session else "/")  # 50%
    page = sign_in("sam")
    page.goto(f"{live_server.url}/school/{school.urn}/lists/absence/")
    year = escalated[0].year_group.name
    page.get_by_role("link", name=f"1 persistently absent in {year}: who they are").click()
    page.wait_for_url(f"**group=year-{escalated[0].year_group.code}")
    page.get_by_role("heading", name=f"{year}: 1 persistently absent pupil of 4, 1 severely").wait_for()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Dale,"))
    assert "50.0%" in row.inner_text() and "Severe" in row.inner_text()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    rows = list(csv.reader(io.StringIO(Path(download_info.value.path()).read_text(encoding="utf-8-sig"))))
    assert rows[0][:4] == ["School URN", "Group", "UPN", "Pupil"]
    assert [r[3] for r in rows[1:]] == [absent.full_name]
    page.get_by_role("link", name="← All groups").click()
    page.get_by_role("heading", name="By year group").wait_for()


def test_escalations_fit_a_phone_each_move_one_block(live_server, sign_in, senior_leader, escalated):
    page = sign_in("sam")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/school/{escalated[0].school.urn}/lists/escalations/")
    table = page.locator("#escalation-list table")
    table.get_by_role("link", name="Birch,").wait_for()
    assert table.evaluate("t => t.scrollWidth <= t.parentElement.clientWidth + 1")  # nothing off to the side
    assert table.get_by_text("Nothing logged yet").first.is_visible()
