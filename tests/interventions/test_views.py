"""The lead's dashboard, the pupil page, logging actions, the class view: what staff see and change."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from interventions import nightly, selectors, services
from interventions.models import ActionLog, Placement, Proposal, StageChange, Task
from pupils.calendar import monday_of
from pupils.models import AuditEvent, Flag, StaffMembership
from pupils.selectors import school_summaries
from pupils.services import school_calendar
from pupils.statistics import pct_as_printed
from tests.factories import MarkFactory, MembershipFactory, PupilFactory, RegistrationGroupFactory, UserFactory
from tests.interventions.conftest import before_joining_refusal, fill_register, fill_school_days

PASSWORD = "correct horse battery staple"


@pytest.fixture
def today():
    return timezone.localdate()


def pattern(every: int):
    counter = {"i": 0}

    def code_for(day, session):
        counter["i"] += 1
        return "O" if counter["i"] % every == 0 else ("/" if session == 0 else "\\")

    return code_for


#: One absence in every N sessions: 66.7%, 92.3%, 96.7%, 99%, 85.7%, 99.9% attendance.
EVERY = [3, 13, 30, 100, 7, 1000]


#: Distinct surnames, so a page's text tells pupils apart (Faker's may repeat); one that needs escaping.
SURNAMES = ("Ashworth", "Bennett", "O'Brien", "Dawson", "Ellis", "Fletcher", "Gill", "Hartley", "Iqbal", "Jones")


def make_pupils(school, n: int, today: date, group_name: str = "4B"):
    group = RegistrationGroupFactory(school=school, name=group_name)
    taken = {p.surname for p in school.pupils.all()}
    surnames = [name for name in SURNAMES if name not in taken]
    surnames += [f"{group_name}-pupil-{i}" for i in range(n)]
    pupils = []
    for i in range(n):
        pupil = PupilFactory(school=school, registration_group=group, surname=surnames[i])
        fill_register(pupil, today - timedelta(days=70), today - timedelta(days=1), pattern(EVERY[i % len(EVERY)]))
        pupils.append(pupil)
    return pupils


@pytest.fixture
def placed(school, ladder, today):
    pupils = make_pupils(school, 6, today)
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
    return pupils


def login(client, user):
    client.force_login(user)
    return client


def url(name, school, *args):
    return reverse(f"interventions:{name}", args=[school.urn, *args])


# --- dashboard ------------------------------------------------------------------------


def test_the_pupil_list_pages_by_fifty_and_its_links_land_on_the_list(client, school, ladder, attendance_lead, today):
    make_pupils(school, 52, today)
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
    login(client, attendance_lead)
    first = client.get(url("dashboard", school)).content.decode()
    assert "52 pupils." in first and "Page 1 of 2" in first
    assert 'href="?page=2#pupil-list">Next</a>' in first  # on a phone the list is below the chart: land on it
    second = client.get(url("dashboard", school) + "?page=2").content.decode()
    listed = second.split('id="pupil-table"')[1].split("</table>")[0]
    assert listed.count("<tr>") == 1 + 2  # the header row and the last two pupils
    assert 'href="?page=1#pupil-list">Previous</a>' in second


def test_lead_dashboard_shows_stage_counts_proposals_and_the_pupil_list(client, school, placed, attendance_lead):
    response = login(client, attendance_lead).get(url("dashboard", school))
    assert response.status_code == 200
    body = response.content.decode()
    for placement in Placement.objects.select_related("pupil"):
        assert escape(placement.pupil.surname) in body  # Faker makes O'Briens too
    assert "Moves awaiting approval" in body
    assert f"{Placement.objects.filter(stage__key='pa').count()}</span>" in body


def test_dashboard_filter_by_stage_is_in_the_url_and_narrows_the_list(client, school, placed, attendance_lead):
    at_pa = Placement.objects.filter(stage__key="pa").select_related("pupil")
    others = Placement.objects.exclude(stage__key="pa").select_related("pupil")
    assert at_pa.exists() and others.exists()
    response = login(client, attendance_lead).get(url("dashboard", school) + "?stage=pa")
    body = response.content.decode()
    assert all(escape(p.pupil.surname) in body for p in at_pa)
    assert f"{at_pa.count()} pupil" in body


def test_dashboard_finds_a_pupil_by_part_of_their_name_or_their_upn(client, school, placed, attendance_lead):
    """A parent rings: the lead types what they heard, not the class or the stage."""
    bennett, obrien = (Placement.objects.get(pupil__surname=name).pupil for name in ("Bennett", "O'Brien"))
    login(client, attendance_lead)

    def listed(query):
        body = client.get(url("dashboard", school), {"name": query}).content.decode()
        return {
            p.pupil.surname
            for p in Placement.objects.select_related("pupil")
            if f">{escape(p.pupil.surname)}, " in body
        }

    assert listed("benn") == {"Bennett"}
    assert listed(f"{bennett.forename.lower()} BENNETT") == {"Bennett"}
    assert listed("o'bri") == {"O'Brien"}
    assert listed(obrien.upn) == {"O'Brien"}
    assert listed(f"{bennett.forename} O'Brien") == ({"O'Brien"} if bennett.forename == obrien.forename else set())
    assert len(listed("")) == len(placed)
    body = client.get(url("dashboard", school), {"name": "Nobody-by-this-name"}).content.decode()
    assert "No pupils match." in body and "0 pupils match these filters" in body


def test_the_dashboard_says_why_each_pupil_above_the_first_stage_is_there(client, school, placed, attendance_lead):
    page = login(client, attendance_lead).get(url("dashboard", school)).content.decode()
    rows = page[page.index('id="pupil-list"') :]
    for placement in Placement.objects.select_related("pupil", "stage"):
        row = rows[rows.index(f">{escape(placement.pupil.surname)}, ") :]
        row = row[: row.index("</tr>")]
        if placement.stage.position:
            assert f"data-why>{escape(placement.reasons[0])[:80]}" in row
        else:
            assert "data-why" not in row


def test_sen_status_is_filtered_under_sen_not_again_under_flag(client, school, placed, attendance_lead):
    page = login(client, attendance_lead).get(url("dashboard", school)).content.decode()
    flag_filter = page[page.index('name="flag"') :]
    flag_filter = flag_filter[: flag_filter.index("</select>")]
    assert "Education, health and care plan" not in flag_filter and "SEN support" not in flag_filter
    assert 'value="young_carer"' in flag_filter


def test_a_name_searched_as_it_is_typed_is_not_kept_in_the_cache(client, school, placed, attendance_lead):
    from django.core.cache import cache

    login(client, attendance_lead).get(url("dashboard", school))
    kept = len(cache._cache)
    for typed in ("b", "be", "ben", "benn"):
        client.get(url("dashboard", school), {"name": typed})
    assert len(cache._cache) == kept
    client.get(url("dashboard", school), {"stage": "pa"})
    assert len(cache._cache) > kept  # a filter chosen from the lists is worth keeping


def test_dashboard_filters_say_what_choosing_nothing_means(client, school, placed, attendance_lead):
    body = login(client, attendance_lead).get(url("dashboard", school)).content.decode()
    for words in ("Any class", "Any year", "Any flag", "Any stage"):
        assert f'<option value="" selected>{words}</option>' in body
    assert "---------" not in body


def test_the_class_filters_list_reception_first_as_the_register_does(client, school, placed, attendance_lead):
    from pupils.models import YearGroup

    for name, year in (("RB", "R"), ("RA", "R"), ("1A", "1")):
        RegistrationGroupFactory(school=school, name=name, year_group=YearGroup.objects.get(school=school, code=year))
    login(client, attendance_lead)
    for page in ("dashboard", "escalations"):
        body = client.get(url(page, school)).content.decode()
        select = body[
            body.index('name="registration_group"') : body.index("</select>", body.index('name="registration_group"'))
        ]
        names = re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', select)
        assert names[:3] == ["RA", "RB", "1A"], page
    body = client.get(reverse("letters:queue", args=[school.urn])).content.decode()  # the letter queue's too
    select = body[body.index('name="group"') : body.index("</select>", body.index('name="group"'))]
    assert re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', select)[:3] == ["RA", "RB", "1A"]


def test_the_chart_leaves_out_first_weeks_with_registers_for_only_a_few_pupils(client, school, placed, attendance_lead):
    """A school that imported its recent registers, and a few pupils' from further back."""
    from interventions.models import SchoolWeek

    weeks = list(SchoolWeek.objects.filter(school=school).order_by("week_start"))
    assert len(weeks) > 4 and {w.pupils for w in weeks} == {6}
    for week in weeks[:3]:
        week.pupils, week.persistent_absence_pct = 2, 100
        week.save()
    page = login(client, attendance_lead).get(url("dashboard", school)).content.decode()
    first = weeks[3].week_start
    assert (
        f"Weeks before {first.day} {first:%b %Y} are not drawn: they hold registers for at most 2 pupils, against 6 "
        "in the weeks drawn, too few to stand for the school."
    ) in page
    assert f">{first.day} {first:%b}</text>" in page  # the chart's first label
    assert f">{weeks[2].week_start.day} {weeks[2].week_start:%b}</text>" not in page

    weeks[0].pupils = 3  # half the pupils: enough to draw from the first week
    weeks[0].save()
    shown = selectors.chart_weeks(school=school, since=weeks[0].week_start)
    assert (shown.left_out, shown.note) == ([], "")


def test_the_dashboard_says_when_this_years_registers_start_after_the_year_began(
    client, school, placed, attendance_lead, staff, today
):
    from interventions.models import SchoolWeek

    login(client, attendance_lead)
    calendar = school_calendar(school)
    began = calendar.add_school_days(calendar.academic_year_window(timezone.localdate())[0], 0)
    weeks = list(SchoolWeek.objects.filter(school=school, week_start__gte=monday_of(began)).order_by("week_start"))
    first = weeks[0].week_start
    assert first > monday_of(began)  # these pupils' registers start some weeks into the year
    page = client.get(url("dashboard", school)).content.decode()
    assert (
        f"This school year's figures, here and in letters, count from the week of {first.day} {first:%b %Y}: the "
        f"first registers held. The year began on {began.day} {began:%b %Y}, so they are not yet the whole year's"
    ) in page

    assert "so they are not yet the whole year's: import the earlier registers to make them whole." in page
    absence = client.get(url("absence_groups", school)).content.decode()  # where an LA officer compares schools
    assert f"count from the week of {first.day} {first:%b %Y}: the first registers held." in absence
    officer = login(client, staff["lara"]).get(url("absence_groups", school)).content.decode()
    assert "the school can import the earlier registers to make them whole." in officer
    login(client, attendance_lead)

    SchoolWeek.objects.create(school=school, week_start=monday_of(began), pupils=6, attendance_pct=100)
    assert "registers-start" not in client.get(url("dashboard", school)).content.decode()


def test_an_la_officer_sees_the_dashboard_as_read_only(client, school, placed, staff):
    from interventions.models import Task

    Task.objects.filter(school=school).update(due_on=timezone.localdate())
    officer = login(client, staff["lara"]).get(url("dashboard", school)).content.decode()
    assert '<span class="badge text-bg-secondary fs-6 align-middle" id="read-only">Read only</span>' in officer
    assert "Tasks and reviews due at the school" in officer and "Your tasks" not in officer
    assert 'id="others-tasks">Due, by whom: Attendance lead' in officer
    assert "or decide these and the next ones appear" not in officer
    ladders = client.get(url("ladder", school)).content.decode()
    assert "yours to edit" not in ladders and "copy one to make it" not in ladders

    lead = login(client, staff["alice"]).get(url("dashboard", school)).content.decode()
    assert 'id="read-only"' not in lead
    assert "Your tasks and reviews due" in lead
    assert "yours to edit" in client.get(url("ladder", school)).content.decode()


def test_dashboard_htmx_filter_returns_only_the_list(client, school, placed, attendance_lead):
    response = login(client, attendance_lead).get(
        url("dashboard", school) + "?stage=pa", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="pupil-list"
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="pupil-list">')
    assert "<nav" not in body


def queries_for(client, path) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(path).status_code == 200
    return len(context)


def test_dashboard_queries_do_not_grow_with_pupils(client, school, ladder, attendance_lead, today):
    make_pupils(school, 3, today)
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
    login(client, attendance_lead)
    few = queries_for(client, url("dashboard", school))
    make_pupils(school, 30, today, group_name="5C")
    nightly.nightly_run(school=school, as_of=today)
    assert queries_for(client, url("dashboard", school)) == few


def test_class_teacher_and_outsider_cannot_open_the_dashboard(client, school, placed, class_teacher, outsider):
    assert login(client, class_teacher).get(url("dashboard", school)).status_code == 404
    assert login(client, outsider).get(url("dashboard", school)).status_code == 404


# --- pupil page -------------------------------------------------------------------------


def test_pupil_page_shows_figures_timeline_and_is_audited(client, school, placed, attendance_lead):
    pupil = placed[0]
    response = login(client, attendance_lead).get(url("pupil", school, pupil.pk))
    assert response.status_code == 200
    record = response.context["record"]
    assert record.placement.stage.key == StageChange.objects.get(pupil=pupil).to_stage.key
    assert record.year.possible > 0
    assert response.context["record"].heatmap
    event = AuditEvent.objects.get(pupil=pupil)
    assert (event.user, event.verb) == (attendance_lead, "view")


def test_pupil_page_spells_out_each_code_in_the_grid_without_a_mouse(client, school, placed, attendance_lead):
    from pupils.codes import code_table

    pupil = placed[0]
    html = login(client, attendance_lead).get(url("pupil", school, pupil.pk)).content.decode()
    used = sorted(set(pupil.marks.values_list("code", flat=True)))
    key = html.split("What the codes mean")[1].split("</details>")[0]
    for code in used:
        assert (
            f'text-end">{escape(code)}</dt><dd class="col-10 col-sm-11 mb-0">{escape(code_table()[code].description)}<'
            in key
        )
    assert key.count("<dt") == len(used)


def test_pupil_page_grid_names_each_session_as_people_write_dates(client, school, placed, attendance_lead):
    pupil = placed[0]
    record = login(client, attendance_lead).get(url("pupil", school, pupil.pk)).context["record"]
    cells = [cell for _, row in record.heatmap for cell in row if cell is not None]
    early = [cell for cell in cells if cell.day.day < 10]
    assert early, "the register should reach at least one day before the 10th of a month"
    for cell in early:
        weekday = ("Mon", "Tue", "Wed", "Thu", "Fri")[cell.day.weekday()]
        session = "AM" if cell.session == 0 else "PM"
        assert cell.title.startswith(f"{weekday} {cell.day.day} {cell.day:%b} {session}: "), cell.title


def test_pupil_page_grid_shows_days_before_joining_and_after_leaving_as_not_on_roll(school, register):
    joiner = PupilFactory(school=school, start_on=date(2025, 11, 12))  # a Wednesday
    register(joiner, date(2025, 11, 12), date(2025, 11, 26), lambda day, session: "/")
    record = selectors.pupil_record(pupil=joiner, ladder=None, on=date(2025, 11, 26))
    assert record.heatmap[0][0] == date(2025, 11, 10)  # no weeks before they joined
    first_week = record.heatmap[0][1]
    assert [c.title for c in first_week[:4]] == [
        "Mon 10 Nov AM: not on roll",
        "Mon 10 Nov PM: not on roll",
        "Tue 11 Nov AM: not on roll",
        "Tue 11 Nov PM: not on roll",
    ]
    assert first_week[4].code == "/" and record.off_roll_days

    leaver = PupilFactory(school=school, start_on=date(2021, 9, 1), leaving_on=date(2025, 11, 18))  # a Tuesday
    register(leaver, date(2025, 9, 3), date(2025, 11, 18), lambda day, session: "/")
    record = selectors.pupil_record(pupil=leaver, ladder=None, on=date(2025, 11, 26))
    last_monday, last_week = record.heatmap[-1]
    assert last_monday == date(2025, 11, 17)  # nothing after the week they left
    assert [c.code for c in last_week[:4]] == ["/"] * 4
    assert {c.css for c in last_week[4:]} == {"mark-off-roll"}

    stayer = PupilFactory(school=school, start_on=date(2021, 9, 1))
    register(stayer, date(2025, 9, 3), date(2025, 11, 26), lambda day, session: "/")
    assert not selectors.pupil_record(pupil=stayer, ladder=None, on=date(2025, 11, 26)).off_roll_days


def test_pupil_page_writes_hours_lost_as_the_letters_do(client, school, placed, attendance_lead):
    school.session_minutes = 180  # three hours a session: whole hours, which the raw figure writes as "9.00"
    school.save()
    page = login(client, attendance_lead).get(url("pupil", school, placed[0].pk))
    hours = page.context["record"].year.hours_lost
    assert hours == int(hours) > 0
    assert f'>Hours of learning lost</th><td class="text-end">{int(hours)}</td>' in page.content.decode()
    assert f"{hours:.2f}" not in page.content.decode()


def test_stored_figures_are_the_register_rounded_once_as_every_page_prints_it(client, school, ladder, attendance_lead):
    """53 of 54 sessions is 98.148%: 98.1% everywhere (stored to two places, 98.15, it showed as 98.2%)."""
    pupil = PupilFactory(school=school, surname="Rounded")
    away = iter([True])
    first = fill_school_days(pupil, 27, date(2025, 11, 26), lambda day, session: "O" if next(away, False) else "/")
    nightly.nightly_run(school=school, as_of=date(2025, 11, 26))
    exact = school_summaries(school=school, start=first, end=date(2025, 11, 26))[pupil.pk]
    assert (exact.attended, exact.possible) == (53, 54)
    placement = Placement.objects.get(pupil=pupil)
    assert placement.attendance_pct == Decimal("98.1") == pct_as_printed(exact.attendance_pct)
    page = login(client, attendance_lead).get(url("dashboard", school)).content.decode()
    row = page[page.index(">Rounded, ") :]
    assert "98.1%" in row[: row.index("</tr>")]


def test_another_schools_pupil_is_404(client, school, other_school, placed, attendance_lead):
    theirs = PupilFactory(school=other_school)
    assert login(client, attendance_lead).get(url("pupil", school, theirs.pk)).status_code == 404
    assert login(client, attendance_lead).get(url("pupil", other_school, theirs.pk)).status_code == 404


def test_class_teacher_sees_own_class_pupil_but_not_another_class(client, school, placed, class_teacher, today):
    other_class = make_pupils(school, 1, today, group_name="5C")[0]
    login(client, class_teacher)
    assert client.get(url("pupil", school, placed[0].pk)).status_code == 200
    assert client.get(url("pupil", school, other_class.pk)).status_code == 404


def test_pupil_page_queries_do_not_grow_with_the_record(client, school, ladder, attendance_lead, today):
    pupil = make_pupils(school, 1, today)[0]
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
    login(client, attendance_lead)
    # One action logged, so the record's every part is read once (its corrections are read with the actions).
    services.action_log(pupil=pupil, user=attendance_lead, kind="meeting", occurred_on=today)
    few = queries_for(client, url("pupil", school, pupil.pk))
    for i in range(10):
        action = services.action_log(
            pupil=pupil,
            user=attendance_lead,
            kind="phone_call",
            occurred_on=today,
            next_step=f"Step {i}",
            next_step_due=today,
        )
        services.action_correct(
            action=action, user=attendance_lead, reason="spelling", occurred_on=today, outcome="Spoke", notes=""
        )
    make_pupils(school, 20, today, group_name="5C")
    assert queries_for(client, url("pupil", school, pupil.pk)) == few


# --- logging actions ----------------------------------------------------------------------


def test_the_log_form_heads_its_choices_only_when_a_stage_offers_actions_of_its_own(
    client, school, placed, class_teacher
):
    login(client, class_teacher)
    by_stage = {p.stage.key: p.pupil for p in Placement.objects.select_related("stage", "pupil")}
    at_concern = client.get(url("pupil", school, by_stage["concern"].pk)).content.decode()
    assert '<optgroup label="Actions at Concern">' in at_concern and '<optgroup label="Common actions">' in at_concern
    at_first = client.get(url("pupil", school, by_stage["universal"].pk)).content.decode()
    assert "<optgroup" not in at_first.split('name="kind"')[1].split("</select>")[0]
    assert '<option value="phone_call">' in at_first
    assert "What is logged here stays on the pupil's record." in at_first


def test_the_pupils_own_page_does_not_name_them_again_on_each_task(client, school, placed, attendance_lead):
    task = Task.objects.filter(status="open", role="attendance_lead").select_related("pupil").first()
    login(client, attendance_lead)
    page = client.get(url("pupil", school, task.pupil_id)).content.decode()
    tasks = page[page.index('id="tasks-list"') :]
    tasks = tasks[: tasks.index("</ul>")]
    pupil_link = f'<a href="{url("pupil", school, task.pupil_id)}">'
    assert task.title in tasks and pupil_link not in tasks
    row = client.post(url("task_done", school, task.pk), {"on_pupil": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Done" in row and pupil_link not in row
    # Elsewhere (the lead's dashboard) the row says whose task it is.
    other = Task.objects.filter(status="open", role="attendance_lead").exclude(pupil=task.pupil).first()
    if other is not None:
        assert (
            f'<a href="{url("pupil", school, other.pupil_id)}">'
            in client.get(url("dashboard", school)).content.decode()
        )


def test_logging_an_action_with_a_next_step_creates_a_task(client, school, placed, class_teacher, today):
    pupil = placed[0]
    response = login(client, class_teacher).post(
        url("action_create", school, pupil.pk),
        {
            "kind": "parent_conversation",
            "occurred_on": today.isoformat(),
            "outcome": "Mum says illness; will send note",
            "next_step": "Check the note arrived",
            "next_step_due": (today + timedelta(days=3)).isoformat(),
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Logged: Conversation with parent/carer" in body
    # The pupil page's lists come back out of band, with the new action and its next step.
    actions = body[body.index('<ul class="list-unstyled mb-0" id="actions-list" hx-swap-oob="true">') :]
    assert "Outcome: Mum says illness; will send note" in actions[: actions.index("</ul>")]
    tasks = body[body.index('<ul class="list-unstyled mb-0" id="tasks-list" hx-swap-oob="true">') :]
    assert "Check the note arrived" in tasks[: tasks.index("</ul>")]
    action = ActionLog.objects.get(pupil=pupil)
    assert (action.kind, action.by, action.outcome) == (
        "parent_conversation",
        class_teacher,
        "Mum says illness; will send note",
    )
    task = Task.objects.get(pupil=pupil, kind="next_step")
    assert (task.title, task.assigned_to, task.due_on) == (
        "Check the note arrived",
        class_teacher,
        today + timedelta(days=3),
    )


def test_an_action_before_the_pupil_joined_or_a_next_step_already_due_is_refused(
    client, school, placed, attendance_lead, today
):
    pupil = placed[0]
    response = login(client, attendance_lead).post(
        url("action_create", school, pupil.pk),
        {
            "kind": "phone_call",
            "occurred_on": "1900-01-01",
            "next_step": "Call back",
            "next_step_due": (today - timedelta(days=1)).isoformat(),
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert before_joining_refusal("Monday 1 January 1900", pupil) in body
    yesterday = today - timedelta(days=1)
    assert f"{yesterday:%A} {yesterday.day} {yesterday:%B %Y} has passed: a next step is due today or later." in body
    assert "needs both what to do" not in body
    assert not ActionLog.objects.exists() and not Task.objects.filter(kind="next_step").exists()


def test_logging_a_stage_action_uses_its_title(client, school, placed, attendance_lead, today):
    pupil = Placement.objects.filter(stage__key="concern").first().pupil
    login(client, attendance_lead).post(
        url("action_create", school, pupil.pk), {"kind": "stage:call", "occurred_on": today.isoformat()}
    )
    assert ActionLog.objects.get(pupil=pupil).title == "Phone the family"


def action_choices(page: str) -> list[tuple[str, bool]]:
    """The "What happened" options on a page: (value, selected)."""
    select = page[page.index('name="kind"') : page.index("</select>", page.index('name="kind"'))]
    return [(value, "selected" in rest) for value, rest in re.findall(r'<option value="([^"]*)"([^>]*)>', select)]


def test_the_action_form_asks_what_happened_and_offers_each_person_only_their_stage_actions(
    client, school, placed, attendance_lead, class_teacher, today
):
    pupil = Placement.objects.filter(stage__key="pa").first().pupil  # PA's action is the attendance lead's meeting
    page = login(client, class_teacher).get(url("pupil", school, pupil.pk)).content.decode()
    choices = action_choices(page)
    assert choices[0] == ("", True) and not any(selected for _, selected in choices[1:])
    assert "stage:meeting" not in dict(choices) and "pupil_conversation" in dict(choices)

    response = client.post(url("action_create", school, pupil.pk), {"occurred_on": today.isoformat()})
    assert response.status_code == 422 and "Choose what happened." in response.content.decode()
    response = client.post(url("action_create", school, pupil.pk), {"kind": "stage:meeting", "occurred_on": today})
    assert response.status_code == 422
    assert not ActionLog.objects.filter(pupil=pupil).exists()

    lead_page = login(client, attendance_lead).get(url("pupil", school, pupil.pk)).content.decode()
    assert "stage:meeting" in dict(action_choices(lead_page))


def test_logging_a_stage_action_marks_its_task_done(client, school, placed, class_teacher, today):
    pupil = Placement.objects.filter(stage__key="concern").first().pupil
    task = Task.objects.get(pupil=pupil, template_key="call", status="open")
    login(client, class_teacher).post(
        url("action_create", school, pupil.pk),
        {"kind": "stage:call", "occurred_on": today.isoformat()},
        HTTP_HX_REQUEST="true",
    )
    task.refresh_from_db()
    assert (task.status, task.completed_by) == ("done", class_teacher)
    assert ActionLog.objects.get(pupil=pupil).task == task
    page = client.get(url("tasks", school)).content.decode()
    assert "Phone the family" not in page


def stage_action_label(page: str, key: str) -> str:
    return re.search(rf'<option value="stage:{key}"[^>]*>([^<]*)</option>', page)[1]


def test_a_stage_action_done_is_still_offered_saying_when_it_was_done(
    client, school, placed, class_teacher, attendance_lead, ladder, today
):
    """So nobody phones the family a second time not knowing it was done; it can still be done again."""
    pupil = Placement.objects.filter(stage__key="concern").first().pupil
    page = login(client, class_teacher).get(url("pupil", school, pupil.pk)).content.decode()
    assert stage_action_label(page, "call") == "Phone the family"

    form = client.post(
        url("action_create", school, pupil.pk),
        {"kind": "stage:call", "occurred_on": today.isoformat()},
        HTTP_HX_REQUEST="true",
    ).content.decode()

    done = f"Phone the family (done {today.day} {today:%b})"
    assert stage_action_label(form, "call") == done  # the form put back after saving
    page = client.get(url("pupil", school, pupil.pk)).content.decode()
    assert stage_action_label(page, "call") == done
    # Out of the stage and back: the new entry's call is still to make.
    services.pupil_move(pupil=pupil, stage=ladder.stages.get(key="universal"), user=attendance_lead, reason="Better")
    services.pupil_move(pupil=pupil, stage=ladder.stages.get(key="concern"), user=attendance_lead, reason="Worse")
    page = client.get(url("pupil", school, pupil.pk)).content.decode()
    assert stage_action_label(page, "call") == "Phone the family"


def test_logging_a_stage_action_closes_the_task_of_the_pupils_latest_entry_and_only_if_theirs(
    client, school, placed, class_teacher, attendance_lead, ladder, today
):
    pupil = Placement.objects.filter(stage__key="concern").first().pupil
    earlier = Task.objects.get(pupil=pupil, template_key="call", status="open")
    # Out of the stage and back: a new entry with its own call to make; the earlier task was left open.
    services.pupil_move(pupil=pupil, stage=ladder.stages.get(key="universal"), user=attendance_lead, reason="Better")
    services.pupil_move(pupil=pupil, stage=ladder.stages.get(key="concern"), user=attendance_lead, reason="Worse")
    latest = Task.objects.filter(pupil=pupil, template_key="call", status="open").exclude(pk=earlier.pk).get()
    latest.assigned_to = UserFactory(username="carol")  # another class teacher's
    latest.save()
    login(client, class_teacher).post(
        url("action_create", school, pupil.pk), {"kind": "stage:call", "occurred_on": today.isoformat()}
    )
    earlier.refresh_from_db()
    latest.refresh_from_db()
    assert (earlier.status, latest.status) == ("open", "open")  # not the old entry's; not bob's to close
    assert ActionLog.objects.get(pupil=pupil, title="Phone the family").task is None

    login(client, attendance_lead).post(
        url("action_create", school, pupil.pk), {"kind": "stage:call", "occurred_on": today.isoformat()}
    )
    earlier.refresh_from_db()
    latest.refresh_from_db()
    assert (earlier.status, latest.status, latest.completed_by) == ("open", "done", attendance_lead)

    # Logged again: the latest entry's task is done, and the earlier entry's is still not this one.
    client.post(url("action_create", school, pupil.pk), {"kind": "stage:call", "occurred_on": today.isoformat()})
    earlier.refresh_from_db()
    assert earlier.status == "open"


def test_bad_action_gets_messages_in_place_and_saves_nothing(client, school, placed, attendance_lead, today):
    pupil = placed[0]
    response = login(client, attendance_lead).post(
        url("action_create", school, pupil.pk),
        {"kind": "phone_call", "occurred_on": (today + timedelta(days=2)).isoformat(), "next_step": "Call back"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "cannot be logged for a date in the future" in body
    assert "needs both what to do and when it is due" in body
    assert not ActionLog.objects.exists() and not Task.objects.filter(kind="next_step").exists()


def test_an_empty_other_action_or_notes_too_long_are_refused_in_place(client, school, placed, attendance_lead, today):
    pupil = placed[0]
    login(client, attendance_lead)

    def log(**fields):
        form = {"occurred_on": today.isoformat(), **fields}
        return client.post(url("action_create", school, pupil.pk), form, HTTP_HX_REQUEST="true")

    blank = log(kind="other", outcome="   ", notes=" \n ")
    assert blank.status_code == 422 and "needs an outcome or notes" in blank.content.decode()
    long = log(kind="phone_call", notes="x" * 5001)
    assert long.status_code == 422 and "at most 5000 characters (it has 5001)" in long.content.decode()
    assert not ActionLog.objects.exists()
    assert log(kind="other", notes="Met Mum at the gate").status_code in (200, 302)
    assert ActionLog.objects.get().notes == "Met Mum at the gate"


def test_la_officer_cannot_log_actions(client, school, placed):
    officer = MembershipFactory(
        user=UserFactory(username="laura"), school=school, role=StaffMembership.Role.LA_OFFICER
    ).user
    response = login(client, officer).post(url("action_create", school, placed[0].pk), {"kind": "phone_call"})
    assert response.status_code == 404
    assert not ActionLog.objects.exists()


def test_completing_a_task_twice_logs_it_once(client, school, placed, attendance_lead):
    task = Task.objects.filter(status="open").first()
    login(client, attendance_lead)
    for _ in range(2):
        response = client.post(url("task_done", school, task.pk), HTTP_HX_REQUEST="true")
        assert response.status_code == 200
    task.refresh_from_db()
    assert task.status == "done" and task.completed_by == attendance_lead
    assert ActionLog.objects.filter(task=task).count() == 1


def test_a_task_done_keeps_what_happened_and_can_be_taken_back_at_once(client, school, placed, attendance_lead):
    task = Task.objects.filter(status="open", role="attendance_lead").first()
    login(client, attendance_lead)
    row = client.post(
        url("task_done", school, task.pk), {"outcome": "  Mum rang back: Sam is ill  "}, HTTP_HX_REQUEST="true"
    ).content.decode()
    logged = ActionLog.objects.get(task=task)
    assert logged.outcome == "Mum rang back: Sam is ill"
    assert f'aria-label="Undo marking done: {escape(task.title)}, for {escape(task.pupil.full_name)}"' in row

    row = client.post(url("task_reopen", school, task.pk), HTTP_HX_REQUEST="true").content.decode()
    task.refresh_from_db()
    assert (task.status, task.completed_by, task.completed_at) == ("open", None, None)
    assert not ActionLog.objects.filter(pk=logged.pk).exists()  # the record no longer says it was done
    assert f'aria-label="Mark done: {escape(task.title)}' in row
    assert 'value="Mum rang back: Sam is ill"' in row  # what was typed comes back with the box
    # The box takes no more than the record keeps.
    assert f'maxlength="{ActionLog._meta.get_field("outcome").max_length}"' in row
    assert AuditEvent.objects.filter(what__startswith="took back marking task", pupil=task.pupil).exists()


def test_only_who_pressed_done_may_take_it_back_and_only_for_a_while(client, school, placed, attendance_lead):
    task = Task.objects.filter(status="open", role="attendance_lead").first()
    colleague = MembershipFactory(school=school, role=StaffMembership.Role.SENIOR_LEADER).user
    login(client, attendance_lead).post(url("task_done", school, task.pk), HTTP_HX_REQUEST="true")

    login(client, colleague)
    response = client.post(url("task_reopen", school, task.pk), HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "Only the person who marked this task done can take it back." in response.content.decode()

    Task.objects.filter(pk=task.pk).update(completed_at=timezone.now() - timedelta(minutes=selectors.UNDO_MINUTES))
    login(client, attendance_lead)
    response = client.post(url("task_reopen", school, task.pk), HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "marked done more than 10 minutes ago, so it stays on the record" in response.content.decode()
    assert "Undo marking done" not in response.content.decode()
    task.refresh_from_db()
    assert task.status == "done" and ActionLog.objects.filter(task=task).count() == 1


def test_undo_outlasts_the_page_done_was_pressed_on(client, school, placed, attendance_lead):
    task = Task.objects.filter(status="open", role="attendance_lead").first()
    login(client, attendance_lead).post(url("task_done", school, task.pk), HTTP_HX_REQUEST="true")
    page = client.get(url("tasks", school)).content.decode()
    start = page.index("Marked done in the last few minutes")
    just_done = page[start : page.index("</section>", start)]
    assert f'aria-label="Undo marking done: {escape(task.title)}, for {escape(task.pupil.full_name)}"' in just_done

    response = client.post(url("task_reopen", school, task.pk), {"next": url("tasks", school)})
    assert response.status_code == 302 and response["Location"] == url("tasks", school)  # back to the list
    said = client.get(url("tasks", school)).content.decode()
    assert f"{escape(task.title)}, for {escape(task.pupil.full_name)}: open again." in said
    task.refresh_from_db()
    assert task.status == "open" and "Marked done in the last few minutes" not in said

    # Not once the time has passed, nor for someone else.
    client.post(url("task_done", school, task.pk), HTTP_HX_REQUEST="true")
    Task.objects.filter(pk=task.pk).update(completed_at=timezone.now() - timedelta(minutes=selectors.UNDO_MINUTES))
    assert "Marked done in the last few minutes" not in client.get(url("tasks", school)).content.decode()
    Task.objects.filter(pk=task.pk).update(completed_at=timezone.now())
    colleague = MembershipFactory(school=school, role=StaffMembership.Role.ATTENDANCE_LEAD).user
    assert (
        "Marked done in the last few minutes" not in login(client, colleague).get(url("tasks", school)).content.decode()
    )


def test_a_task_closed_by_logging_an_action_cannot_be_taken_back_from_its_row(
    client, school, placed, class_teacher, today
):
    pupil = Placement.objects.filter(stage__key="concern").first().pupil
    task = Task.objects.get(pupil=pupil, template_key="call", status="open")
    login(client, class_teacher).post(
        url("action_create", school, pupil.pk),
        {"kind": "stage:call", "occurred_on": today.isoformat(), "outcome": "Dad: car trouble"},
    )
    # A Tasks page opened before that still offers Done: pressing it changes nothing, and offers no Undo.
    row = client.post(url("task_done", school, task.pk), HTTP_HX_REQUEST="true").content.decode()
    assert "Undo marking done" not in row
    response = client.post(url("task_reopen", school, task.pk), HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "closed by logging an action: that action stays on the record" in response.content.decode()
    assert ActionLog.objects.get(task=task).outcome == "Dad: car trouble"


def test_a_task_done_cannot_be_taken_back_once_the_pupil_has_moved_stage(client, school, placed, attendance_lead):
    task = Task.objects.filter(status="open", role="attendance_lead", stage_change__isnull=False).first()
    login(client, attendance_lead).post(url("task_done", school, task.pk), HTTP_HX_REQUEST="true")
    other = task.stage_change.ladder.stages.exclude(pk=task.stage_change.to_stage_id).first()
    services.pupil_move(pupil=task.pupil, stage=other, user=attendance_lead, reason="Agreed at panel")
    response = client.post(url("task_reopen", school, task.pk), HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "moved stage since: this task belongs to the stage they left" in response.content.decode()
    task.refresh_from_db()
    assert task.status == "done"


def test_a_null_character_in_how_a_task_went_or_a_reason_is_refused_in_words(
    client, school, placed, attendance_lead, proposal
):
    task = Task.objects.filter(status="open", role="attendance_lead").first()
    login(client, attendance_lead)
    response = client.post(url("task_done", school, task.pk), {"outcome": "Rang\x00 mum"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422 and "Null characters are not allowed." in response.content.decode()
    task.refresh_from_db()
    assert task.status == "open"
    response = client.post(
        url("proposal_decide", school, proposal.pk),
        {"decision": "approve", "reason": "Agreed\x00"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422 and "Null characters are not allowed." in response.content.decode()
    proposal.refresh_from_db()
    assert proposal.status == "pending"


def test_what_happened_too_long_for_a_task_is_refused_and_given_back(client, school, placed, attendance_lead):
    task = Task.objects.filter(status="open", role="attendance_lead").first()
    outcome = "Spoke to dad at length. " * 15  # 360 characters
    response = login(client, attendance_lead).post(
        url("task_done", school, task.pk), {"outcome": outcome}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert f"Keep how it went to 300 characters: this has {len(outcome.strip())}." in body
    assert f'value="{outcome}"' in body
    task.refresh_from_db()
    assert task.status == "open" and not ActionLog.objects.filter(task=task).exists()


def test_a_class_teacher_closes_their_own_roles_tasks_but_not_the_leads(client, school, placed, class_teacher):
    theirs = Task.objects.filter(status="open", role="class_teacher", pupil__in=placed).first()
    leads = Task.objects.filter(status="open", role="attendance_lead", pupil__in=placed).first()
    assert theirs is not None and leads is not None
    login(client, class_teacher)

    page = client.get(reverse("interventions:pupil", args=[school.urn, leads.pupil_id])).content.decode()
    assert escape(leads.title) in page and f'aria-label="Mark done: {escape(leads.title)}, for ' not in page
    assert client.post(url("task_done", school, leads.pk)).status_code == 404
    leads.refresh_from_db()
    assert leads.status == "open"

    assert client.post(url("task_done", school, theirs.pk)).status_code == 302
    theirs.refresh_from_db()
    assert (theirs.status, theirs.completed_by) == ("done", class_teacher)


def test_log_conversation_works_for_a_second_session_served_the_cached_class_tables(school, placed, class_teacher):
    """The class tables are cached for everyone with the same classes: the form's token must be each session's own."""
    from django.test import Client

    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    for client in (first, second):
        client.force_login(class_teacher)
    first.get(url("classes", school))  # fills the cache
    page = second.get(url("classes", school)).content.decode()
    # The token a browser sends: the last one before the button, in the button's form.
    before_button = page[: page.index(f"{placed[0].pk}/quick-log/")]
    token = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', before_button)[-1]
    response = second.post(url("quick_log", school, placed[0].pk), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert ActionLog.objects.filter(pupil=placed[0], kind=ActionLog.Kind.PUPIL_CONVERSATION).count() == 1


# --- my tasks -------------------------------------------------------------------------------


def _task(pupil, title, due_on, *, role="", assigned_to=None, status="open"):
    return Task.objects.create(
        school=pupil.school, pupil=pupil, title=title, due_on=due_on, role=role, assigned_to=assigned_to, status=status
    )


@pytest.fixture
def tasks_for_everyone(school, class_teacher, today):
    """One pupil in the teacher's class 4B and one in 5C, and tasks for different people."""
    ours = PupilFactory(school=school, registration_group=class_teacher.memberships.get().classes.get(), surname="Ours")
    theirs = PupilFactory(school=school, registration_group=RegistrationGroupFactory(school=school, name="5C"))
    office = MembershipFactory(school=school, role=StaffMembership.Role.OFFICE, user=UserFactory(username="owen")).user
    _task(ours, "Ring home: first-day follow-up", today - timedelta(days=1), role="office")
    _task(ours, "Send the attendance leaflet", today, role="office", status="done")
    _task(ours, "Talk to Ours about mornings", today, role="class_teacher")
    _task(ours, "Check the register notes", today + timedelta(days=3), assigned_to=class_teacher)
    _task(theirs, "Talk to 5C pupil", today, role="class_teacher")
    _task(ours, "Check the LA notification duties", today, role="attendance_lead")
    return office


def _section(page: str, heading: str) -> str:
    """The text of one section of the tasks page, from its heading to the next section."""
    start = page.index(f">{heading} <")
    return page[start : page.find("</section>", start)]


def test_my_tasks_shows_each_person_only_their_own_open_tasks_by_when_due(
    client, school, class_teacher, tasks_for_everyone
):
    office = tasks_for_everyone
    page = login(client, office).get(url("tasks", school)).content.decode()
    overdue = _section(page, "Overdue")
    assert "Ring home: first-day follow-up" in overdue and 'aria-label="Mark done: Ring home' in overdue
    for not_theirs in ("Send the attendance leaflet", "Talk to Ours", "Check the register notes", "LA notification"):
        assert not_theirs not in page

    page = login(client, class_teacher).get(url("tasks", school)).content.decode()
    assert "Talk to Ours about mornings" in _section(page, "Due today")
    assert "Check the register notes" in _section(page, "Coming up")
    # Everything listed as theirs is theirs to close.
    assert page.count('aria-label="Mark done: ') == 2
    assert "Overdue" not in page
    for not_theirs in ("Ring home", "Talk to 5C pupil", "LA notification"):
        assert not_theirs not in page


def test_my_tasks_come_soonest_due_first_with_reviews_at_a_stage_together(
    client, school, placed, attendance_lead, ladder, today
):
    at_concern = Placement.objects.filter(stage__key="concern").first().pupil
    moved = Placement.objects.filter(stage__key="universal").first().pupil
    services.pupil_move(pupil=moved, stage=ladder.stages.get(key="concern"), user=attendance_lead, reason="Worried")
    _task(at_concern, "Zoom call with the LA officer", today + timedelta(days=1), role="attendance_lead")
    coming_up = _section(login(client, attendance_lead).get(url("tasks", school)).content.decode(), "Coming up")
    headings = [h.strip() for h in re.findall(r'<h3 class="h6 mt-3 mb-1">([^<]*)', coming_up)]
    assert headings == ["Zoom call with the LA officer", "Invite parents to a meeting", "Review at Concern"]
    reviews = coming_up[coming_up.index("Review at Concern") :]
    assert "· 2 pupils" in reviews
    assert escape(at_concern.full_name) in reviews and escape(moved.full_name) in reviews
    # The review due first (the night's, a day before the move) is listed first.
    assert reviews.index(escape(at_concern.full_name)) < reviews.index(escape(moved.full_name))


def test_my_tasks_folds_a_long_group_after_its_soonest_due_and_counts_each_part(client, school, attendance_lead, today):
    pupils = [PupilFactory(school=school, surname=f"Pupil{n:02}") for n in range(9)]
    for n, pupil in enumerate(pupils):
        _task(pupil, "Phone the family", today + timedelta(days=2 + n), role="attendance_lead")
    for pupil in pupils[:7]:
        _task(pupil, "Send the leaflet", today + timedelta(days=4), role="attendance_lead")
    _task(pupils[0], "Meet the family", today - timedelta(days=1), role="attendance_lead")
    page = login(client, attendance_lead).get(url("tasks", school)).content.decode()

    summary = page[page.index('id="tasks-summary"') : page.index("</p>", page.index('id="tasks-summary"'))]
    assert "17 open tasks:" in summary
    assert '<a href="#tasks-1">1 overdue</a>, 0 due today, <a href="#tasks-3">16 coming up</a>.' in summary

    phone = page[page.index(">Phone the family <") : page.index(">Send the leaflet <")]
    first_day, last_day = today + timedelta(days=2), today + timedelta(days=10)
    assert f"· 9 pupils · due {first_day:%-d %b} to {last_day:%-d %b}" in phone
    listed, folded = phone.split("<details")
    # The five due soonest are listed; the other four are folded away, still each with its Done button.
    assert [p.surname for p in pupils if p.surname in listed] == [p.surname for p in pupils[:5]]
    assert "Show the other 4 pupils" in folded
    assert [p.surname for p in pupils if p.surname in folded] == [p.surname for p in pupils[5:]]
    assert folded.count('aria-label="Mark done: Phone the family') == 4
    # Seven is short enough to list whole: folding would hide fewer rows than it saves.
    leaflet = _section(page, "Coming up")[_section(page, "Coming up").index(">Send the leaflet <") :]
    assert "<details" not in leaflet and leaflet.count('aria-label="Mark done: Send the leaflet') == 7
    assert "· 7 pupils · due " + (today + timedelta(days=4)).strftime("%a %-d %b") in leaflet


def test_my_tasks_says_so_when_there_is_nothing_to_do(client, school, attendance_lead):
    page = login(client, attendance_lead).get(url("tasks", school)).content.decode()
    assert "Nothing to do: no open tasks are waiting for you." in page


def test_the_office_and_teachers_pages_count_the_tasks_waiting_and_link_to_them(
    client, school, class_teacher, tasks_for_everyone
):
    office_page = login(client, tasks_for_everyone).get(reverse("pupils:office", args=[school.urn])).content.decode()
    assert f'href="{url("tasks", school)}"' in office_page
    assert ">1</div>" in office_page and "task of yours due today or overdue" in office_page

    classes_page = login(client, class_teacher).get(url("classes", school)).content.decode()
    assert "1</span> task of yours due today or overdue, 1 coming up</a>" in classes_page

    # "None due today" is not "nothing to do": what is coming up is counted too.
    Task.objects.filter(title="Talk to Ours about mornings").update(due_on=timezone.localdate() + timedelta(days=3))
    classes_page = client.get(url("classes", school)).content.decode()
    assert "My tasks: none due today, 2 coming up</a>" in classes_page
    Task.objects.filter(role="office").update(due_on=timezone.localdate() + timedelta(days=3))
    office_page = login(client, tasks_for_everyone).get(reverse("pupils:office", args=[school.urn])).content.decode()
    assert ">0</div>" in office_page and "and 1 coming up" in office_page


def test_the_leads_dashboard_lists_their_own_tasks_and_counts_everyone_elses(
    client, school, ladder, attendance_lead, class_teacher, tasks_for_everyone, today
):
    class_teacher.first_name, class_teacher.last_name = "Bob", "Patel"
    class_teacher.save()
    _task(Task.objects.first().pupil, "Bring the reading record", today, assigned_to=class_teacher)
    page = login(client, attendance_lead).get(url("dashboard", school)).content.decode()
    panel = page[page.index('id="tasks-heading"') : page.index('id="absent-heading"')]
    assert "Check the LA notification duties" in panel
    for others in ("Ring home", "Talk to Ours", "Talk to 5C pupil", "Check the register notes"):
        assert others not in panel
    assert (
        "Due for others: Class teacher 2 · Bob Patel 1 · Office / admin 1 "
        '<span class="text-danger">(1 overdue)</span></p>' in panel
    )


def test_the_dashboard_says_when_todays_register_has_no_marks_yet(client, school, placed, attendance_lead, monkeypatch):
    wednesday, saturday = date(2025, 11, 26), date(2025, 11, 29)
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: wednesday)
    page = login(client, attendance_lead).get(url("dashboard", school)).content.decode()
    assert "No marks for today yet: the register has not been taken or imported." in page
    MarkFactory(pupil=placed[0], date=wednesday, session=0, code="/")
    page = client.get(url("dashboard", school)).content.decode()
    assert "None: every absence today has a reason." in page

    # On Saturday the panel is about Friday, the last school day, not a day with no register.
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: saturday)
    page = client.get(url("dashboard", school)).content.decode()
    assert "First-day absences: no reason yet on Friday 28 November, the last school day" in page
    assert "No marks on Friday 28 November yet: the register has not been taken or imported." in page


def test_a_stage_card_says_a_name_the_chip_already_says_only_once(client, school, placed, ladder, attendance_lead):
    ladder.stages.filter(key="concern").update(label="Concern")  # its name: the chip says it all
    page = login(client, attendance_lead).get(url("dashboard", school)).content.decode()
    cards = page[page.index('id="stage-counts"') : page.index("</section>", page.index('id="stage-counts"'))]
    concern = cards[cards.index("?stage=concern") : cards.index("</a>", cards.index("?stage=concern"))]
    assert concern.count(">Concern<") == 1
    pa = cards[cards.index("?stage=pa") : cards.index("</a>", cards.index("?stage=pa"))]
    assert ">PA<" in pa and ">Persistent absence<" in pa  # a short label keeps its name beside it


def test_the_dashboard_tells_the_lead_of_earlier_days_still_waiting_for_a_reason(
    client, school, placed, attendance_lead, monkeypatch
):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 26))
    page = login(client, attendance_lead).get(url("dashboard", school)).content.decode()
    assert 'id="earlier-waiting"' not in page
    MarkFactory(pupil=placed[0], date=date(2025, 11, 10), session=1, code="N")
    MarkFactory(pupil=placed[1], date=date(2025, 11, 24), session=0, code="N")
    page = client.get(url("dashboard", school)).content.decode()
    assert (
        "Absences on earlier days still without a reason: on 2 school days, the oldest Mon 10 Nov "
        '<span class="badge text-bg-danger">waiting 12 school days</span>.' in page
    )
    assert f'<a href="/school/{school.urn}/office/waiting/">Every one still waiting, oldest first</a>' in page
    # A senior leader sees the backlog and may open the list (the office records the reasons).
    leader = MembershipFactory(school=school, role=StaffMembership.Role.SENIOR_LEADER).user
    page = login(client, leader).get(url("dashboard", school)).content.decode()
    assert "Absences on earlier days still without a reason: on 2 school days" in page
    assert (
        f'The office follows them up. <a href="/school/{school.urn}/office/waiting/">Every one still waiting,' in page
    )
    # The LA officer sees the backlog; the list, with families' phone numbers, is the school's.
    officer = MembershipFactory(school=school, role=StaffMembership.Role.LA_OFFICER).user
    page = login(client, officer).get(url("dashboard", school)).content.decode()
    assert "The office follows them up; each pupil's page shows their marks." in page
    assert "/office/waiting/" not in page


def test_a_task_done_goes_back_only_to_a_page_of_this_site(client, school, tasks_for_everyone):
    task = Task.objects.get(title__startswith="Ring home")
    login(client, tasks_for_everyone)
    response = client.post(url("task_done", school, task.pk), {"next": "https://evil.example/phish"})
    assert response.status_code == 302
    assert response["Location"] == url("pupil", school, task.pupil_id)


def test_a_task_done_from_my_tasks_leaves_the_list(client, school, tasks_for_everyone):
    task = Task.objects.get(title__startswith="Ring home")
    login(client, tasks_for_everyone)
    response = client.post(url("task_done", school, task.pk), {"next": url("tasks", school)})
    assert response.status_code == 302 and response["Location"] == url("tasks", school)
    page = client.get(url("tasks", school)).content.decode()
    start = page.index('id="just-done"')
    just_done, open_lists = (
        page[start : page.index("</section>", start)],
        page[:start] + page[page.index("</section>", start) :],
    )
    assert "Ring home" not in open_lists and "Ring home" in just_done  # with its Undo, for a few minutes


# --- proposals, moves, flags ----------------------------------------------------------------


@pytest.fixture
def proposal(school, ladder, today):
    pupil = PupilFactory(school=school, registration_group=RegistrationGroupFactory(school=school, name="4B"))
    fill_register(pupil, today - timedelta(days=70), today - timedelta(days=1), pattern(2))  # 50%
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
    return Proposal.objects.get(pupil=pupil)


def test_a_proposed_move_shows_the_pupils_flags_and_open_referrals_to_whoever_decides(
    client, school, proposal, attendance_lead, today
):
    pupil = proposal.pupil
    pupil.flags.add(*Flag.objects.filter(school=school, key__in=["social_worker", "young_carer"]))
    made_on = today - timedelta(days=4)
    services.referral_record(pupil=pupil, user=attendance_lead, to="social_care", made_on=made_on, status="accepted")
    services.referral_record(pupil=pupil, user=attendance_lead, to="school_nurse", made_on=made_on, status="closed")
    login(client, attendance_lead)
    for page in (url("dashboard", school), url("pupil", school, pupil.pk)):
        card = client.get(page).content.decode().split(f'id="proposal-{proposal.pk}"')[1].split("</form>")[0]
        names = sorted(
            Flag.objects.filter(school=school, key__in=["social_worker", "young_carer"]).values_list("name", flat=True)
        )
        assert f"Flags: {', '.join(names)}." in card
        assert f"Open referral: Children&#x27;s social care (accepted, {made_on:%-d %b})." in card  # not the closed one
        assert "Declined before" not in card


def test_an_over_long_reason_is_refused_for_its_length_and_given_back(client, school, proposal, attendance_lead):
    login(client, attendance_lead)
    reason = "Family moved away; " * 30  # 570 characters: past the box's maxlength, as a pasted note can be
    response = client.post(
        url("proposal_decide", school, proposal.pk), {"decision": "decline", "reason": reason}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert f"Keep the reason to 500 characters: this has {len(reason.strip())}." in body
    assert f'value="{reason}"' in body  # still in the box to shorten
    proposal.refresh_from_db()
    assert proposal.status == "pending"


def test_approving_in_place_needs_a_reason(client, school, proposal, attendance_lead):
    login(client, attendance_lead)
    response = client.post(
        url("proposal_decide", school, proposal.pk), {"decision": "approve", "reason": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert "Give a reason" in response.content.decode()
    assert "This school year: " in response.content.decode()  # still there to decide by
    proposal.refresh_from_db()
    assert proposal.status == "pending"
    response = client.post(
        url("proposal_decide", school, proposal.pk),
        {"decision": "approve", "reason": "Panel agreed"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and "Approved" in response.content.decode()
    assert Placement.objects.get(pupil=proposal.pupil).stage.key == "panel"


def test_moves_proposed_the_same_night_come_lowest_attendance_first(client, school, ladder, attendance_lead, today):
    group = RegistrationGroupFactory(school=school, name="4B")
    higher = PupilFactory(school=school, registration_group=group, surname="Higher")  # made first: the lower id
    lower = PupilFactory(school=school, registration_group=group, surname="Lower")
    fill_register(higher, today - timedelta(days=70), today - timedelta(days=1), pattern(4))  # 75%
    fill_register(lower, today - timedelta(days=70), today - timedelta(days=1), pattern(2))  # 50%
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
    proposals = login(client, attendance_lead).get(url("dashboard", school)).context["proposals"]
    assert [p.pupil.surname for p in proposals] == ["Lower", "Higher"]


def test_declining_records_the_reason(client, school, proposal, attendance_lead):
    login(client, attendance_lead).post(
        url("proposal_decide", school, proposal.pk), {"decision": "decline", "reason": "Medical evidence"}
    )
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decision_reason) == ("declined", "Medical evidence")
    # Kept on the record, as the form promises: the pupil's page says who declined what, and why.
    page = client.get(url("pupil", school, proposal.pupil_id)).content.decode()
    history = page[page.index("Moves declined") :]
    assert f"move to {proposal.to_stage.name} declined by alice" in history
    assert "Medical evidence" in history[: history.index("</li>")]
    assert AuditEvent.objects.filter(what__endswith=f"to {proposal.to_stage.name}: Medical evidence").exists()


def test_a_decline_says_until_when_the_night_will_not_propose_it_again(client, school, proposal, attendance_lead):
    calendar = school_calendar(school)
    until = calendar.add_school_days(timezone.localdate(), selectors.DECLINE_RESTS_SCHOOL_DAYS)
    back_on = calendar.add_school_days(until, 1)  # the night of `until` proposes it: seen the next school day
    said = (
        f"Not proposed again before {back_on:%a} {back_on.day} {back_on:%b}: "
        f"the nightly run lets a declined move rest for {selectors.DECLINE_RESTS_SCHOOL_DAYS} school days."
    )
    response = login(client, attendance_lead).post(
        url("proposal_decide", school, proposal.pk),
        {"decision": "decline", "reason": "Medical evidence"},
        HTTP_HX_REQUEST="true",
    )
    card = " ".join(response.content.decode().split())
    assert f"Medical evidence<div>{said}" in card  # a sentence of its own, not run on from the reason
    page = " ".join(client.get(url("pupil", school, proposal.pupil_id)).content.decode().split())
    assert said in page[page.index("Moves declined") :]
    # Declined again later: only the latest decline of the move rests.
    Proposal.objects.create(
        pupil=proposal.pupil,
        ladder=proposal.ladder,
        to_stage=proposal.to_stage,
        proposed_on=timezone.localdate() - timedelta(days=40),
        status="declined",
        decided_by=attendance_lead,
        decided_at=timezone.now() - timedelta(days=1),  # still resting itself, but not the latest decline
        decision_reason="Earlier",
    )
    page = " ".join(client.get(url("pupil", school, proposal.pupil_id)).content.decode().split())
    assert page.count("Not proposed again before") == 1
    # Once the rest is over, the pupil's page no longer says it.
    Proposal.objects.filter(status="declined").update(decided_at=timezone.now() - timedelta(days=120))
    page = client.get(url("pupil", school, proposal.pupil_id)).content.decode()
    assert "Not proposed again before" not in page


def test_a_move_is_decided_on_the_pupils_own_page(client, school, proposal, attendance_lead, class_teacher):
    """The lead reading a pupil's record decides there, not by finding them among the dashboard's ten."""
    pupil_page = url("pupil", school, proposal.pupil_id)
    page = login(client, attendance_lead).get(pupil_page).content.decode()
    form = page[page.index(f'id="proposal-{proposal.pk}"') :]
    assert f'hx-post="{url("proposal_decide", school, proposal.pk)}"' in form[: form.index("</form>")]
    assert 'name="on_pupil" value="1"' in form[: form.index("</form>")]
    assert "This school year: " in form[: form.index("</form>")]  # what the absence was, to decide by

    refused = client.post(
        url("proposal_decide", school, proposal.pk),
        {"decision": "approve", "reason": " ", "on_pupil": "1"},
        HTTP_HX_REQUEST="true",
    )
    assert refused.status_code == 422 and "Give a reason" in refused.content.decode()
    assert 'name="on_pupil" value="1"' in refused.content.decode()  # still the pupil page's form

    response = client.post(
        url("proposal_decide", school, proposal.pk),
        {"decision": "approve", "reason": "Agreed at panel", "on_pupil": "1"},
        HTTP_HX_REQUEST="true",
    )
    assert response["HX-Redirect"] == pupil_page
    assert Placement.objects.get(pupil=proposal.pupil).stage == proposal.to_stage
    page = client.get(pupil_page).content.decode()
    assert f"{escape(proposal.pupil.full_name)} moved to {proposal.to_stage.name}." in page
    assert f'id="proposal-{proposal.pk}"' not in page

    # Someone who cannot decide sees the proposal, with no buttons.
    other = Proposal.objects.create(
        ladder=proposal.ladder,
        pupil=proposal.pupil,
        to_stage=proposal.from_stage or proposal.to_stage,
        proposed_on=proposal.proposed_on,
        reasons=["for the test"],
    )
    page = login(client, class_teacher).get(pupil_page).content.decode()
    assert "Proposed move to" in page and f'id="proposal-{other.pk}"' not in page


def test_class_teacher_cannot_decide_proposals(client, school, proposal, class_teacher):
    response = login(client, class_teacher).post(
        url("proposal_decide", school, proposal.pk), {"decision": "approve", "reason": "x"}
    )
    assert response.status_code == 404
    proposal.refresh_from_db()
    assert proposal.status == "pending"


def test_a_teacher_on_a_phone_can_call_or_email_a_parent_from_the_pupil_page(client, school, placed, class_teacher):
    from tests.factories import ContactFactory

    pupil = placed[0]
    ContactFactory(pupil=pupil, name="Jo Smith", phone="01234 567890", email="jo@example.org")
    page = login(client, class_teacher).get(url("pupil", school, pupil.pk)).content.decode()
    assert 'href="tel:01234567890" aria-label="Call Jo Smith on 01234 567890">01234 567890</a>' in page
    assert '<a href="mailto:jo@example.org">jo@example.org</a>' in page
    # And the parts of a long page a teacher wants are a tap away.
    nav = page[page.index('aria-label="On this page"') :]
    nav = nav[: nav.index("</nav>")]
    for heading in ("log-heading", "tasks-heading", "contacts-heading"):
        assert f'href="#{heading}"' in nav and f'id="{heading}"' in page


def test_manual_move_with_reason(client, school, placed, attendance_lead, ladder):
    pupil = placed[0]
    casework = ladder.stages.get(key="casework")
    login(client, attendance_lead).post(
        url("pupil_move", school, pupil.pk), {"stage": casework.pk, "reason": "Casework agreed"}
    )
    assert Placement.objects.get(pupil=pupil).stage == casework
    assert StageChange.objects.filter(pupil=pupil, kind="manual", note="Casework agreed").exists()


def test_people_are_named_as_people_know_them_on_the_pupil_page(
    client, school, class_teacher, attendance_lead, placed, ladder
):
    attendance_lead.first_name, attendance_lead.last_name = "Alice", "Hughes"
    attendance_lead.save()
    class_teacher.first_name, class_teacher.last_name = "Bob", "Patel"
    class_teacher.save()
    pupil = Placement.objects.filter(stage__key="concern").first().pupil  # with the class teacher's call to make
    login(client, attendance_lead).post(
        url("pupil_move", school, pupil.pk), {"stage": ladder.stages.get(key="casework").pk, "reason": "Agreed"}
    )
    page = client.get(url("pupil", school, pupil.pk)).content.decode()
    assert "Moved by Alice Hughes</span>" in page and "moved by Alice Hughes: Agreed" in page
    assert "Moved by a person by" not in page
    assert "· Bob Patel</div>" in page  # whose the phone call is
    assert "alice" not in page.replace("Alice", "") and "· bob" not in page


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "in place"])
def test_moving_without_a_reason_changes_nothing_and_keeps_the_stage_chosen(
    client, school, placed, attendance_lead, ladder, htmx
):
    pupil = placed[0]
    before = Placement.objects.get(pupil=pupil).stage
    casework = ladder.stages.get(key="casework")
    headers = {"HX-Request": "true"} if htmx else {}
    response = login(client, attendance_lead).post(
        url("pupil_move", school, pupil.pk), {"stage": casework.pk, "reason": "   "}, headers=headers
    )
    body = response.content.decode()
    assert response.status_code == 422
    assert "Give a reason: it is kept on the pupil&#x27;s record." in body
    assert f'<option value="{casework.pk}" selected>' in body
    assert ("<html" in body) is not htmx  # in place, only the form comes back
    assert Placement.objects.get(pupil=pupil).stage == before
    assert not StageChange.objects.filter(pupil=pupil, kind="manual").exists()


def test_moving_without_a_stage_says_to_choose_one(client, school, placed, attendance_lead):
    response = login(client, attendance_lead).post(
        url("pupil_move", school, placed[0].pk), {"stage": "", "reason": "Agreed at panel"}
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "Choose the stage to move to." in body and 'value="Agreed at panel"' in body


def test_a_move_made_in_place_takes_the_browser_to_the_pupil_page_saying_so(
    client, school, placed, attendance_lead, ladder
):
    pupil = placed[0]
    casework = ladder.stages.get(key="casework")
    response = login(client, attendance_lead).post(
        url("pupil_move", school, pupil.pk),
        {"stage": casework.pk, "reason": "Agreed at panel"},
        headers={"HX-Request": "true"},
    )
    assert response["HX-Redirect"] == url("pupil", school, pupil.pk)
    assert Placement.objects.get(pupil=pupil).stage == casework
    page = client.get(url("pupil", school, pupil.pk)).content.decode()
    assert f"{escape(pupil.full_name)} moved to {casework.name}." in page


def test_editing_flags_is_audited(client, school, placed, attendance_lead):
    pupil = placed[0]
    ehcp = Flag.objects.get(school=school, key="ehcp")
    login(client, attendance_lead).post(url("pupil_flags", school, pupil.pk), {"flags": [ehcp.pk]})
    assert list(pupil.flags.values_list("key", flat=True)) == ["ehcp"]
    assert AuditEvent.objects.filter(pupil=pupil, verb="change", what__contains="+ehcp").exists()


def test_another_schools_flag_is_refused(client, school, other_school, placed, attendance_lead):
    theirs = Flag.objects.get(school=other_school, key="ehcp")
    login(client, attendance_lead).post(url("pupil_flags", school, placed[0].pk), {"flags": [theirs.pk]})
    assert not placed[0].flags.exists()


# --- class teacher --------------------------------------------------------------------------


def test_class_teacher_sees_only_their_classes_and_logs_in_one_click(client, school, placed, class_teacher, today):
    stranger = make_pupils(school, 1, today, group_name="5C")[0]
    nightly.nightly_run(school=school, as_of=today)
    login(client, class_teacher)
    body = client.get(url("classes", school)).content.decode()
    # As the rows write them ("Surname, Forename"): a bare surname may be part of a forename (Gill, Gillian).
    assert f">{escape(placed[0].surname)}, " in body and f">{escape(stranger.surname)}, " not in body
    response = client.post(url("quick_log", school, placed[0].pk), HTTP_HX_REQUEST="true")
    assert "Logged" in response.content.decode()
    assert ActionLog.objects.get(pupil=placed[0]).kind == "pupil_conversation"
    assert client.post(url("quick_log", school, stranger.pk)).status_code == 404


def test_a_one_click_log_can_be_taken_back_by_whoever_logged_it_for_ten_minutes(
    client, school, placed, class_teacher, attendance_lead
):
    pupil = placed[0]
    login(client, class_teacher)
    logged = client.post(url("quick_log", school, pupil.pk), HTTP_HX_REQUEST="true").content.decode()
    action = ActionLog.objects.get(pupil=pupil)
    undo = url("action_undo", school, pupil.pk, action.pk)
    assert f'hx-post="{undo}"' in logged and ">Undo</button>" in logged

    # Someone else cannot take it back.
    refused = login(client, attendance_lead).post(undo, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422 and "Only the person who logged this" in refused.content.decode()
    assert ActionLog.objects.filter(pk=action.pk).exists()

    # After ten minutes it stays on the record.
    ActionLog.objects.filter(pk=action.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    late = login(client, class_teacher).post(undo, HTTP_HX_REQUEST="true")
    assert (
        late.status_code == 422
        and f"The conversation with {escape(pupil.full_name)} was logged more than 10 minutes ago"
        in (late.content.decode())
    )
    assert ActionLog.objects.filter(pk=action.pk).exists()

    ActionLog.objects.filter(pk=action.pk).update(created_at=timezone.now())
    back = client.post(undo, HTTP_HX_REQUEST="true").content.decode()
    assert "Log conversation with" in back and not ActionLog.objects.filter(pk=action.pk).exists()
    assert AuditEvent.objects.filter(what=f"took back the conversation logged with {pupil.upn}").exists()

    # A conversation written up on the pupil's page (notes, a next step) is not a one-click log.
    client.post(
        url("action_create", school, pupil.pk),
        {
            "kind": "pupil_conversation",
            "occurred_on": timezone.localdate().isoformat(),
            "notes": "Worried about the walk to school",
            "next_step": "Ask about the walking bus",
            "next_step_due": timezone.localdate().isoformat(),
        },
    )
    written = ActionLog.objects.get(pupil=pupil, notes="Worried about the walk to school")
    refused = client.post(url("action_undo", school, pupil.pk, written.pk), HTTP_HX_REQUEST="true")
    assert refused.status_code == 422 and "Only a conversation logged in one click" in refused.content.decode()
    assert ActionLog.objects.filter(pk=written.pk).exists()


def test_a_pupil_imported_today_is_in_my_class_at_once_with_a_log_button(client, school, placed, class_teacher, today):
    group = placed[0].registration_group
    newcomer = PupilFactory(school=school, surname="Aaronson", registration_group=group, start_on=today)
    elsewhere = PupilFactory(
        school=school, surname="Zed", registration_group=RegistrationGroupFactory(school=school, name="5C")
    )
    login(client, class_teacher)
    body = client.get(url("classes", school)).content.decode()
    rows = body[body.index(f'id="class-{group.pk}"') :]
    assert f">{escape(newcomer.surname)}, {escape(newcomer.forename)}</a>" in rows
    assert f">{escape(elsewhere.surname)}, " not in body  # not the teacher's class
    new_row = rows[rows.index(escape(newcomer.surname)) :]
    assert "New: placed tonight" in new_row[: new_row.index("</tr>")]
    assert f"Log conversation with {escape(newcomer.forename)} {escape(newcomer.surname)}" in new_row
    # By name among the rest: Aaronson first.
    assert rows.index(escape(newcomer.surname)) < min(rows.index(escape(p.surname)) for p in placed)
    assert f"{len(placed) + 1} pupils" in rows[: rows.index("</h2>")]
    response = client.post(url("quick_log", school, newcomer.pk), HTTP_HX_REQUEST="true")
    assert "Logged" in response.content.decode()
    # Once the night has placed them, the row is an ordinary one.
    nightly.nightly_run(school=school, as_of=today)
    assert "New: placed tonight" not in client.get(url("classes", school)).content.decode()


def test_a_pupil_imported_today_is_found_by_the_dashboards_search(client, school, placed, attendance_lead, today):
    group = placed[0].registration_group
    newcomer = PupilFactory(school=school, forename="Ben", surname="Probe", registration_group=group, start_on=today)
    login(client, attendance_lead)
    body = client.get(url("dashboard", school), {"name": "probe"}).content.decode()
    assert "0 pupils match these filters." in body
    hint = body[body.index('id="not-placed"') :]
    assert hint.startswith('id="not-placed">Not on the ladder yet (new: the nightly run places them): ')
    assert f'<a href="/school/{school.urn}/pupils/{newcomer.pk}/">Ben Probe</a>' in hint[: hint.index("</p>")]
    assert 'id="not-placed"' not in client.get(url("dashboard", school), {"name": placed[0].surname}).content.decode()
    # A search the filter refuses (too long) looks for nobody, and says why.
    refused = client.get(url("dashboard", school), {"name": "probe " * 30}).content.decode()
    assert 'id="not-placed"' not in refused and "The list below is not filtered by" in refused


def test_my_classes_says_its_figures_are_last_nights(client, school, placed, class_teacher, today):
    body = login(client, class_teacher).get(url("classes", school)).content.decode()
    night = today - timedelta(days=1)
    assert f"Attendance, trend and lates are from the night of {night:%A} {night.day} {night:%B};" in body


def test_my_classes_puts_most_concern_first_when_asked_and_says_why_each_is_at_their_stage(
    client, school, placed, class_teacher, today
):
    login(client, class_teacher)
    placements = {p.pupil_id: p for p in Placement.objects.select_related("stage", "pupil")}
    by_name = client.get(url("classes", school))
    by_concern = client.get(url("classes", school), {"order": "concern"})

    def rows(response):
        return [p.pupil_id for group in response.context["groups"].values() for p in group]

    names = [placements[pk].pupil for pk in rows(by_name)]
    assert [(p.surname, p.forename) for p in names] == sorted((p.surname, p.forename) for p in names)
    concern = [placements[pk] for pk in rows(by_concern)]
    assert [(-p.stage.position, p.attendance_pct) for p in concern] == sorted(
        (-p.stage.position, p.attendance_pct) for p in concern
    )
    assert concern[0].stage.position > concern[-1].stage.position  # the placed pupils are not all at one stage
    body = by_concern.content.decode()
    assert '<strong aria-current="true">most concern first</strong>' in body and '<a href="?">A to Z</a>' in body
    # Under each name above the first stage, the first reason for their stage; none at the first stage.
    for placement in concern:
        why = f'<div class="small text-body-secondary" data-why>{escape(placement.reasons[0])}</div>'
        assert (why in body) is (placement.stage.position > 0), placement.reasons
    # The chips' names and the arrows, in words a tap on an iPad cannot get from a tooltip.
    assert "Stages, from where everyone starts:" in body and "Persistent absence" in body
    assert "▬ steady (moved less than 0.5 of a point)" in body


def test_a_one_click_log_can_still_be_taken_back_after_the_page_is_reloaded(
    client, school, placed, class_teacher, attendance_lead
):
    pupil = placed[0]
    login(client, attendance_lead).get(url("classes", school))  # the class tables are cached for everyone
    login(client, class_teacher)
    client.post(url("quick_log", school, pupil.pk), HTTP_HX_REQUEST="true")
    action = ActionLog.objects.get(pupil=pupil)
    undo = url("action_undo", school, pupil.pk, action.pk)

    classes = client.get(url("classes", school)).content.decode()
    strip = classes.split('id="just-logged"')[1].split("</section>")[0]
    assert escape(pupil.full_name) in strip and f'formaction="{undo}"' in strip
    record = client.get(url("pupil", school, pupil.pk)).content.decode()
    assert f'action="{undo}"' in record
    # Nobody else is offered it, on either page.
    login(client, attendance_lead)
    assert 'id="just-logged"' not in client.get(url("classes", school)).content.decode()
    assert f'action="{undo}"' not in client.get(url("pupil", school, pupil.pk)).content.decode()

    # Logging something else on the pupil's page keeps the Undo in the refreshed list.
    login(client, class_teacher)
    after = client.post(
        url("action_create", school, pupil.pk),
        {"kind": "phone_call", "occurred_on": timezone.localdate().isoformat()},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert f'action="{undo}"' in after and f'name="next" value="{url("pupil", school, pupil.pk)}"' in after

    # Without JavaScript, from the pupil's page: back to that page, the log gone.
    login(client, class_teacher)
    response = client.post(undo, {"next": url("pupil", school, pupil.pk)})
    assert response["Location"] == url("pupil", school, pupil.pk)
    assert not ActionLog.objects.filter(pk=action.pk).exists()

    # Ten minutes on, it is no longer offered.
    client.post(url("quick_log", school, pupil.pk), HTTP_HX_REQUEST="true")
    ActionLog.objects.filter(pupil=pupil).update(created_at=timezone.now() - timedelta(minutes=11))
    assert 'id="just-logged"' not in client.get(url("classes", school)).content.decode()


def test_office_staff_logging_a_conversation_without_javascript_return_to_the_pupil(client, school, placed, staff):
    pupil = placed[0]
    login(client, staff["owen"])
    response = client.post(url("quick_log", school, pupil.pk))
    assert response.status_code == 302 and response["Location"] == url("pupil", school, pupil.pk)
    assert client.get(response["Location"]).status_code == 200


def test_cached_lists_show_a_move_and_a_new_night_straight_away(client, school, placed, attendance_lead, ladder, today):
    login(client, attendance_lead)
    pupil = placed[3]  # 99%: universal
    first = client.get(url("dashboard", school) + "?stage=casework")
    assert f">{escape(pupil.surname)}, " not in first.content.decode().split('id="pupil-list"')[1]
    before = first.context["version"]
    services.pupil_move(pupil=pupil, stage=ladder.stages.get(key="casework"), user=attendance_lead, reason="Casework")
    response = client.get(url("dashboard", school) + "?stage=casework")
    assert response.context["version"] != before
    assert escape(pupil.surname) in response.content.decode()
    version = response.context["version"]
    fill_register(pupil, today, today, lambda d, s: "I")
    nightly.nightly_run(school=school, as_of=today)
    assert client.get(url("dashboard", school)).context["version"] != version


def test_a_proposed_move_shows_how_much_of_the_absence_was_illness_and_how_much_unauthorised(
    client, school, ladder, placed, attendance_lead, today
):
    pupil = PupilFactory(school=school, registration_group=placed[0].registration_group, surname="Cook")

    def code_for(day, session):
        if day.weekday() == 2 and session == 0:
            return "G"  # a holiday in term time: unauthorised, and said of the sessions missed
        return "I" if day.weekday() == 0 else "O" if day.weekday() == 1 and session == 1 else "/\\"[session]

    fill_register(pupil, today - timedelta(days=35), today - timedelta(days=1), code_for)
    Proposal.objects.create(
        pupil=pupil,
        ladder=ladder,
        to_stage=ladder.stages.order_by("-position").first(),
        proposed_on=today - timedelta(days=1),
        reasons=["attendance 60.0% ≤ 90%"],
    )
    marks = pupil.marks.all()
    illness, holiday = marks.filter(code="I").count(), marks.filter(code="G").count()
    unauthorised = marks.filter(code="O").count() + holiday
    assert illness and unauthorised > holiday > 0
    body = login(client, attendance_lead).get(url("dashboard", school)).content.decode()
    row = body.split(f"{escape(pupil.full_name)}</a>")[1].split("</form>")[0]
    absent = illness + unauthorised
    assert (
        f"This school year: {absent} of {marks.count()} sessions missed: "
        f"{illness} authorised ({illness} illness), {unauthorised} unauthorised; "
        f"{holiday} of the {absent} for holiday in term time." in row
    )


def test_last_nights_badge_counts_moves_as_the_moved_overnight_panel_does(client, school, placed, attendance_lead):
    """The first night places everyone: placements, not moves, in both places."""
    login(client, attendance_lead)
    body = client.get(url("dashboard", school)).content.decode()
    assert f"done, {len(placed)} pupils, {len(placed)} placed on the ladder for the first time, 0 moved" in body
    assert "Nobody moved last night." in body
    # What the first Monday's work is: the tasks given and the letters to check before printing.
    from interventions.models import NightlyRun

    run = NightlyRun.objects.get()
    assert run.tasks_created and run.letters_queued
    tasks, letters = run.tasks_created, run.letters_queued
    assert f"; {tasks} task{'s' * (tasks != 1)} given, {letters} letter{'s' * (letters != 1)} queued</span>" in body
    assert f'<a href="/school/{school.urn}/letters/">letters waiting to print</a>' in body


def test_dashboard_says_when_last_night_failed_or_never_ran(client, school, ladder, attendance_lead):
    from interventions.models import NightlyRun
    from interventions.selectors import night_due

    login(client, attendance_lead)
    due = night_due(school=school, now=timezone.now())
    week_before = due - timedelta(days=7)
    NightlyRun.objects.create(school=school, run_on=week_before, status="done", started_at=timezone.now())
    assert (
        f"The night of {due:%a} {due.day} {due:%b} did not run" in client.get(url("dashboard", school)).content.decode()
    )
    night = f"The night of {due:%a} {due.day} {due:%b}"

    def failed_once_more():
        NightlyRun.objects.create(
            school=school,
            run_on=due,
            status="failed",
            started_at=timezone.now(),
            finished_at=timezone.now(),
            error="OperationalError: lost connection",
        )
        return client.get(url("dashboard", school)).content.decode()

    body = failed_once_more()
    assert f"{night} failed and will be tried again within the hour" in body
    assert 'title="OperationalError: lost connection"' in body  # why, for whoever asks IT
    for _ in range(settings.NIGHTLY_MAX_ATTEMPTS - 1):
        body = failed_once_more()
    assert f"{night} failed too often to be tried again. Figures" in body
    assert f"Run the night of {due:%a} {due.day} {due:%b} now" in body  # the lead need not wait for IT
    dsl = MembershipFactory(school=school, role=StaffMembership.Role.DSL).user
    body = client.force_login(dsl) or client.get(url("dashboard", school)).content.decode()
    assert f"{night} failed too often to be tried again: ask the attendance lead or IT to run it" in body
    assert 'id="night-run"' not in body


def test_flag_filter_sees_a_flag_set_a_moment_ago(client, school, placed, attendance_lead):
    login(client, attendance_lead)
    pupil = placed[2]
    assert (
        escape(pupil.surname)
        not in client.get(url("dashboard", school) + "?flag=young_carer").content.decode().split('id="pupil-list"')[1]
    )
    young_carer = Flag.objects.get(school=school, key="young_carer")
    client.post(url("pupil_flags", school, pupil.pk), {"flags": [young_carer.pk]})
    body = client.get(url("dashboard", school) + "?flag=young_carer").content.decode()
    assert escape(pupil.surname) in body.split('id="pupil-list"')[1]


def test_a_filter_the_dashboard_cannot_apply_is_named_not_silently_dropped(client, school, placed, attendance_lead):
    page = login(client, attendance_lead).get(url("dashboard", school) + "?stage=zzz").content.decode()
    assert "Stage zzz: Select a valid choice." in page
    assert "The list below is not filtered by stage." in page
    fine = client.get(url("dashboard", school) + "?stage=pa").content.decode()
    assert "not filtered by" not in fine


def test_the_dashboard_says_how_many_of_your_tasks_are_coming_up(
    client, school, ladder, attendance_lead, tasks_for_everyone, today
):
    pupil = Task.objects.first().pupil
    page = login(client, attendance_lead).get(url("dashboard", school)).content.decode()
    assert 'id="tasks-coming-up"' not in page  # nothing of hers after today
    _task(pupil, "Review the plan", today + timedelta(days=3), role="attendance_lead")
    _task(pupil, "Meet the family", today + timedelta(days=5), role="attendance_lead")
    _task(pupil, "Ring home", today + timedelta(days=5), role="office")  # someone else's
    page = client.get(url("dashboard", school)).content.decode()
    coming = page[page.index('id="tasks-coming-up"') : page.index("</p>", page.index('id="tasks-coming-up"'))]
    assert "And 2 more of yours coming up" in coming and url("tasks", school) in coming


def test_a_senior_leader_can_see_every_move_waiting_not_only_the_first_ten(client, school, ladder, staff, today):
    from interventions.models import Placement, Proposal

    pupils = make_pupils(school, 12, today)
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
    panel = ladder.stages.get(key="panel")
    Proposal.objects.filter(status="pending").delete()
    for pupil in pupils:
        Proposal.objects.create(
            pupil=pupil,
            ladder=ladder,
            from_stage=Placement.objects.get(pupil=pupil).stage,
            to_stage=panel,
            proposed_on=today - timedelta(days=1),
            reasons=["attendance below 80%"],
        )
    page = login(client, staff["dana"]).get(url("dashboard", school)).content.decode()
    assert len(re.findall(r'id="proposal-\d', page)) == 10
    assert "Showing the oldest 10, lowest attendance first." in page
    assert '<a href="?proposals=all#proposals-heading">Show all 12</a>, or decide these' in page
    every = client.get(url("dashboard", school) + "?proposals=all").content.decode()
    assert len(re.findall(r'id="proposal-\d', every)) == 12 and "Show all" not in every
    assert "pupils match these filters" not in every  # showing every move is not a filter on the pupils
    officer = login(client, staff["lara"]).get(url("dashboard", school)).content.decode()
    assert "Show all 12</a>." in officer and "or decide these" not in officer
