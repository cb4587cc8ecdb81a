"""Ladder pages: the picture, copying, editing with validation, simulating, activating, exporting."""

from __future__ import annotations

import json
from datetime import date, timedelta
from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from interventions import nightly, selectors, services
from interventions.ladder_words import text_colour
from interventions.models import ActionLog, Ladder, NightlyRun, Placement, Proposal, StageChange, Task
from letters import services as letter_services
from letters.models import Letter, LetterTemplate
from pupils.models import AuditEvent, StaffMembership
from pupils.services import school_calendar
from tests.factories import PupilFactory, RegistrationGroupFactory
from tests.interventions.conftest import SIMPLE_LADDER, fill_register

Role = StaffMembership.Role


@pytest.fixture
def today():
    return timezone.localdate()


def url(name, school, *args):
    return reverse(f"interventions:{name}", args=[school.urn, *args])


def every(n: int):
    counter = {"i": 0}

    def code_for(day, session):
        counter["i"] += 1
        return "O" if counter["i"] % n == 0 else ("/" if session == 0 else "\\")

    return code_for


#: One absence in every N sessions: 99.9%, 91.7%, 85.7%, 66.7% attendance.
EVERY = [1000, 12, 7, 3]


def make_pupils(school, n, today, group_name="4B"):
    group = RegistrationGroupFactory(school=school, name=group_name)
    pupils = []
    for i in range(n):
        pupil = PupilFactory(school=school, registration_group=group)
        fill_register(pupil, today - timedelta(days=70), today - timedelta(days=1), every(EVERY[i % len(EVERY)]))
        pupils.append(pupil)
    return pupils


@pytest.fixture
def placed(school, ladder, today):
    pupils = make_pupils(school, 4, today)
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
    return pupils


def queries_for(client, path) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(path).status_code == 200
    return len(context)


def everything_counted():
    return [m.objects.count() for m in (Ladder, Placement, StageChange, Task, Proposal, ActionLog, Letter)]


# --- who may see and change what -----------------------------------------------------------------

SEE = {"alice": 200, "bob": 404, "sam": 200, "dana": 200, "owen": 404, "lara": 200, "olivia": 404}
EDIT = {"alice": 200, "bob": 404, "sam": 200, "dana": 404, "owen": 404, "lara": 404, "olivia": 404}


@pytest.mark.parametrize(
    ("name", "args", "rule"),
    [
        ("ladder", (), SEE),
        ("ladder_detail", ("simple",), SEE),
        ("ladder_detail", ("sherrier",), SEE),
        ("ladder_simulate", ("simple",), SEE),
        ("ladder_simulate", ("sherrier",), SEE),
        ("ladder_export", ("simple",), SEE),
        ("ladder_edit", ("simple",), EDIT),
        ("ladder_activate", ("simple",), EDIT),
    ],
)
@pytest.mark.parametrize("who", sorted(SEE))
def test_ladder_pages_by_role(client, school, placed, staff, name, args, rule, who):
    client.force_login(staff[who])
    assert client.get(url(name, school, *args)).status_code == rule[who]


@pytest.mark.parametrize("who", sorted(EDIT))
def test_copying_by_role(client, school, ladder, staff, who):
    client.force_login(staff[who])
    response = client.post(url("ladder_copy", school, "simple"))
    assert response.status_code == (302 if EDIT[who] == 200 else 404)
    assert Ladder.objects.filter(school=school, key="simple-copy").exists() == (EDIT[who] == 200)


@pytest.mark.parametrize("who", sorted(EDIT))
def test_activating_by_role(client, school, ladder, staff, who):
    other, _ = services.ladder_load(school=school, document={**SIMPLE_LADDER, "key": "other"})
    client.force_login(staff[who])
    response = client.post(url("ladder_activate", school, "other"))
    assert response.status_code == (302 if EDIT[who] == 200 else 404)
    other.refresh_from_db()
    assert other.is_active == (EDIT[who] == 200)


def test_another_schools_ladder_is_404(client, school, other_school, ladder, attendance_lead):
    services.ladder_load(school=other_school, document={**SIMPLE_LADDER, "key": "theirs"}, activate=True)
    client.force_login(attendance_lead)
    for name in ("ladder_detail", "ladder_simulate", "ladder_export", "ladder_edit", "ladder_activate"):
        assert client.get(url(name, school, "theirs")).status_code == 404, name
    assert client.post(url("ladder_copy", school, "theirs")).status_code == 404
    assert client.post(url("ladder_activate", school, "theirs")).status_code == 404
    assert client.get(url("ladder", other_school)).status_code == 404
    assert not Ladder.objects.filter(school=school, key__startswith="theirs").exists()


# --- the picture ---------------------------------------------------------------------------------


def test_active_ladder_picture_shows_stages_criteria_in_words_actions_and_counts(
    client, school, placed, attendance_lead
):
    client.force_login(attendance_lead)
    response = client.get(url("ladder", school))
    assert response.status_code == 200
    picture = response.context["picture"]
    assert [s.key for s in picture.falling] == ["universal", "concern", "pa", "panel", "casework"]
    counts = {s.key: s.count for s in picture.stages}
    assert counts == {
        key: Placement.objects.filter(stage__key=key).count()
        for key in ("universal", "concern", "pa", "panel", "casework")
    }
    body = response.content.decode()
    assert "attendance below 95% year to date" in body
    assert "Phone the family" in body and "class teacher, within 2 school days" in body
    assert "Needs approval" in body and "Manual only" in body
    assert "every 2 weeks" in body
    # Letters by the names the print queue gives them, the school's own where it renamed one.
    assert "Letter of concern about attendance" in body and "Second warning" not in body
    assert "Sherrier CE Primary" in body  # the shipped ladders, to copy


def test_an_action_for_someone_who_does_not_log_actions_here_shows_as_the_leads(client, school, attendance_lead):
    document = {**SIMPLE_LADDER, "stages": [dict(stage) for stage in SIMPLE_LADDER["stages"]]}
    document["stages"][1]["actions"] = [{"key": "aim", "title": "Arrange an AIM meeting", "role": "la_officer"}]
    services.ladder_load(school=school, document=document, activate=True)
    client.force_login(attendance_lead)
    body = client.get(url("ladder", school)).content.decode()
    assert "attendance lead, with the LA officer" in body  # where the task will be: on the lead's My tasks
    assert "class teacher, within 2 school days" not in body


def test_the_ladder_names_letters_as_the_school_named_its_templates(client, school, ladder, attendance_lead):
    LetterTemplate.objects.create(school=school, key="first_reminder", name="Gentle nudge", subject="s", body="b")
    client.force_login(attendance_lead)
    body = client.get(url("ladder", school)).content.decode()
    assert "Gentle nudge" in body and "First reminder" not in body


def test_improving_track_is_drawn_under_the_stages_it_mirrors(client, school, attendance_lead):
    services.ladder_load(school=school, document=services.ladder_file_read("firs"), activate=True)
    client.force_login(attendance_lead)
    picture = client.get(url("ladder", school)).context["picture"]
    columns = {s.key: s.column for s in picture.falling}
    assert picture.improving
    for stage in picture.improving:
        assert stage.mirrors is not None and stage.column == columns[stage.mirrors.key]
    assert "mirrors" in client.get(url("ladder", school)).content.decode()


def test_a_shipped_ladder_can_be_seen_before_copying(client, school, ladder, attendance_lead):
    client.force_login(attendance_lead)
    response = client.get(url("ladder_detail", school, "sherrier") + "?shipped=1")
    assert response.status_code == 200
    assert response.context["shipped"] == "sherrier"
    assert "3+ lates this half-term" in response.content.decode()
    assert client.get(url("ladder_detail", school, "nonesuch")).status_code == 404


@pytest.mark.parametrize("how", ["loaded", "copied"])
def test_a_shipped_ladder_the_school_holds_a_copy_of_says_so(client, school, ladder, attendance_lead, how):
    client.force_login(attendance_lead)
    if how == "loaded":  # as the demo and a new school's default: under the shipped key
        services.ladder_load(school=school, document=services.ladder_file_read("kirkby"))
    else:  # with the Copy button: kirkby-copy
        client.post(url("ladder_copy", school, "kirkby"), {"from": "shipped"})
        assert Ladder.objects.filter(school=school, key="kirkby-copy").exists()
    body = client.get(url("ladder", school)).content.decode()
    shipped = body[body.index('id="shipped-heading"') :]
    kirkby = shipped[shipped.index('<code class="small">kirkby</code>') :]
    assert kirkby[: kirkby.index("</td>")].endswith("The school has its own copy, listed beside.</div>")
    mickley = shipped[shipped.index('<code class="small">mickley</code>') :]
    assert "own copy" not in mickley[: mickley.index("</td>")]


def test_no_active_ladder_shows_the_ladders_to_start_from(client, school, attendance_lead):
    client.force_login(attendance_lead)
    response = client.get(url("ladder", school))
    assert response.status_code == 200
    assert "no active ladder yet" in response.content.decode()


def test_ladder_page_queries_do_not_grow_with_pupils(client, school, ladder, attendance_lead, today):
    make_pupils(school, 3, today)
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
    client.force_login(attendance_lead)
    paths = (url("ladder", school), url("ladder_detail", school, "simple"), url("ladder_simulate", school, "simple"))
    expected = [queries_for(client, path) for path in paths]
    make_pupils(school, 30, today, "5C")
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1), full=True)  # the same night, more pupils
    assert [queries_for(client, path) for path in paths] == expected


# --- copy ----------------------------------------------------------------------------------------


def test_copying_a_shipped_ladder_makes_a_new_inactive_ladder(client, school, ladder, attendance_lead):
    client.force_login(attendance_lead)
    response = client.post(url("ladder_copy", school, "sherrier"), {"from": "shipped"})
    assert response.status_code == 302 and response["Location"] == url("ladder_edit", school, "sherrier-copy")
    copy = Ladder.objects.get(school=school, key="sherrier-copy")
    assert not copy.is_active and copy.name.endswith("(copy)")
    assert copy.stages.count() == 5
    ladder.refresh_from_db()
    assert ladder.is_active
    client.post(url("ladder_copy", school, "sherrier"), {"from": "shipped"})
    assert Ladder.objects.filter(school=school, key="sherrier-copy-2").exists()
    assert AuditEvent.objects.filter(verb="change", what__contains="copied ladder sherrier").count() == 2


def test_copying_the_active_ladder_never_touches_it(client, school, placed, ladder, attendance_lead):
    before = services.ladder_document(ladder)
    client.force_login(attendance_lead)
    client.post(url("ladder_copy", school, "simple"))
    client.post(url("ladder_copy", school, "simple-copy"))
    assert set(Ladder.objects.filter(school=school).values_list("key", flat=True)) == {
        "simple",
        "simple-copy",
        "simple-copy-2",
    }
    ladder.refresh_from_db()
    assert ladder.is_active and services.ladder_document(ladder) == before
    assert Ladder.objects.get(key="simple-copy").placements.count() == 0


# --- edit ----------------------------------------------------------------------------------------


@pytest.fixture
def draft(school, ladder):
    copy, _ = services.ladder_load(school=school, document={**SIMPLE_LADDER, "key": "draft", "name": "Draft"})
    return copy


def edited(ladder, change):
    document = yaml.safe_load(services.ladder_export(ladder))
    change(document)
    return yaml.safe_dump(document, sort_keys=False)


def test_edit_page_shows_the_ladder_as_yaml(client, school, draft, attendance_lead):
    client.force_login(attendance_lead)
    response = client.get(url("ladder_edit", school, "draft"))
    assert response.status_code == 200
    assert "key: draft" in response.content.decode()


def test_a_good_edit_is_saved_and_audited(client, school, draft, attendance_lead):
    def change(doc):
        doc["stages"][1]["criteria"] = {"attendance": {"below": 96}}
        doc["stages"][0]["criteria"] = {"attendance": {"below": 100}}  # ignored, with a warning

    client.force_login(attendance_lead)
    response = client.post(url("ladder_edit", school, "draft"), {"text": edited(draft, change)}, follow=True)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Saved" in body and "its criteria are ignored" in body
    assert "Pupils move by it from the next nightly run" not in body  # a draft moves nobody
    assert draft.stages.get(key="concern").criteria == {"attendance": {"below": 96}}
    assert AuditEvent.objects.filter(verb="change", what="edited ladder draft").exists()


def test_saving_the_active_ladder_says_when_pupils_move_by_it(client, school, ladder, attendance_lead):
    def change(doc):
        doc["stages"][1]["criteria"] = {"attendance": {"below": 96}}

    client.force_login(attendance_lead)
    response = client.post(url("ladder_edit", school, "simple"), {"text": edited(ladder, change)}, follow=True)
    assert "Pupils move by it from the next nightly run; until then they stand where last night put them." in (
        response.content.decode()
    )


def test_a_bad_edit_names_stage_and_field_and_changes_nothing(client, school, draft, attendance_lead):
    before = services.ladder_document(draft)

    def change(doc):
        doc["name"] = "Renamed"
        doc["stages"][2]["criteria"] = {"attendence": {"below": 90}}

    client.force_login(attendance_lead)
    response = client.post(url("ladder_edit", school, "draft"), {"text": edited(draft, change)})
    assert response.status_code == 422
    body = response.content.decode()
    assert "Nothing was saved" in body
    assert "stage &#x27;pa&#x27;, criteria" in body and "attendence" in body
    assert "Renamed" in body  # the text stays as typed, to fix
    draft.refresh_from_db()
    assert draft.name == "Draft" and services.ladder_document(draft) == before


def test_a_threshold_outside_0_to_100_is_refused_on_the_active_ladder(client, school, ladder, attendance_lead):
    before = services.ladder_document(ladder)

    def change(doc):
        doc["stages"][1]["criteria"] = {"attendance": {"at_most": 150}}
        doc["stages"][2]["criteria"] = {"attendance": {"below": -5}}

    client.force_login(attendance_lead)
    text = edited(ladder, change)
    response = client.post(url("ladder_edit", school, "simple"), {"text": text})
    assert response.status_code == 422
    body = response.content.decode()
    lines = text.splitlines()
    at_150, at_minus_5 = (next(n for n, line in enumerate(lines, 1) if value in line) for value in (": 150", ": -5"))
    assert (
        f'data-line="{at_150}" title="Select line {at_150} in the editor">line {at_150}, stage &#x27;concern&#x27;,'
        " criteria › attendance › at_most</a>: 150 is not a percentage" in body
    )
    assert (
        f'data-line="{at_minus_5}" title="Select line {at_minus_5} in the editor">line {at_minus_5}, stage'
        " &#x27;pa&#x27;, criteria › attendance › below</a>: -5 is not a percentage" in body
    )
    ladder.refresh_from_db()
    assert services.ladder_document(ladder) == before
    assert not AuditEvent.objects.filter(what="edited ladder simple").exists()


def test_yaml_that_does_not_parse_says_where(client, school, draft, attendance_lead):
    client.force_login(attendance_lead)
    response = client.post(url("ladder_edit", school, "draft"), {"text": "key: draft\nstages: [\n  - oops: {"})
    assert response.status_code == 422
    body = " ".join(response.content.decode().split())
    assert "This is not valid YAML, at line 3" in body  # under the box
    # And at the top, with the others, where it is seen: the line is a link that selects it in the box.
    banner = body.partition('id="ladder-errors"')[2].partition("</div>")[0]
    assert "Nothing was saved: 1 problem to fix" in banner
    assert 'class="go-to-line fw-semibold" data-line="3"' in banner and "this is not valid YAML" in banner


def test_a_field_left_empty_says_it_is_empty(client, school, draft, attendance_lead):
    client.force_login(attendance_lead)
    text = edited(draft, lambda doc: doc["stages"][1].update(name=None))
    response = client.post(url("ladder_edit", school, "draft"), {"text": text})
    assert "name</a>: is empty: write text after the colon" in " ".join(response.content.decode().split())


def test_the_key_cannot_change_in_an_edit(client, school, draft, attendance_lead):
    client.force_login(attendance_lead)
    text = edited(draft, lambda doc: doc.update(key="simple"))
    response = client.post(url("ladder_edit", school, "draft"), {"text": text})
    assert response.status_code == 422
    assert "the key must stay" in response.content.decode()
    assert Ladder.objects.get(key="simple").name == "Simple ladder"


def test_the_active_ladder_cannot_lose_a_stage_pupils_stand_on(client, school, placed, ladder, attendance_lead):
    before = services.ladder_document(ladder)
    client.force_login(attendance_lead)
    text = edited(ladder, lambda doc: doc["stages"].pop(1))  # "concern", where a pupil stands
    response = client.post(url("ladder_edit", school, "simple"), {"text": text})
    assert response.status_code == 422
    assert "pupils stand on this stage" in response.content.decode()
    ladder.refresh_from_db()
    assert services.ladder_document(ladder) == before


def test_an_edit_simulated_without_saving_shows_whom_it_changes_and_saves_nothing(
    client, school, placed, ladder, attendance_lead
):
    before, counted = services.ladder_document(ladder), everything_counted()
    at_concern = placed[1]  # 92.2%: Concern under "below 95"; Persistent absence if that stage is "below 93"

    def change(doc):
        doc["stages"][2]["criteria"] = {"attendance": {"below": 93}}

    client.force_login(attendance_lead)
    response = client.post(url("ladder_edit", school, "simple"), {"text": edited(ladder, change), "preview": "1"})
    assert response.status_code == 200
    preview = response.context["preview"]
    stages = {row["key"]: row for row in preview.stages}
    assert (stages["concern"]["change"], stages["pa"]["change"], stages["universal"]["change"]) == (-1, 1, 0)
    assert stages["pa"]["edited"] == Placement.objects.filter(stage__key="pa").count() + 1
    assert [row["pk"] for row in preview.pupils] == [at_concern.pk]
    assert (len(preview.saved.moves), len(preview.edited.moves)) == (0, 1)
    assert (preview.saved.letter_count, preview.edited.letter_count) == (0, 1)  # the stage's second warning
    body = response.content.decode()
    assert "Not saved: what your edit would change" in body
    assert (
        f'{at_concern.full_name}</a> <span class="text-body-secondary">{preview.pupils[0]["attendance"]}%</span>: '
        "as saved, stays where they are; as edited, moves to Persistent absence"
    ) in body
    assert "below: 93" in body  # the text stays as edited, to save or change again
    ladder.refresh_from_db()
    assert services.ladder_document(ladder) == before and everything_counted() == counted
    assert not AuditEvent.objects.filter(what="edited ladder simple").exists()


def test_an_edit_simulated_without_saving_is_checked_as_saving_would_check_it(
    client, school, placed, ladder, attendance_lead
):
    client.force_login(attendance_lead)
    text = edited(ladder, lambda doc: doc["stages"].pop(1))  # "concern", where a pupil stands
    response = client.post(url("ladder_edit", school, "simple"), {"text": text, "preview": "1"})
    assert response.status_code == 422
    body = response.content.decode()
    assert "pupils stand on this stage" in body and "Not saved: what your edit" not in body
    response = client.post(
        url("ladder_edit", school, "simple"), {"text": edited(ladder, lambda d: None), "preview": "1"}
    )
    assert "The edit changes no pupil's move, and no move proposed, on this register." in response.content.decode()


def test_a_stage_pupils_records_name_stays_even_when_nobody_stands_on_it(
    client, school, placed, ladder, attendance_lead
):
    pupil = Placement.objects.get(stage__key="concern").pupil
    services.pupil_move(pupil=pupil, stage=ladder.stages.get(key="pa"), user=attendance_lead, reason="Panel agreed")
    assert not Placement.objects.filter(stage__key="concern").exists()
    before = services.ladder_document(ladder)
    client.force_login(attendance_lead)
    text = edited(ladder, lambda doc: doc["stages"].pop(1))  # "concern": nobody there now, but their moves name it
    for asked in ({"text": text}, {"text": text, "preview": "1"}):
        response = client.post(url("ladder_edit", school, "simple"), asked)
        assert response.status_code == 422
        assert "pupils&#x27; records name this stage (moves made or proposed from or to it), so it stays" in (
            response.content.decode()
        )
    ladder.refresh_from_db()
    assert services.ladder_document(ladder) == before
    assert StageChange.objects.filter(pupil=pupil, from_stage__key="concern").exists()


# --- simulate, activate, export ----------------------------------------------------------------


def test_simulating_shows_counts_and_moves_and_changes_nothing(client, school, placed, draft, attendance_lead):
    before = everything_counted()
    client.force_login(attendance_lead)
    response = client.get(url("ladder_simulate", school, "draft"))
    assert response.status_code == 200
    page = response.context["page"]
    stages = {row["key"]: row for row in page.stages}
    assert sum(row["count"] for row in stages.values()) == 4
    # The draft has placed nobody: "now" is where pupils stand on the active ladder, stage by stage key.
    assert page.comparable and page.compared_with.key == "simple"
    assert {k: row["now"] for k, row in stages.items()} == {
        k: Placement.objects.filter(stage__key=k).count() for k in stages
    }
    # The same stages and thresholds: every pupil would keep their stage, as activating it keeps them.
    assert page.moves == [] and "Nobody would move." in response.content.decode()
    # As last night read it: the day the placements and the dashboard come from.
    last = school_calendar(school).register_day(NightlyRun.objects.get().run_on)
    assert f"with the register up to {last:%a} {last.day} {last:%b %Y}, as last night's run read it." in (
        response.content.decode()
    )
    assert everything_counted() == before


def test_simulating_the_active_ladder_agrees_with_last_nights_run(client, school, ladder, attendance_lead):
    # Full attendance up to the night two weeks ago, absent every day since: the register after the
    # night would move the pupil up, but the simulation reads it as the night did, as the dashboard shows.
    today = timezone.localdate()
    night = today - timedelta(days=14)
    pupil = PupilFactory(school=school, registration_group=RegistrationGroupFactory(school=school, name="4B"))
    fill_register(
        pupil, today - timedelta(days=70), today - timedelta(days=1), lambda day, _: "/" if day <= night else "O"
    )
    nightly.nightly_run(school=school, as_of=night)
    assert Placement.objects.get(pupil=pupil).stage.key == "universal"
    client.force_login(attendance_lead)
    response = client.get(url("ladder_simulate", school, "simple"))
    simulation, page = response.context["simulation"], response.context["page"]
    assert page.moves == [] and all(row["delta"] == 0 for row in page.stages)
    assert simulation.proposed == Proposal.objects.filter(status=Proposal.Status.PENDING).count() == 0
    # As of today the same ladder would move them: what the page would have said before.
    later = services.ladder_simulate(school=school, document=services.ladder_document(ladder), as_of=today)
    assert [(move["from"], move["to"]) for move in later.moves] == [("universal", "pa")]


def test_simulated_stage_chips_have_text_that_reads_on_their_colour(client, school, placed, draft, attendance_lead):
    client.force_login(attendance_lead)
    response = client.get(url("ladder_simulate", school, "draft"))
    html = response.content.decode()
    for row in response.context["page"].stages:
        assert f'style="background: {row["colour"]}; color: {text_colour(row["colour"])}"' in html
    assert 'style="background: #6c757d">' not in html  # no chip left to the browser's default text colour


def test_simulating_a_ladder_with_other_stages_shows_the_active_one_beside_it(client, school, placed, attendance_lead):
    services.ladder_load(school=school, document=services.ladder_file_read("sherrier"))
    client.force_login(attendance_lead)
    page = client.get(url("ladder_simulate", school, "sherrier")).context["page"]
    assert not page.comparable and page.compared_with.key == "simple"
    assert [row["count"] for row in page.current] == [
        Placement.objects.filter(stage__key=s).count() for s in ("universal", "concern", "pa", "panel", "casework")
    ]
    assert all(row["now"] is None for row in page.stages)


def test_a_shipped_ladder_can_be_simulated_before_copying(client, school, placed, staff):
    before = everything_counted()
    client.force_login(staff["alice"])
    detail = client.get(url("ladder_detail", school, "sherrier") + "?shipped=1").content.decode()
    assert escape(url("ladder_simulate", school, "sherrier") + "?shipped=1") in detail
    response = client.get(url("ladder_simulate", school, "sherrier") + "?shipped=1")
    assert response.status_code == 200 and response.context["shipped"] == "sherrier"
    document = services.ladder_file_read("sherrier")
    # The stages as the shipped file draws them, against pupils where the active ladder has them now.
    page = response.context["page"]
    assert [(row["key"], row["colour"]) for row in page.stages] == [
        (stage["key"], stage.get("colour", "#6c757d")) for stage in document["stages"]
    ]
    assert page.compared_with.key == "simple" and not page.comparable
    as_of = selectors.simulation_day(school=school, night=selectors.last_good_run(school=school))
    expected = services.ladder_simulate(school=school, document=document, as_of=as_of)
    assert [row["count"] for row in page.stages] == [row["count"] for row in expected.stages]
    assert sum(row["count"] for row in page.stages) == 4
    html = response.content.decode()
    assert "What Sherrier" in html and "Shipped ladder</span>" in html
    assert f'action="{url("ladder_copy", school, "sherrier")}"' in html and 'name="from" value="shipped"' in html
    assert escape(url("ladder_detail", school, "sherrier") + "?shipped=1") in html
    assert everything_counted() == before
    # A senior leader may look, not copy.
    client.force_login(staff["dana"])
    html = client.get(url("ladder_simulate", school, "sherrier") + "?shipped=1").content.decode()
    assert "Copy to a new ladder" not in html
    assert client.get(url("ladder_simulate", school, "nonesuch") + "?shipped=1").status_code == 404


def test_a_shipped_ladder_simulated_beside_the_schools_copy_under_its_key(client, school, placed, attendance_lead):
    services.ladder_load(school=school, document={**services.ladder_file_read("sherrier"), "name": "Ours"})
    client.force_login(attendance_lead)
    ours = client.get(url("ladder_simulate", school, "sherrier"))
    assert ours.context["ladder"].name == "Ours" and not ours.context["shipped"]
    shipped = client.get(url("ladder_simulate", school, "sherrier") + "?shipped=1")
    assert shipped.context["ladder"] is None and shipped.context["shipped"] == "sherrier"
    assert "What Sherrier" in shipped.content.decode()


def test_a_shipped_ladder_is_simulated_as_a_copy_would_be_even_beside_an_edited_one_of_its_key(
    client, school, placed, attendance_lead, today
):
    import copy

    ours = copy.deepcopy(services.ladder_file_read("sherrier"))
    for stage in ours["stages"][1:]:  # the school's own edit of it, under its key, active, with pupils placed
        stage["key"] = f"our-{stage['key']}"
    services.ladder_load(school=school, document=ours, activate=True)
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
    assert Placement.objects.filter(ladder__key="sherrier", stage__key__startswith="our-").exists()
    client.force_login(attendance_lead)
    response = client.get(url("ladder_simulate", school, "sherrier") + "?shipped=1")
    assert response.status_code == 200
    # Pupils at a stage both have stay there, as activating a copy would keep them; the rest are placed anew.
    shipped_keys = {stage["key"] for stage in services.ladder_file_read("sherrier")["stages"]}
    assert {row["key"] for row in response.context["page"].stages} == shipped_keys
    assert sum(row["count"] for row in response.context["page"].stages) == len(placed)


def test_a_shipped_ladder_naming_a_letter_the_school_lacks_says_so(
    client, school, placed, attendance_lead, monkeypatch
):
    # Every shipped ladder's letters are shipped too: as if a release shipped one without its template.
    monkeypatch.delitem(letter_services.DEFAULT_TEMPLATES, "la_referral_notice")
    client.force_login(attendance_lead)
    response = client.get(url("ladder_simulate", school, "sherrier") + "?shipped=1", follow=True)
    assert response.redirect_chain[-1][0] == url("ladder_detail", school, "sherrier") + "?shipped=1"
    assert "Could not simulate:" in response.content.decode()


def test_activating_asks_first_then_switches_and_is_audited(client, school, placed, ladder, draft, attendance_lead):
    client.force_login(attendance_lead)
    response = client.get(url("ladder_activate", school, "draft"))
    assert "It replaces <strong>Simple ladder</strong>" in response.content.decode()
    draft.refresh_from_db()
    assert not draft.is_active
    for _ in range(2):
        response = client.post(url("ladder_activate", school, "draft"))
        assert response.status_code == 302
    draft.refresh_from_db()
    ladder.refresh_from_db()
    assert draft.is_active and not ladder.is_active
    assert AuditEvent.objects.filter(verb="change", what="activated ladder draft").count() == 1


def propose(on, pupil, start="concern", end="pa"):
    stages = {s.key: s for s in on.stages.all()}
    return Proposal.objects.create(
        pupil=pupil,
        ladder=on,
        from_stage=stages[start],
        to_stage=stages[end],
        proposed_on=date(2025, 11, 25),
        reasons=["attendance 88% < 90%"],
    )


def test_activating_a_ladder_without_the_old_ones_stages_withdraws_the_moves_proposed_on_it(
    client, school, placed, ladder, attendance_lead
):
    renamed = {**SIMPLE_LADDER, "key": "other", "name": "Other"}
    renamed["stages"] = [{**stage, "key": f"other-{stage['key']}"} for stage in SIMPLE_LADDER["stages"]]
    other, _ = services.ladder_load(school=school, document=renamed)
    propose(ladder, next(p for p in placed if not Proposal.objects.filter(pupil=p).exists()))
    kept = propose(other, placed[0], "other-concern", "other-pa")  # on the ladder made active: still to decide
    assert Proposal.objects.filter(ladder=ladder, status="pending").count() == 2  # the night's, and ours
    client.force_login(attendance_lead)
    asked = client.get(url("ladder_activate", school, "other")).content.decode()
    assert "The 2 moves awaiting approval on Simple ladder are withdrawn: they can no longer be decided." in asked
    assert "keep" not in asked.partition("<ul>")[2].partition("</ul>")[0]  # no stage in common: nobody kept
    response = client.post(url("ladder_activate", school, "other"), follow=True)
    assert "2 moves proposed on the ladder it replaces were withdrawn." in response.content.decode()
    assert set(Proposal.objects.filter(ladder=ladder).values_list("status", "decision_reason")) == {
        ("withdrawn", "The school's ladder is now Other")
    }
    assert not Placement.objects.filter(ladder=other).exists()  # tonight's run places everyone afresh
    assert services.ladder_activate(ladder=other).withdrawn == 0  # again: nothing left to withdraw
    kept.refresh_from_db()
    assert kept.status == "pending"


def test_activating_an_edited_copy_keeps_every_pupil_at_their_stage_and_gives_nothing_twice(
    client, school, placed, ladder, attendance_lead, today
):
    """An attendance lead copies the active ladder, changes one threshold, and activates the copy."""
    copy, _ = services.ladder_copy(school=school, document=services.ladder_document(ladder))
    waiting = next(p for p in Proposal.objects.filter(ladder=ladder, status="pending"))
    before = {p.pupil_id: (p.stage.key, p.since, p.attendance_pct) for p in Placement.objects.filter(ladder=ladder)}
    tasks, letters = Task.objects.count(), Letter.objects.count()
    client.force_login(attendance_lead)

    asked = " ".join(client.get(url("ladder_activate", school, copy.key)).content.decode().split())
    assert f"{len(before)} pupils keep their stage</strong>" in asked
    assert "The 1 move awaiting approval between stages this ladder also has waits for a decision on this one." in asked
    response = client.post(url("ladder_activate", school, copy.key), follow=True)
    said = response.content.decode()
    assert f"{len(before)} pupils kept their stage, with nothing sent or given again." in said
    assert "Tonight&#x27;s run moves whoever this ladder says should move." in said  # nobody is left to place
    assert "1 move awaiting approval waits on this ladder." in said

    # Where they stood, since when, and last night's figures: the dashboard is right at once.
    after = {p.pupil_id: (p.stage.key, p.since, p.attendance_pct) for p in Placement.objects.filter(ladder=copy)}
    assert after == before
    moved = Proposal.objects.get(ladder=copy, status="pending")
    assert (moved.pupil_id, moved.from_stage.key, moved.to_stage.key) == (
        waiting.pupil_id,
        waiting.from_stage.key,
        waiting.to_stage.key,
    )
    dashboard = client.get(reverse("interventions:dashboard", args=[school.urn])).content.decode()
    assert "awaiting approval" in dashboard.lower()

    # Tonight's run, and the night after: no task given and no letter queued again.
    nightly.nightly_run(school=school, as_of=today)
    nightly.nightly_run(school=school, as_of=today + timedelta(days=1))
    assert (Task.objects.count(), Letter.objects.count()) == (tasks, letters)
    assert set(StageChange.objects.filter(ladder=copy).values_list("kind", flat=True)) == {"kept"}
    # Kept is not a move: no escalation, nothing "moved overnight".
    escalations = client.get(reverse("interventions:escalations", args=[school.urn])).content.decode()
    assert "Kept from the last ladder" not in escalations


def test_export_gives_the_yaml_back_and_is_audited(client, school, ladder, attendance_lead):
    client.force_login(attendance_lead)
    response = client.get(url("ladder_export", school, "simple"))
    assert response["Content-Type"] == "application/yaml; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="simple.yaml"'
    assert yaml.safe_load(response.content) == services.ladder_document(ladder)
    assert AuditEvent.objects.filter(verb="export", what="ladder simple as YAML").exists()


@pytest.mark.parametrize("name", services.SHIPPED)
def test_the_yaml_to_edit_loads_back_to_the_same_ladder(school, name):
    loaded, _ = services.ladder_load(school=school, document=services.ladder_file_read(name))
    assert yaml.safe_load(services.ladder_export(loaded)) == services.ladder_document(loaded)


def test_the_simulation_page_says_what_work_the_moves_would_give(client, school, placed, attendance_lead):
    """A stricter copy of the active ladder: the pupils it would move up, and the tasks and letters that makes."""

    def stricter(doc):
        doc["key"], doc["name"] = "strict", "Strict"
        doc["stages"][1]["criteria"] = {"attendance": {"at_most": 100}}  # everyone: "concern" at least

    services.ladder_load(school=school, document=yaml.safe_load(edited(placed_ladder(school), stricter)))
    client.force_login(attendance_lead)
    response = client.get(url("ladder_simulate", school, "strict"))
    simulation = response.context["simulation"]
    body = " ".join(response.content.decode().split())
    moved_to_concern = sum(move["to"] == "concern" for move in simulation.moves)
    assert moved_to_concern > 0
    assert f'<span class="fw-semibold">{moved_to_concern}</span> × Phone the family' in body
    assert f'<span class="fw-semibold">{moved_to_concern}</span> × Review at Concern' in body
    assert f'<span class="fw-semibold">{moved_to_concern}</span> × First reminder' in body
    tasks, letters = simulation.task_count, simulation.letter_count
    assert f"{tasks} task{'s' if tasks != 1 else ''}</h3>" in body
    assert f"{letters} letter{'s' if letters != 1 else ''}</h3>" in body
    # Only the pupil who moves: the others keep the stages they stand at.
    assert [move["from"] for move in simulation.moves] == ["universal"] * moved_to_concern


def placed_ladder(school):
    return Ladder.objects.get(school=school, is_active=True)


def test_a_pupil_kept_at_their_stage_shows_how_they_came_to_it_on_the_ladder_replaced(
    client, school, placed, ladder, attendance_lead
):
    copy, _ = services.ladder_copy(school=school, document=services.ladder_document(ladder))
    services.ladder_activate(ladder=copy, user=attendance_lead)
    pupil = next(p for p in placed if Placement.objects.get(pupil=p, ladder=copy).stage.key == "pa")
    client.force_login(attendance_lead)
    page = " ".join(client.get(reverse("interventions:pupil", args=[school.urn, pupil.pk])).content.decode().split())
    timeline = page.partition("Stage history")[2].partition("</ol>")[0]
    kept_at = timeline.index(f"Kept at the same stage when {copy.name} replaced {ladder.name}.")
    came = StageChange.objects.get(ladder=ladder, pupil=pupil)
    assert timeline.index(escape("; ".join(came.reasons))) > kept_at  # the older change, below the newer
    assert "Kept from the last ladder by" in timeline


def test_the_simulation_lists_the_moves_it_would_propose(client, school, placed, ladder, attendance_lead):
    pending = Proposal.objects.get(ladder=ladder, status="pending")
    client.force_login(attendance_lead)
    response = client.get(url("ladder_simulate", school, "simple"))
    page = response.context["page"]
    assert [(p["pk"], p["from"], p["to"]) for p in page.proposals] == [
        (pending.pupil_id, pending.from_stage.key, pending.to_stage.key)
    ]
    body = " ".join(response.content.decode().split())
    assert 'Would be proposed for approval <span class="badge text-bg-warning">1</span>' in body
    assert escape(pending.pupil.full_name) in body.partition("Would be proposed for approval")[2]
    # What approving it would give, checked against approving it.
    tasks, letters = response.context["simulation"].approval_work
    before = (Task.objects.count(), Letter.objects.count())
    services.proposal_approve(proposal=pending, user=attendance_lead, reason="agreed at the panel")
    assert (Task.objects.count() - before[0], Letter.objects.count() - before[1]) == (tasks, letters)
    assert tasks + letters > 0
    assert f"Approving it would give {tasks} task{'s' if tasks != 1 else ''} and {letters} letter" in body


def test_the_simulation_lists_a_declined_move_as_resting_until_the_night_may_propose_it(
    client, school, placed, ladder, attendance_lead
):
    pending = Proposal.objects.get(ladder=ladder, status="pending")
    services.proposal_decline(proposal=pending, user=attendance_lead, reason="Medical evidence: review in 4 weeks")
    client.force_login(attendance_lead)
    response = client.get(url("ladder_simulate", school, "simple"))
    page, simulation = response.context["page"], response.context["simulation"]
    assert page.proposals == [] and simulation.proposed == 0
    [resting] = page.resting
    assert (resting["pk"], resting["from"], resting["to"]) == (pending.pupil_id, "pa", "panel")
    as_of = selectors.simulation_day(school=school, night=selectors.last_good_run(school=school))
    calendar = school_calendar(school)
    declined_on = timezone.localdate()
    until = calendar.add_school_days(declined_on, selectors.DECLINE_RESTS_SCHOOL_DAYS)
    back_on = calendar.add_school_days(until, 1)  # the morning after that night: the next school day
    assert (resting["declined_on"], resting["until"], resting["back_on"]) == (declined_on, until, back_on)
    body = " ".join(response.content.decode().split())
    section = body.partition("Declined lately, not proposed again yet")[2]
    assert escape(pending.pupil.full_name) in section
    assert f"{declined_on.day} {declined_on:%b %Y} by alice: Medical evidence: review in 4 weeks" in section
    assert f"from {back_on:%a} {back_on.day} {back_on:%b}" in section
    assert "1 move</a> a person declined lately is not proposed again yet." in body
    # On that day the night proposes it again, and so does the simulation.
    later = services.ladder_simulate(school=school, document=services.ladder_document(ladder), as_of=until)
    assert as_of < until and later.resting == []
    assert [(row["upn"], row["to"]) for row in later.proposals] == [(pending.pupil.upn, "panel")]


def test_simulate_ladder_command_lists_declined_moves_resting(school, placed, ladder, attendance_lead, tmp_path):
    pending = Proposal.objects.get(ladder=ladder, status="pending")
    services.proposal_decline(proposal=pending, user=attendance_lead, reason="Not now")
    path = tmp_path / "simple.yaml"
    path.write_text(yaml.safe_dump(services.ladder_document(ladder)))
    until = school_calendar(school).add_school_days(timezone.localdate(), selectors.DECLINE_RESTS_SCHOOL_DAYS)
    out = StringIO()
    call_command("simulate_ladder", str(path), "--school", school.urn, "--json", stdout=out)
    [resting] = json.loads(out.getvalue())["resting"]
    assert (resting["upn"], resting["to"], resting["by"], resting["until"]) == (
        pending.pupil.upn,
        "panel",
        "alice",
        until.isoformat(),
    )
    out = StringIO()
    call_command("simulate_ladder", str(path), "--school", school.urn, stdout=out)
    assert f"1 move(s) declined lately, not proposed again yet:\n  {pending.pupil.upn}" in out.getvalue()
    back_on = school_calendar(school).add_school_days(until, 1)
    assert f"may be proposed again from {back_on.isoformat()})" in out.getvalue()


def test_a_lowered_threshold_lists_who_no_longer_meets_it_but_stays_and_says_why(
    client, school, placed, ladder, attendance_lead
):
    def lowered(doc):
        doc["key"], doc["name"] = "lowered", "Lowered"
        doc["stages"][1]["criteria"] = {"attendance": {"below": 90.5}}  # "concern" now only below 90.5%

    services.ladder_load(school=school, document=yaml.safe_load(edited(ladder, lowered)))
    at_concern = {p.pupil_id for p in Placement.objects.filter(ladder=ladder, stage__key="concern")}
    assert at_concern
    client.force_login(attendance_lead)
    response = client.get(url("ladder_simulate", school, "lowered"))
    page = response.context["page"]
    assert {row["pk"] for row in page.staying} == at_concern and page.moves == []
    assert {row["indicated"] for row in page.staying} == {"universal"}
    body = " ".join(response.content.decode().split())
    assert "No longer meet their stage's criteria, but stay for now" in body
    assert (
        "Pupils come down a stage after 4 school weeks running at the lower stage (holidays don't count), with"
        " attendance at least 1.0 percentage point clear of their current stage's threshold" in body
    )
    # The one move the night has proposed already is marked so: nothing new to decide.
    assert [row["waiting"] for row in page.proposals] == [True]
    assert "All 1 are already awaiting approval</strong>: nothing new." in body


def test_the_editor_links_to_the_full_reference_which_reads_as_a_page(client, school, draft, attendance_lead):
    client.force_login(attendance_lead)
    reference = url("ladder_format", school)
    assert f'href="{reference}"' in client.get(url("ladder_edit", school, "draft")).content.decode()
    page = client.get(reference).content.decode()
    assert "<h1" in page and "<table>" in page  # headings and tables drawn, not markdown source
    assert "held_for" in page and "bottom_percent" in page and "| ---" not in page
