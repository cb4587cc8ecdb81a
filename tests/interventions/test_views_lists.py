"""Senior leaders' lists: escalations, referrals, absence by group, and their CSV exports."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from interventions import nightly, services
from interventions.models import ActionCorrection, ActionLog, Placement, Proposal, Referral, StageChange
from pupils.models import AuditEvent, Flag, Pupil, RegistrationGroup, StaffMembership
from pupils.services import school_calendar
from tests.factories import MembershipFactory, PupilFactory, RegistrationGroupFactory
from tests.interventions.conftest import before_joining_refusal, fill_register

Role = StaffMembership.Role


@pytest.fixture
def today():
    return timezone.localdate()


def url(name, school, *args):
    return reverse(f"interventions:{name}", args=[school.urn, *args])


def every(n: int, code: str = "O"):
    """Absent one session in every n."""
    counter = {"i": 0}

    def code_for(day, session):
        counter["i"] += 1
        return code if counter["i"] % n == 0 else ("/" if session == 0 else "\\")

    return code_for


def year_start(school, today):
    return school_calendar(school).academic_year_window(today)[0]


def make_pupils(school, n, today, group_name="4B", absent_every=7):
    group = RegistrationGroupFactory(school=school, name=group_name)
    pupils = []
    for _ in range(n):
        pupil = PupilFactory(school=school, registration_group=group)
        fill_register(pupil, year_start(school, today), today - timedelta(days=1), every(absent_every))
        pupils.append(pupil)
    return pupils


def rows_of(response):
    """A list's CSV, past its first column: every row starts with the school's URN (checked here)."""
    text = b"".join(response.streaming_content) if response.streaming else response.content
    rows = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    urn = response.wsgi_request.path.split("/")[2]
    assert rows[0][0] == "School URN" and all(row[0] == urn for row in rows[1:]), rows[:2]
    return [row[1:] for row in rows]


def queries_for(client, path) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(path).status_code == 200
    return len(context)


# --- who may see what -------------------------------------------------------------------------

LIST_ACCESS = {"alice": 200, "bob": 404, "sam": 200, "dana": 200, "owen": 404, "lara": 200, "olivia": 404}


@pytest.mark.parametrize("name", ["escalations", "referrals", "absence_groups", "penalty_threshold"])
@pytest.mark.parametrize("who", sorted(LIST_ACCESS))
def test_lists_and_their_csv_by_role(client, school, ladder, staff, name, who):
    client.force_login(staff[who])
    response = client.get(url(name, school))
    assert response.status_code == LIST_ACCESS[who]
    response = client.get(url(name, school) + "?format=csv")
    assert response.status_code == LIST_ACCESS[who]
    if response.status_code == 200:
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"].startswith("attachment;")


REFER_ACCESS = {"alice": 200, "bob": 404, "sam": 200, "dana": 200, "owen": 404, "lara": 404, "olivia": 404}


@pytest.mark.parametrize("who", sorted(REFER_ACCESS))
def test_recording_a_referral_by_role(client, school, pupil, staff, who):
    client.force_login(staff[who])
    assert client.get(url("referral_create", school, pupil.pk)).status_code == REFER_ACCESS[who]
    response = client.post(
        url("referral_create", school, pupil.pk),
        {"to": "camhs", "made_on": timezone.localdate().isoformat(), "status": "made"},
    )
    assert response.status_code == (302 if REFER_ACCESS[who] == 200 else 404)
    assert Referral.objects.exists() == (REFER_ACCESS[who] == 200)


@pytest.fixture
def referral(school, pupil, attendance_lead):
    return services.referral_record(
        pupil=pupil, user=attendance_lead, to="early_help", made_on=timezone.localdate() - timedelta(days=3)
    )


@pytest.mark.parametrize("who", sorted(REFER_ACCESS))
def test_updating_a_referral_by_role(client, school, referral, staff, who):
    client.force_login(staff[who])
    response = client.post(url("referral_update", school, referral.pk), {"status": "accepted", "outcome": "Allocated"})
    assert response.status_code == (302 if REFER_ACCESS[who] == 200 else 404)
    referral.refresh_from_db()
    assert (referral.status == "accepted") == (REFER_ACCESS[who] == 200)


@pytest.mark.parametrize("who", sorted(LIST_ACCESS))
def test_the_pupil_page_lists_their_referrals_to_those_who_see_referrals(client, school, referral, staff, who):
    client.force_login(staff[who])
    response = client.get(url("pupil", school, referral.pupil_id))
    if who == "olivia":  # another school's
        assert response.status_code == 404
        return
    assert response.status_code == 200
    body = response.content.decode()
    if LIST_ACCESS[who] == 200:
        card = body.split('aria-labelledby="referral-heading"')[1].split("</section>")[0]
        assert "Early help" in card and f"made {referral.made_on.day} {referral.made_on:%b %Y}" in card
        assert ("Record a referral" in card) == (REFER_ACCESS[who] == 200)
    else:
        assert 'aria-labelledby="referral-heading"' not in body


@pytest.mark.parametrize("who", sorted(set(LIST_ACCESS) - {"olivia"}))
def test_who_a_child_was_referred_to_is_kept_from_the_pupils_logged_actions_too(
    client, school, referral, attendance_lead, staff, who
):
    services.referral_update(
        referral=referral, user=attendance_lead, status="accepted", outcome="Strategy meeting pending"
    )
    client.force_login(staff[who])
    body = client.get(url("pupil", school, referral.pupil_id)).content.decode()
    logged = body.split('aria-labelledby="actions-heading"')[1].split("</section>")[0]
    sees_referrals = LIST_ACCESS[who] == 200
    assert ("Early help" in logged) == sees_referrals
    assert ("Strategy meeting pending" in logged) == sees_referrals
    withheld = "Who to, and what has come of it, are for those who see the referrals list"
    assert logged.count(withheld) == (0 if sees_referrals else 2)  # that there were two, and when, still shows
    assert "/correct/" not in logged  # a referral's entry follows the referral: changed on the referrals list


def test_a_teachers_own_referral_entry_is_theirs_to_read_and_correct_and_the_offices_to_know_of(
    client, school, referral, staff
):
    """Logged by hand as the kind "Referral" (not recorded as a referral): its writer reads and corrects it; the
    office, who do not see referrals, learns only that there was one, also when the teacher's next log refreshes
    the list in place."""
    pupil = referral.pupil
    pupil.registration_group = RegistrationGroup.objects.get(school=school, name="4B")
    pupil.save()
    teacher = staff["bob"]
    client.force_login(teacher)
    today = timezone.localdate().isoformat()
    client.post(
        url("action_create", school, pupil.pk), {"kind": "referral", "occurred_on": today, "outcome": "Rang CAMHS"}
    )
    mine = ActionLog.objects.get(pupil=pupil, by=teacher)
    reply = client.post(
        url("action_create", school, pupil.pk),
        {"kind": "phone_call", "occurred_on": today},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    refreshed = reply.split('id="actions-list"')[1]
    assert "Rang CAMHS" in refreshed and "Early help" not in refreshed  # theirs, and not the lead's referral
    assert url("action_correct", school, pupil.pk, mine.pk) in refreshed

    client.force_login(staff["owen"])
    logged = client.get(url("pupil", school, pupil.pk)).content.decode().split('aria-labelledby="actions-heading"')[1]
    assert "Rang CAMHS" not in logged and "Early help" not in logged


def test_a_referral_dated_before_the_pupil_joined_is_refused_in_place(client, school, pupil, attendance_lead):
    client.force_login(attendance_lead)
    response = client.post(
        url("referral_create", school, pupil.pk),
        {"to": "camhs", "made_on": "1999-03-01", "status": "made"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert before_joining_refusal("Monday 1 March 1999", pupil) in response.content.decode()
    assert not Referral.objects.exists()


def test_another_schools_referral_and_pupil_are_404(client, school, other_school, attendance_lead, outsider):
    theirs = PupilFactory(school=other_school)
    their_referral = services.referral_record(pupil=theirs, user=outsider, to="camhs", made_on=timezone.localdate())
    client.force_login(attendance_lead)
    assert client.post(url("referral_update", school, their_referral.pk), {"status": "closed"}).status_code == 404
    assert client.get(url("referral_create", school, theirs.pk)).status_code == 404
    assert client.get(url("referral_create", other_school, theirs.pk)).status_code == 404
    assert client.get(url("escalations", other_school)).status_code == 404
    their_referral.refresh_from_db()
    assert their_referral.status == "made"


# --- escalations -------------------------------------------------------------------------------


@pytest.fixture
def moved(school, ladder, attendance_lead, today):
    """Six pupils placed by the night, then: one moved up by hand, one up by the night, one down by hand."""
    pupils = make_pupils(school, 3, today, absent_every=1000) + make_pupils(school, 3, today, "5C", absent_every=12)
    nightly.nightly_run(school=school, as_of=today - timedelta(days=10))
    stages = {s.key: s for s in ladder.stages.all()}
    services.pupil_move(pupil=pupils[0], stage=stages["casework"], user=attendance_lead, reason="Casework agreed")
    placement = Placement.objects.get(pupil=pupils[1])
    services.stage_enter(
        pupil=pupils[1],
        ladder=ladder,
        placement=placement,
        stage=stages["pa"],
        on=today - timedelta(days=2),
        kind=StageChange.Kind.AUTOMATIC,
        reasons=["attendance 88.0% this year < 90%"],
        entry_pct=None,
    )
    services.pupil_move(pupil=pupils[3], stage=stages["universal"], user=attendance_lead, reason="Doing well")
    services.action_log(
        pupil=pupils[1], user=attendance_lead, kind="phone_call", occurred_on=today - timedelta(days=1), title="Call"
    )
    services.action_log(
        pupil=pupils[1], user=attendance_lead, kind="meeting", occurred_on=today - timedelta(days=20), title="Old"
    )
    return pupils


def test_escalations_lists_moves_up_with_reasons_kind_who_and_actions_since(client, school, moved, attendance_lead):
    attendance_lead.first_name, attendance_lead.last_name = "Alice", "Ward"
    attendance_lead.save()
    client.force_login(attendance_lead)
    response = client.get(url("escalations", school))
    assert response.status_code == 200
    rows = response.context["rows"]
    assert {r.change.pupil for r in rows} == {moved[0], moved[1]}  # not the move down, not first placements
    by_pupil = {r.change.pupil: r for r in rows}
    manual, automatic = by_pupil[moved[0]], by_pupil[moved[1]]
    assert (manual.change.kind, manual.acted, manual.change.to_stage.key) == ("manual", "Alice Ward", "casework")
    assert (automatic.change.kind, automatic.acted) == ("automatic", "Nightly run")
    assert [a.title for a in automatic.actions] == ["Call"]  # logged since the move, not before it
    body = response.content.decode()
    assert "Casework agreed" in body and "attendance 88.0% this year &lt; 90%" in body
    assert '<span class="badge text-bg-primary">Moved</span> by Alice Ward' in body
    assert '<span class="badge text-bg-secondary">Nightly run</span>' in body
    assert f'href="{url("pupil", school, moved[3].pk)}"' not in body  # moved down: not listed
    event = AuditEvent.objects.get(verb="view")
    assert event.user == attendance_lead and "escalations" in event.what


def test_escalations_say_how_many_moves_wait_for_approval(client, school, moved, ladder, attendance_lead):
    client.force_login(attendance_lead)
    assert 'id="waiting-approval"' not in client.get(url("escalations", school)).content.decode()
    stages = {s.key: s for s in ladder.stages.all()}
    for pupil in moved[4:6]:
        Proposal.objects.create(
            pupil=pupil, ladder=ladder, from_stage=stages["concern"], to_stage=stages["panel"], proposed_on=date.today()
        )
    body = client.get(url("escalations", school)).content.decode()
    assert "2 moves are waiting for a person's approval, not listed here until approved" in body
    assert f'href="{reverse("interventions:dashboard", args=[school.urn])}#proposals-heading"' in body


def test_escalations_count_as_since_only_what_was_done_after_the_move(
    client, school, moved, ladder, attendance_lead, today
):
    # The night of (today - 2) moved moved[1]: that day's actions came before it, so they are not "since".
    services.action_log(
        pupil=moved[1], user=attendance_lead, kind="meeting", occurred_on=today - timedelta(days=2), title="Same day"
    )
    # moved[4] is moved up by hand today: what was logged before it is not since; what came after is.
    services.action_log(pupil=moved[4], user=attendance_lead, kind="phone_call", occurred_on=today, title="Before")
    services.pupil_move(
        pupil=moved[4], stage=ladder.stages.get(key="casework"), user=attendance_lead, reason="Casework agreed"
    )
    services.action_log(pupil=moved[4], user=attendance_lead, kind="meeting", occurred_on=today, title="After")
    client.force_login(attendance_lead)
    rows = {r.change.pupil: r for r in client.get(url("escalations", school)).context["rows"]}
    assert [a.title for a in rows[moved[1]].actions] == ["Call"]
    assert [a.title for a in rows[moved[4]].actions] == ["After"]


def test_escalations_say_the_ladders_first_night_placed_everyone_when_it_falls_in_the_period(
    client, school, moved, attendance_lead, today
):
    client.force_login(attendance_lead)
    first = today - timedelta(days=10)
    body = client.get(url("escalations", school)).content.decode()
    note = body.split('id="first-night"')[1].split("</p>")[0]
    assert (
        f"The ladder's first night, {first:%A} {first.day} {first:%B}, placed 6 pupils on it for the first time" in note
    )
    in_5c = client.get(url("escalations", school), {"registration_group": RegistrationGroup.objects.get(name="5C").pk})
    assert "placed 3 pupils of those filtered on it" in in_5c.content.decode()
    later = (today - timedelta(days=5)).isoformat()
    assert 'id="first-night"' not in client.get(url("escalations", school), {"start": later}).content.decode()


def test_escalations_filter_by_stage_class_and_period(client, school, moved, attendance_lead, today):
    client.force_login(attendance_lead)
    response = client.get(url("escalations", school) + "?stage=pa")
    assert [r.change.pupil for r in response.context["rows"]] == [moved[1]]
    group = moved[0].registration_group
    response = client.get(url("escalations", school) + f"?registration_group={group.pk}")
    assert {r.change.pupil for r in response.context["rows"]} == {moved[0], moved[1]}
    other = moved[3].registration_group
    assert client.get(url("escalations", school) + f"?registration_group={other.pk}").context["rows"] == []
    long_ago = (today - timedelta(days=100)).isoformat(), (today - timedelta(days=50)).isoformat()
    response = client.get(url("escalations", school) + f"?start={long_ago[0]}&end={long_ago[1]}")
    assert response.context["rows"] == []
    response = client.get(url("escalations", school) + f"?start={today.isoformat()}&end={today.isoformat()}")
    assert [r.change.pupil for r in response.context["rows"]] == [moved[0]]


def test_escalations_with_the_period_backwards_says_so_and_shows_the_last_four_weeks(
    client, school, moved, attendance_lead, today
):
    client.force_login(attendance_lead)
    response = client.get(url("escalations", school) + f"?start={today}&end={today - timedelta(days=5)}")
    assert response.status_code == 200
    assert "must be on or after its start" in response.content.decode()
    assert len(response.context["rows"]) == 2


def test_escalations_ending_after_today_says_so_and_shows_the_last_four_weeks(
    client, school, moved, attendance_lead, today
):
    client.force_login(attendance_lead)
    response = client.get(url("escalations", school), {"end": (today + timedelta(days=30)).isoformat()})
    assert "The period cannot end after today" in response.content.decode()
    assert response.context["end"] == today and len(response.context["rows"]) == 2


def test_escalations_htmx_returns_only_the_list(client, school, moved, attendance_lead):
    client.force_login(attendance_lead)
    response = client.get(url("escalations", school) + "?stage=pa", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="escalation-list">')
    assert "<nav" not in body and escape(moved[1].surname) in body


def test_escalations_csv_has_the_columns_and_is_audited_as_an_export(client, school, moved, attendance_lead, today):
    attendance_lead.first_name, attendance_lead.last_name = "Alice", "Hart"
    attendance_lead.save()
    client.force_login(attendance_lead)
    response = client.get(url("escalations", school) + "?format=csv&stage=pa")
    rows = rows_of(response)
    assert rows[0] == [
        "Moved on",
        "UPN",
        "Pupil",
        "Class",
        "Year",
        "From stage",
        "To stage",
        "Kind",
        "Reasons",
        "Acted",
        "Actions since",
    ]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["UPN"] == moved[1].upn
    assert (row["From stage"], row["To stage"], row["Kind"], row["Acted"]) == (
        "Universal",
        "Persistent absence",
        "Automatic",
        "Nightly run",
    )
    assert row["Actions since"] == f"{today - timedelta(days=1)} Call (Alice Hart)"
    assert AuditEvent.objects.filter(verb="export", what__contains="escalations", user=attendance_lead).exists()


def test_escalations_mark_an_action_corrected_since_it_was_logged(client, school, moved, attendance_lead, today):
    call = ActionLog.objects.get(pupil=moved[1], title="Call")
    client.force_login(attendance_lead)
    page = " ".join(client.get(url("escalations", school)).content.decode().split())
    assert 'Call <span class="text-body-secondary">(alice)</span></div>' in page  # not corrected yet
    rows = rows_of(client.get(url("escalations", school) + "?format=csv&stage=pa"))
    assert rows[1][-1] == f"{today - timedelta(days=1)} Call (alice)"

    services.action_correct(
        action=call,
        user=attendance_lead,
        reason="Wrote the outcome on the wrong pupil",
        occurred_on=today - timedelta(days=1),
        outcome="Left a voicemail",
        notes="",
    )
    page = " ".join(client.get(url("escalations", school)).content.decode().split())
    assert 'Call <span class="text-body-secondary">(alice)</span> <a class="badge' in page
    assert f'href="{url("pupil", school, moved[1].pk)}#action-{call.pk}"' in page  # what it said, on a tap
    assert ">corrected</a>" in page
    rows = rows_of(client.get(url("escalations", school) + "?format=csv&stage=pa"))
    assert rows[1][-1] == f"{today - timedelta(days=1)} Call (alice) [corrected]"


def test_escalations_queries_do_not_grow_with_pupils(client, school, ladder, attendance_lead, today):
    def escalate(pupils):
        concern = ladder.stages.get(key="pa")
        for pupil in pupils:
            services.pupil_move(pupil=pupil, stage=concern, user=attendance_lead, reason="Agreed")
            services.action_log(pupil=pupil, user=attendance_lead, kind="phone_call", occurred_on=today)

    few = make_pupils(school, 3, today, absent_every=1000)
    nightly.nightly_run(school=school, as_of=today - timedelta(days=3))
    escalate(few)
    client.force_login(attendance_lead)
    paths = (url("escalations", school), url("escalations", school) + "?format=csv")
    expected = [queries_for(client, path) for path in paths]
    many = make_pupils(school, 30, today, "5C", absent_every=1000)
    nightly.nightly_run(school=school, as_of=today - timedelta(days=2))
    escalate(many)
    assert len(client.get(url("escalations", school)).context["rows"]) == 33
    assert [queries_for(client, path) for path in paths] == expected


# --- referrals ------------------------------------------------------------------------------------


def test_referrals_list_filters_by_status_and_service(client, school, attendance_lead, today):
    a, b, c = make_pupils(school, 3, today)
    services.referral_record(pupil=a, user=attendance_lead, to="camhs", made_on=today)
    services.referral_record(pupil=b, user=attendance_lead, to="penalty_notice", made_on=today, status="considering")
    services.referral_record(pupil=c, user=attendance_lead, to="camhs", made_on=today, status="closed", outcome="Done")
    client.force_login(attendance_lead)

    def pupils_for(query):
        return {r.pupil for r, _ in client.get(url("referrals", school) + query).context["rows"]}

    assert pupils_for("") == {a, b, c}
    assert pupils_for("?to=camhs") == {a, c}
    assert pupils_for("?status=open") == {a, b}
    assert pupils_for("?status=closed&to=camhs") == {c}
    assert client.get(url("referrals", school)).context["counts"]["open"] == 2


def test_updating_a_referral_in_place(client, school, referral, attendance_lead):
    client.force_login(attendance_lead)
    response = client.post(
        url("referral_update", school, referral.pk),
        {"status": "accepted", "outcome": "Early help worker allocated"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="referral-{referral.pk}">') and "Saved" in body
    referral.refresh_from_db()
    assert (referral.status, referral.outcome) == ("accepted", "Early help worker allocated")
    assert ActionLog.objects.filter(pupil=referral.pupil, title__contains="accepted").exists()
    assert AuditEvent.objects.filter(verb="change", pupil=referral.pupil).exists()


def test_correcting_a_referrals_date_moves_its_entry_and_keeps_what_it_said(
    client, school, referral, attendance_lead, today
):
    entry = ActionLog.objects.get(pupil=referral.pupil, title="Referral: Early help / MARF")
    assert entry.occurred_on == today - timedelta(days=3)
    client.force_login(attendance_lead)
    page = client.get(url("referrals", school))
    assert f'value="{referral.made_on.isoformat()}"' in page.content.decode()  # the date is in the row's form
    earlier = today - timedelta(days=5)
    entries = ActionLog.objects.count()
    response = client.post(
        url("referral_update", school, referral.pk),
        {
            "made_on_shown": referral.made_on.isoformat(),
            "made_on": earlier.isoformat(),
            "status": "made",
            "outcome": "",
        },
        HTTP_HX_REQUEST="true",
    )
    # The date moves it in the list (newest first): the page comes again, saying so at the top.
    assert response.status_code == 200 and response["HX-Refresh"] == "true"
    page = client.get(url("referrals", school)).content.decode()
    assert escape(f"Saved: {referral.pupil.full_name}'s referral to Early help / MARF is now dated") in page
    assert f"{earlier.day} {earlier:%b %Y}, and listed in its place." in page
    referral.refresh_from_db()
    entry.refresh_from_db()
    assert referral.made_on == entry.occurred_on == earlier
    kept = entry.corrections.get()
    assert (kept.occurred_on, kept.by) == (today - timedelta(days=3), attendance_lead)
    assert kept.reason == (
        f"The referral's date was corrected on the referrals list, from {today - timedelta(days=3):%-d %b %Y}"
    )
    assert ActionLog.objects.count() == entries  # corrected in place: no entry that looks like something done
    event = AuditEvent.objects.get(verb="change", pupil=referral.pupil)
    assert event.what.endswith(f"dated {earlier}")
    # On the pupil's page the entry is on its new day, with what it said before.
    body = " ".join(client.get(url("pupil", school, referral.pupil_id)).content.decode().split())
    assert (
        f"Until {timezone.localtime(kept.at):%-d %b %Y, %H:%M} it read: <strong>{kept.occurred_on:%-d %b %Y}</strong>"
        in body
    )


@pytest.mark.parametrize(
    "day, message",
    [
        (1, "A referral cannot be recorded for a date in the future."),
        (-400, "is before the pupil joined the school"),
        ("not a date", "Enter a valid date."),
    ],
)
def test_a_referral_date_that_cannot_be_is_refused_beside_it_and_changes_nothing(
    client, school, referral, attendance_lead, today, day, message
):
    referral.pupil.start_on = today - timedelta(days=30)
    referral.pupil.save()
    made_on = day if isinstance(day, str) else (today + timedelta(days=day)).isoformat()
    client.force_login(attendance_lead)
    before = ActionLog.objects.count()
    response = client.post(
        url("referral_update", school, referral.pk),
        {"made_on": made_on, "status": "accepted", "outcome": ""},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert escape(message) in body or message in body
    assert f'id="referral-{referral.pk}-made_on"' in body and 'aria-invalid="true"' in body
    referral.refresh_from_db()
    assert (referral.made_on, referral.status) == (today - timedelta(days=3), "made")
    assert ActionLog.objects.count() == before


def test_a_referral_cannot_be_redated_onto_the_same_service_on_the_same_day(
    client, school, referral, attendance_lead, today
):
    other = services.referral_record(
        pupil=referral.pupil, user=attendance_lead, to="early_help", made_on=today - timedelta(days=1)
    )
    client.force_login(attendance_lead)
    response = client.post(
        url("referral_update", school, referral.pk),
        {"made_on": other.made_on.isoformat(), "status": "made", "outcome": ""},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert (
        escape(f"A referral to Early help / MARF on {other.made_on:%-d %B %Y} is already recorded by alice (made):")
        in body
    )
    [made_on_input] = re.findall(rf'<input[^>]*id="referral-{referral.pk}-made_on"[^>]*>', body)
    assert 'aria-invalid="true"' in made_on_input  # the date, named as the wrong field
    referral.refresh_from_db()
    assert referral.made_on == today - timedelta(days=3)
    assert not ActionLog.objects.filter(corrections__isnull=False).exists()


def test_an_old_page_does_not_put_back_a_date_someone_corrected_meanwhile(
    client, school, referral, attendance_lead, today
):
    shown = referral.made_on
    corrected = today - timedelta(days=6)
    services.referral_update(referral=referral, user=attendance_lead, status="made", outcome="", made_on=corrected)
    client.force_login(attendance_lead)
    # Changing only the status on a row that still shows the old date: the status saves, the date stays.
    response = client.post(
        url("referral_update", school, referral.pk),
        {"made_on_shown": shown.isoformat(), "made_on": shown.isoformat(), "status": "accepted", "outcome": ""},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    referral.refresh_from_db()
    assert (referral.made_on, referral.status) == (corrected, "accepted")
    # Changing the date on that old row is refused, and the row comes back showing the date as it is now.
    response = client.post(
        url("referral_update", school, referral.pk),
        {"made_on_shown": shown.isoformat(), "made_on": (today - timedelta(days=1)).isoformat(), "status": "accepted"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert escape(f"alice changed this referral's date to {corrected:%-d %B %Y} while you had it open") in body
    assert f'value="{corrected.isoformat()}"' in body
    referral.refresh_from_db()
    assert referral.made_on == corrected
    assert ActionCorrection.objects.count() == 1


def test_a_date_and_a_status_changed_together_are_both_kept(client, school, referral, attendance_lead, today):
    client.force_login(attendance_lead)
    earlier = today - timedelta(days=4)
    response = client.post(
        url("referral_update", school, referral.pk),
        {
            "made_on_shown": referral.made_on.isoformat(),
            "made_on": earlier.isoformat(),
            "status": "accepted",
            "outcome": "Allocated",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    referral.refresh_from_db()
    assert (referral.made_on, referral.status, referral.outcome) == (earlier, "accepted", "Allocated")
    record = ActionLog.objects.get(referral=referral, title="Referral: Early help / MARF")
    assert record.occurred_on == earlier
    update = ActionLog.objects.get(referral=referral, title="Referral to Early help / MARF: accepted")
    assert (update.occurred_on, update.outcome) == (today, "Allocated")


def test_an_emptied_date_is_refused_and_a_form_without_one_keeps_it(client, school, referral, attendance_lead):
    client.force_login(attendance_lead)
    response = client.post(
        url("referral_update", school, referral.pk),
        {"made_on": "", "status": "accepted", "outcome": ""},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422 and "Enter the date the referral was made." in response.content.decode()
    response = client.post(
        url("referral_update", school, referral.pk), {"status": "accepted", "outcome": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    made_on = referral.made_on
    referral.refresh_from_db()
    assert (referral.made_on, referral.status) == (made_on, "accepted")


def test_redating_one_of_two_other_referrals_on_a_day_moves_its_own_entry(school, pupil, attendance_lead, today):
    day = today - timedelta(days=2)
    first = services.referral_record(pupil=pupil, user=attendance_lead, to="other", made_on=day, outcome="Food bank")
    second = services.referral_record(pupil=pupil, user=attendance_lead, to="other", made_on=day, outcome="Uniform")
    services.referral_update(
        referral=second, user=attendance_lead, status="made", outcome="Uniform", made_on=day - timedelta(days=1)
    )
    assert ActionLog.objects.get(referral=second, title="Referral: Other").occurred_on == day - timedelta(days=1)
    assert ActionLog.objects.get(referral=first, title="Referral: Other").occurred_on == day
    # Onto the first one's day with the first one's words: the same referral twice, refused.
    with pytest.raises(ValidationError, match="is already recorded"):
        services.referral_update(referral=second, user=attendance_lead, status="made", outcome="Food bank", made_on=day)


def test_closing_a_referral_without_an_outcome_is_refused_in_place(client, school, referral, attendance_lead):
    client.force_login(attendance_lead)
    response = client.post(
        url("referral_update", school, referral.pk), {"status": "closed", "outcome": " "}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "needs one" in body and "is-invalid" in body
    referral.refresh_from_db()
    assert (referral.status, referral.outcome) == ("made", "")
    # Without JavaScript, the whole page comes back with the message on that row.
    response = client.post(url("referral_update", school, referral.pk), {"status": "closed", "outcome": ""})
    assert response.status_code == 422 and "needs one" in response.content.decode()


def test_la_officer_sees_referrals_without_forms(client, school, referral, staff):
    client.force_login(staff["lara"])
    body = client.get(url("referrals", school)).content.decode()
    assert "Being considered" not in body.split("<tbody>")[1] and "<select" not in body.split("<tbody>")[1]
    assert escape(referral.pupil.surname) in body


def test_recording_a_referral_from_the_pupil(client, school, pupil, attendance_lead, today):
    client.force_login(attendance_lead)
    response = client.get(url("referral_create", school, pupil.pk))
    assert response.status_code == 200 and pupil.full_name in response.content.decode()
    response = client.post(
        url("referral_create", school, pupil.pk),
        {"to": "la_attendance", "made_on": today.isoformat(), "status": "made", "outcome": ""},
    )
    assert response.status_code == 302 and response["Location"] == url("pupil", school, pupil.pk)
    referral = Referral.objects.get()
    assert (referral.pupil, referral.to, referral.by) == (pupil, "la_attendance", attendance_lead)
    assert ActionLog.objects.get(pupil=pupil).kind == "referral"


def test_a_referral_in_the_future_is_refused_in_place(client, school, pupil, attendance_lead, today):
    client.force_login(attendance_lead)
    response = client.post(
        url("referral_create", school, pupil.pk),
        {"to": "camhs", "made_on": (today + timedelta(days=1)).isoformat(), "status": "made"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="referral-form">') and "date in the future" in body
    assert not Referral.objects.exists()


def test_referrals_csv_columns(client, school, referral, attendance_lead):
    attendance_lead.first_name, attendance_lead.last_name = "Alice", "Hart"
    attendance_lead.save()
    client.force_login(attendance_lead)
    rows = rows_of(client.get(url("referrals", school) + "?format=csv"))
    assert rows[0] == [
        "Date",
        "UPN",
        "Pupil",
        "Class",
        "Referred to",
        "Status",
        "Outcome",
        "Recorded by",
        "Last updated",
    ]
    assert rows[1][1:8] == [
        referral.pupil.upn,
        referral.pupil.full_name,
        "4B",
        "Early help / MARF",
        "Made",
        "",
        "Alice Hart",  # as the pages name people, not by username
    ]


def test_csv_cells_that_look_like_formulas_stay_text(client, school, pupil, attendance_lead, today):
    services.referral_record(pupil=pupil, user=attendance_lead, to="camhs", made_on=today, outcome="=HYPERLINK(1)")
    client.force_login(attendance_lead)
    rows = rows_of(client.get(url("referrals", school) + "?format=csv"))
    assert rows[1][6] == "'=HYPERLINK(1)"


def test_referrals_queries_do_not_grow_with_pupils(client, school, attendance_lead, today):
    def refer(pupils):
        for p in pupils:
            services.referral_record(pupil=p, user=attendance_lead, to="camhs", made_on=today)

    refer(make_pupils(school, 3, today))
    client.force_login(attendance_lead)
    expected = queries_for(client, url("referrals", school))
    refer(make_pupils(school, 30, today, "5C"))
    assert queries_for(client, url("referrals", school)) == expected


# --- absence by group ---------------------------------------------------------------------------------


@pytest.fixture
def groups(school, today):
    """Year 4: good, persistent (1 in 7 absent), severe (1 in 2); Year 5: one persistent pupil with FSM and SEN K."""
    good, persistent, severe = make_pupils(school, 3, today, absent_every=1000)
    for pupil, n in ((persistent, 7), (severe, 2)):
        pupil.marks.all().delete()
        fill_register(pupil, year_start(school, today), today - timedelta(days=1), every(n))
    year5 = make_pupils(school, 1, today, "5C", absent_every=5)[0]
    year5.year_group = school.year_groups.get(code="5")
    year5.sen = Pupil.Sen.SUPPORT
    year5.save()
    year5.flags.add(Flag.objects.get(school=school, key="fsm"))
    # Left before this year began: not in this year's figures.
    PupilFactory(school=school, start_on=today - timedelta(days=800), leaving_on=today - timedelta(days=400))
    return {"good": good, "persistent": persistent, "severe": severe, "year5": year5}


def table(response, heading):
    return {row.name: row for t in response.context["tables"] if t.heading == heading for row in t.rows}


def test_absence_by_group_counts_persistent_and_severe_by_the_dfe_method(client, school, groups, staff):
    client.force_login(staff["sam"])
    response = client.get(url("absence_groups", school))
    assert response.status_code == 200
    whole = response.context["whole"]
    assert (whole.pupils, whole.persistent, whole.severe) == (4, 3, 1)
    assert whole.persistent_pct == 75
    assert whole.against == Decimal("56.2")  # 75% against the national 18.8%
    years = table(response, "By year group")
    assert (years["Year 4"].pupils, years["Year 4"].persistent, years["Year 4"].severe) == (3, 2, 1)
    assert (years["Year 5"].pupils, years["Year 5"].persistent) == (1, 1)
    sen = table(response, "By SEN status")
    assert (sen["SEN support"].pupils, sen["SEN support"].persistent) == (1, 1)
    assert sen["No special educational need"].pupils == 3
    flags = table(response, "By pupil group (flags)")
    assert (flags["Free school meals"].pupils, flags["Free school meals"].persistent_pct) == (1, 100)
    assert list(flags)[0] == "Free school meals"  # FSM first
    body = response.content.decode()
    assert "18.8%" in body  # the national rate beside the school's
    # Counted from the register now, so it may differ from the dashboard's last-night figures: it says so.
    assert "from the register as it stands now (the dashboard's figures are last night's)" in body


def test_pupils_below_compulsory_school_age_count_in_their_year_only_and_groups_meet_the_whole_school(
    client, school, groups, attendance_lead, today
):
    """DfE's figures, and so the national rate, cover pupils aged 5 to 15 on the 31 August before the school year."""
    reception = school.year_groups.get(code="R")
    age_date = date(today.year if today.month >= 9 else today.year - 1, 8, 31)
    for pupil in make_pupils(school, 2, today, "RA", absent_every=2):  # both severely absent, both aged 4
        pupil.year_group, pupil.date_of_birth = reception, age_date.replace(year=age_date.year - 4)
        pupil.sen = Pupil.Sen.SUPPORT
        pupil.save()
    client.force_login(attendance_lead)
    response = client.get(url("absence_groups", school))
    whole = response.context["whole"]
    assert (whole.pupils, whole.persistent, whole.severe) == (4, 3, 1)  # as before the Reception pupils came
    years = table(response, "By year group")
    assert (years["Reception"].pupils, years["Reception"].severe) == (2, 2)
    assert years["Reception"].note == (
        "2 pupils below compulsory school age: not in the whole-school, SEN or group figures"
    )
    sen = table(response, "By SEN status")
    assert sen["SEN support"].pupils == 1
    # Each group is set against the whole school (75%), not against the national rate for all pupils.
    assert (sen["SEN support"].against, years["Year 4"].against) == (Decimal(25), Decimal(100 * 2) / 3 - 75)
    body = response.content.decode()
    assert "Against whole school" in body and "2 pupils below compulsory school age" in body


def test_the_sen_flag_rows_agree_with_the_sen_status_rows_as_the_ladder_does(client, school, groups, staff):
    """year5 has SEN status K but was never given the flag: a ladder's `flag: sen_support` picks them out."""
    groups["good"].flags.add(Flag.objects.get(school=school, key="ehcp"))  # given the flag, SEN status N
    client.force_login(staff["sam"])
    response = client.get(url("absence_groups", school))
    flags = table(response, "By pupil group (flags)")
    assert (flags["SEN support"].pupils, flags["SEN support"].persistent) == (1, 1)
    assert (flags["Education, health and care plan"].pupils, flags["Education, health and care plan"].persistent) == (
        1,
        0,
    )
    assert flags["SEN support"].note == "pupils given this flag, and pupils with this SEN status"
    sen = table(response, "By SEN status")
    assert (sen["SEN support"].pupils, sen["Education, health and care plan"].pupils) == (1, 0)


def test_absence_by_group_says_when_fsm_is_not_held(client, school, attendance_lead, today):
    make_pupils(school, 2, today)
    client.force_login(attendance_lead)
    response = client.get(url("absence_groups", school))
    assert table(response, "By pupil group (flags)")["Free school meals"].note == "FSM is not held for any pupil"
    # Held only for a Reception child (outside the cohort the row counts): held, so no such note.
    child = make_pupils(school, 1, today, "RA")[0]
    child.date_of_birth = date(today.year - 4, 1, 1)
    child.save()
    child.flags.add(Flag.objects.get(school=school, key="fsm"))
    row = table(client.get(url("absence_groups", school)), "By pupil group (flags)")["Free school meals"]
    assert (row.pupils, row.note) == (0, "")


def test_absence_by_group_csv(client, school, groups, attendance_lead):
    client.force_login(attendance_lead)
    response = client.get(url("absence_groups", school) + "?format=csv")
    rows = rows_of(response)
    assert rows[0] == [
        "Grouping",
        "Group",
        "Pupils",
        "Persistently absent",
        "Persistent absence %",
        "Severely absent",
        "Severe absence %",
        "Compared with",
        "Their persistent absence %",
        "Note",
        "From",
        "To",
    ]
    assert rows[1][:10] == [
        "Whole school",
        "All pupils of compulsory school age",
        "4",
        "3",
        "75.0",
        "1",
        "25.0",
        "England 2025/26 year to date",
        "18.8",
        "* fewer than 5 pupils: one pupil moves their rates a lot",  # the page's *
    ]
    assert rows[[r[1] for r in rows].index("SEN support")][:10] == [
        "By SEN status",
        "SEN support",
        "1",
        "1",
        "100.0",
        "0",
        "0.0",
        "whole school",
        "75.0",
        "* fewer than 5 pupils: one pupil moves their rates a lot",
    ]
    assert AuditEvent.objects.filter(verb="export", what__contains="by group").exists()


def test_absence_by_group_queries_do_not_grow_with_pupils(client, school, attendance_lead, today):
    fsm = Flag.objects.get(school=school, key="fsm")
    for p in make_pupils(school, 3, today):
        p.flags.add(fsm)
    client.force_login(attendance_lead)
    paths = (url("absence_groups", school), url("absence_groups", school) + "?format=csv")
    expected = [queries_for(client, path) for path in paths]
    for p in make_pupils(school, 30, today, "5C"):
        p.flags.add(fsm)
    assert [queries_for(client, path) for path in paths] == expected


def _counted_by_hand(pupil, start, end):
    """(possible, absent) from the pupil's marks, counted directly: every mark here is a possible session."""
    marks = pupil.marks.filter(date__range=(start, end))
    return marks.count(), marks.filter(code="O").count()


def test_a_groups_persistent_count_opens_the_pupils_behind_it(client, school, groups, staff, today):
    client.force_login(staff["sam"])
    page = client.get(url("absence_groups", school))
    year4 = table(page, "By year group")["Year 4"]
    link = f'href="?group={year4.key}"'
    assert link in page.content.decode()

    response = client.get(url("absence_groups", school) + f"?group={year4.key}")
    assert response.status_code == 200
    found = response.context["found"]
    # The severe pupil (1 in 2 missed) before the persistent one (1 in 7): lowest attendance first.
    assert [absent.pupil for absent in found] == [groups["severe"], groups["persistent"]] and year4.persistent == 2
    start, end = response.context["start"], response.context["end"]
    for absent in found:
        assert (absent.summary.possible, absent.summary.absent) == _counted_by_hand(absent.pupil, start, end)
    assert [absent.summary.severe for absent in found] == [True, False]
    body = " ".join(response.content.decode().split())
    assert "Year 4: 2 persistently absent pupils of 3, 1 severely" in body
    link = url("pupil", school, 0).replace("/0/", "/{}/")
    assert body.index(link.format(groups["severe"].pk)) < body.index(link.format(groups["persistent"].pk))
    assert f'/pupils/{groups["good"].pk}/"' not in body.partition("group-heading")[2]
    assert "Severe</span>" in body
    assert AuditEvent.objects.filter(
        verb="view", user=staff["sam"], what__startswith="persistently absent pupils, Year 4"
    ).exists()


def test_the_whole_school_and_flag_rows_open_the_pupils_they_count(client, school, groups, attendance_lead, today):
    reception = school.year_groups.get(code="R")
    age_date = date(today.year if today.month >= 9 else today.year - 1, 8, 31)
    little = make_pupils(school, 1, today, "RA", absent_every=2)[0]  # severely absent, aged 4: not in the cohort
    little.year_group, little.date_of_birth = reception, age_date.replace(year=age_date.year - 4)
    little.save()
    client.force_login(attendance_lead)
    whole = client.get(url("absence_groups", school) + "?group=whole").context["found"]
    assert {a.pupil for a in whole} == {groups["persistent"], groups["severe"], groups["year5"]}
    reception_row = client.get(url("absence_groups", school) + "?group=year-R").context["found"]
    assert [a.pupil for a in reception_row] == [little]
    fsm = client.get(url("absence_groups", school) + "?group=flag-fsm").context["found"]
    assert [a.pupil for a in fsm] == [groups["year5"]]


def test_the_pupils_behind_a_group_export_as_csv(client, school, groups, ladder, attendance_lead, today):
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
    client.force_login(attendance_lead)
    response = client.get(url("absence_groups", school) + "?group=whole&format=csv")
    rows = rows_of(response)
    assert rows[0] == [
        "Group",
        "UPN",
        "Pupil",
        "Class",
        "Year",
        "Possible sessions",
        "Absent sessions",
        "Unauthorised sessions",
        "Attendance %",
        "Severe",
        "Stage",
        "Left on",
        "From",
        "To",
    ]
    by_upn = {row[1]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert set(by_upn) == {groups[k].upn for k in ("persistent", "severe", "year5")}
    severe = by_upn[groups["severe"].upn]
    start, end = school_calendar(school).academic_year_window(today)
    possible, absent = _counted_by_hand(groups["severe"], start, end)
    assert (severe["Possible sessions"], severe["Absent sessions"], severe["Severe"]) == (
        str(possible),
        str(absent),
        "yes",
    )
    assert severe["Attendance %"] == f"{Decimal(100 * (possible - absent)) / possible:.1f}"
    assert severe["Stage"] == Placement.objects.get(pupil=groups["severe"]).stage.name
    assert by_upn[groups["persistent"].upn]["Severe"] == "no"
    assert AuditEvent.objects.filter(verb="export", what__startswith="persistently absent pupils").exists()


def test_every_rows_count_is_the_pupils_it_opens_leavers_and_younger_pupils_included(
    client, school, groups, attendance_lead, today
):
    reception = school.year_groups.get(code="R")
    age_date = date(today.year if today.month >= 9 else today.year - 1, 8, 31)
    little = make_pupils(school, 1, today, "RA", absent_every=2)[0]
    little.year_group, little.date_of_birth, little.sen = reception, age_date.replace(year=age_date.year - 4), "K"
    little.save()
    # Missed every other session, then left last week: counted to their leaving day.
    leaver = make_pupils(school, 1, today, "4B", absent_every=2)[0]
    leaver.leaving_on = today - timedelta(days=7)
    leaver.save()
    groups["persistent"].flags.add(Flag.objects.get(school=school, key="young_carer"))
    client.force_login(attendance_lead)
    response = client.get(url("absence_groups", school))
    rows = [response.context["whole"], *(row for t in response.context["tables"] for row in t.rows)]
    opened = 0
    for row in rows:
        found = client.get(url("absence_groups", school) + f"?group={row.key}").context["found"]
        assert len(found) == row.persistent, row.name
        assert sum(absent.summary.severe for absent in found) == row.severe, row.name
        opened += bool(found)
    assert opened >= 5
    year4 = client.get(url("absence_groups", school) + f"?group=year-{groups['severe'].year_group.code}")
    assert leaver in [absent.pupil for absent in year4.context["found"]]
    assert f"left {leaver.leaving_on.day} {leaver.leaving_on:%b}" in year4.content.decode()
    csv_rows = rows_of(client.get(url("absence_groups", school) + f"?group=year-{leaver.year_group.code}&format=csv"))
    assert [r[11] for r in csv_rows if r[1] == leaver.upn] == [leaver.leaving_on.isoformat()]


GROUP_ACCESS = {"alice": 200, "bob": 404, "sam": 200, "dana": 200, "owen": 404, "lara": 200, "olivia": 404}


@pytest.mark.parametrize("who", sorted(GROUP_ACCESS))
def test_the_pupils_behind_a_group_by_role(client, school, groups, staff, who):
    client.force_login(staff[who])
    for query in ("?group=whole", "?group=whole&format=csv"):
        assert client.get(url("absence_groups", school) + query).status_code == GROUP_ACCESS[who]


def test_a_group_that_is_not_one_of_the_pages_and_another_schools_page_are_404(
    client, school, other_school, groups, attendance_lead
):
    client.force_login(attendance_lead)
    for key in ("year-99", "year-", "flag-nonsense", "sen-Z", "everyone"):
        assert client.get(url("absence_groups", school) + f"?group={key}").status_code == 404, key
    # Another school's groups, by its own address: not this lead's to open.
    assert client.get(url("absence_groups", other_school) + "?group=whole").status_code == 404
    assert not AuditEvent.objects.filter(what__startswith="persistently absent").exists()


def test_the_pupils_behind_a_group_take_the_same_queries_however_many(client, school, attendance_lead, today):
    make_pupils(school, 2, today, absent_every=3)
    client.force_login(attendance_lead)
    path = url("absence_groups", school) + "?group=whole"
    expected = queries_for(client, path)
    make_pupils(school, 20, today, "5C", absent_every=3)
    assert queries_for(client, path) == expected


def test_escalations_list_a_newcomer_first_placed_above_the_lowest_stage(client, school, moved, attendance_lead, today):
    """A pupil who joins after the first night and is placed straight at a stage of concern is listed as "New".

    The first night's placements of the whole school are not, nor a newcomer placed at the lowest stage.
    """
    struggling = make_pupils(school, 1, today, "6D", absent_every=4)[0]
    fine = make_pupils(school, 1, today, "6E", absent_every=1000)[0]
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
    client.force_login(attendance_lead)
    response = client.get(url("escalations", school))
    rows = {r.change.pupil: r.change for r in response.context["rows"]}
    assert struggling in rows and rows[struggling].from_stage is None
    assert rows[struggling].kind == StageChange.Kind.INITIAL
    assert fine not in rows
    assert not ({moved[2], moved[4], moved[5]} & set(rows))  # placed on the first night, not moved since
    body = response.content.decode()
    assert "New</span> →" in body
    csv_rows = rows_of(client.get(url("escalations", school) + "?format=csv"))
    (row,) = [row for row in csv_rows if row[1] == struggling.upn]
    assert row[5] == "" and row[7] == "First placement"


def test_a_hand_placement_before_the_first_night_does_not_make_the_night_an_escalation(
    client, school, ladder, attendance_lead, today
):
    pupils = make_pupils(school, 3, today, "5C", absent_every=12)
    StageChange.objects.create(
        pupil=pupils[0],
        ladder=ladder,
        to_stage=ladder.stages.get(key="casework"),
        on=today - timedelta(days=20),
        kind=StageChange.Kind.MANUAL,
        decided_by=attendance_lead,
    )
    nightly.nightly_run(school=school, as_of=today - timedelta(days=10))
    assert StageChange.objects.filter(kind=StageChange.Kind.INITIAL, pupil__in=pupils[1:]).count() == 2
    client.force_login(attendance_lead)
    rows = client.get(url("escalations", school)).context["rows"]
    assert not {r.change.pupil for r in rows} & set(pupils[1:])


def test_an_officer_at_two_schools_switches_to_the_same_list_at_the_other(client, school, other_school, staff):
    officer = staff["lara"]
    MembershipFactory(user=officer, school=other_school, role=StaffMembership.Role.LA_OFFICER)
    client.force_login(officer)
    page = client.get(url("referrals", school)).content.decode()
    assert f'Referrals to services outside school <small class="text-muted fs-6">{school.name}</small></h1>' in page
    assert (
        f'<a class="dropdown-item" href="/school/{other_school.urn}/lists/referrals/">{other_school.name}</a>' in page
    )
    assert (
        f'<a class="dropdown-item active" aria-current="page" href="/school/{school.urn}/lists/referrals/">'
        f"{school.name}</a>"
    ) in page
    # A page about one pupil has no counterpart at the other school: its home instead.
    pupil = PupilFactory(school=school)
    page = client.get(reverse("interventions:pupil", args=[school.urn, pupil.pk])).content.decode()
    assert f'href="/school/{other_school.urn}/">{other_school.name}</a>' in page


def test_the_switcher_goes_home_at_a_school_where_the_person_holds_other_roles(client, school, other_school, staff):
    lead = staff["alice"]
    MembershipFactory(user=lead, school=other_school, role=StaffMembership.Role.OFFICE)  # no lists there
    client.force_login(lead)
    page = client.get(url("referrals", school)).content.decode()
    assert f'<a class="dropdown-item" href="/school/{other_school.urn}/">{other_school.name}</a>' in page


def test_the_switcher_goes_home_from_a_page_about_one_ladder(client, school, other_school, staff, ladder):
    officer = staff["lara"]
    MembershipFactory(user=officer, school=other_school, role=StaffMembership.Role.LA_OFFICER)
    client.force_login(officer)
    page = client.get(reverse("interventions:ladder_detail", args=[school.urn, ladder.key])).content.decode()
    assert f'<a class="dropdown-item" href="/school/{other_school.urn}/">{other_school.name}</a>' in page


def test_the_referral_form_chooses_no_service_for_you(client, school, pupil, attendance_lead, today):
    client.force_login(attendance_lead)
    response = client.post(
        url("referral_create", school, pupil.pk),
        {"made_on": today.isoformat(), "status": "made"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    assert 'value="" selected>Choose a service' in client.get(url("referral_create", school, pupil.pk)).content.decode()
    assert not Referral.objects.exists()


def test_recording_the_same_referral_twice_is_refused_and_names_the_first(
    client, school, pupil, attendance_lead, today
):
    attendance_lead.first_name, attendance_lead.last_name = "Alice", "Hart"
    attendance_lead.save()
    client.force_login(attendance_lead)
    data = {"to": "la_attendance", "made_on": today.isoformat(), "status": "made"}
    assert client.post(url("referral_create", school, pupil.pk), data).status_code == 302
    response = client.post(url("referral_create", school, pupil.pk), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    body = response.content.decode()
    assert f"A referral to LA attendance service on {today.day} {today:%B %Y} is already recorded by Alice Hart" in body
    assert Referral.objects.count() == 1 and ActionLog.objects.filter(kind="referral").count() == 1
    # Another service the same day, or the same service another day, is a new referral.
    assert client.post(url("referral_create", school, pupil.pk), {**data, "to": "camhs"}).status_code == 302
    earlier = {**data, "made_on": (today - timedelta(days=1)).isoformat()}
    assert client.post(url("referral_create", school, pupil.pk), earlier).status_code == 302
    assert Referral.objects.count() == 3
    # Two services under "Other" the same day, each named in its outcome, are two referrals.
    for service in ("Young carers", "Housing support"):
        other = {**data, "to": "other", "outcome": service}
        assert client.post(url("referral_create", school, pupil.pk), other).status_code == 302
    assert Referral.objects.filter(to="other").count() == 2
