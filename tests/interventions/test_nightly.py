"""The night: placing pupils, recording moves, tasks, letters and proposals; re-runs change nothing."""

from __future__ import annotations

import copy
import json
from datetime import date, datetime, time, timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from interventions import nightly, selectors, services
from interventions.models import NightlyRun, Placement, Proposal, StageChange, Task
from letters.models import Letter
from pupils.models import AttendanceMark
from pupils.selectors import school_summaries
from pupils.services import school_calendar
from pupils.statistics import format_pct
from tests.factories import ContactFactory, PupilFactory
from tests.interventions.conftest import SIMPLE_LADDER

YEAR_START = date(2025, 9, 1)
AS_OF = date(2025, 11, 26)


def absent_every(n: int, code: str = "O"):
    """Absent one session in every n, in a fixed pattern."""
    counter = {"i": 0}

    def code_for(day, session):
        counter["i"] += 1
        return code if counter["i"] % n == 0 else ("/" if session == 0 else "\\")

    return code_for


@pytest.fixture
def pupils(school, register):
    good = PupilFactory(school=school, surname="Good")
    concern = PupilFactory(school=school, surname="Concern")
    pa = PupilFactory(school=school, surname="Pa")
    severe = PupilFactory(school=school, surname="Severe")
    register(good, YEAR_START, AS_OF, absent_every(1000))
    register(concern, YEAR_START, AS_OF, absent_every(12))  # ~91.7%
    register(pa, YEAR_START, AS_OF, absent_every(7))  # ~85.7%
    register(severe, YEAR_START, AS_OF, absent_every(2))  # 50%
    return {"good": good, "concern": concern, "pa": pa, "severe": severe}


def night(school, as_of=AS_OF) -> dict:
    out = StringIO()
    call_command("run_nightly", "--school", school.urn, "--as-of", as_of.isoformat(), stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def stage_of(pupil, ladder):
    return Placement.objects.get(pupil=pupil, ladder=ladder).stage.key


def test_first_night_places_each_pupil_straight_at_their_stage(school, ladder, pupils, class_teacher):
    counts = night(school)
    assert counts == {"pupils": 4, "moved": 4, "proposed": 1, "tasks_created": 4, "letters_queued": 3}
    assert {k: stage_of(p, ladder) for k, p in pupils.items()} == {
        "good": "universal",
        "concern": "concern",
        "pa": "pa",
        "severe": "pa",  # the panel needs approval: proposed, landing on the highest automatic stage
    }
    # No ladder walk: the severe pupil gets the PA letter only, not the concern letter too.
    assert list(Letter.objects.filter(pupil=pupils["severe"]).values_list("template__key", flat=True)) == [
        "second_warning"
    ]
    proposal = Proposal.objects.get()
    assert (proposal.pupil, proposal.to_stage.key, proposal.status) == (pupils["severe"], "panel", "pending")
    assert proposal.from_stage.key == "pa"  # where tonight's move put them
    assert proposal.reasons == ["attendance 50.0% year to date, below 80%"]


def test_a_nights_queries_do_not_grow_with_the_number_of_pupils_who_move(school, other_school, register):
    """Every mover's stage change, placement, tasks and letters are written together, not one pupil at a time."""

    def school_with_movers(at, movers):
        services.ladder_load(school=at, document=SIMPLE_LADDER, activate=True)
        pupils = [PupilFactory(school=at) for _ in range(movers)]
        for pupil in pupils:
            register(pupil, YEAR_START, AS_OF, absent_every(7))  # ~85.7%: PA, no proposal
            ContactFactory(pupil=pupil, receives_letters=True)
        return pupils

    school_with_movers(school, 2)
    many = school_with_movers(other_school, 5)
    with CaptureQueriesContext(connection) as two_move:
        nightly.nightly_run(school=school, as_of=AS_OF)
    with CaptureQueriesContext(connection) as five_move:
        nightly.nightly_run(school=other_school, as_of=AS_OF)

    assert len(five_move) == len(two_move)
    for pupil in many:
        assert stage_of(pupil, other_school.ladders.get()) == "pa"
        change = StageChange.objects.get(pupil=pupil)
        assert (change.kind, change.from_stage, change.to_stage.key) == ("initial", None, "pa")
        assert list(Task.objects.filter(stage_change=change).values_list("template_key", flat=True)) == ["meeting"]
        letter = Letter.objects.get(pupil=pupil)
        assert (letter.stage_change, letter.template.key, letter.contact) == (
            change,
            "second_warning",
            pupil.contacts.get(),
        )


def test_reasons_quote_the_same_figure_as_the_dfe_summary(school, ladder, pupils):
    night(school)
    change = StageChange.objects.get(pupil=pupils["pa"])
    summary = school_summaries(school=school, start=YEAR_START, end=AS_OF)[pupils["pa"].pk]
    assert change.kind == "initial"
    assert change.reasons == [f"attendance {format_pct(summary.attendance_pct)}% year to date, below 90%"]


def test_tasks_follow_the_stage_with_school_day_due_dates_and_class_teacher(school, ladder, pupils, class_teacher):
    night(school)
    tasks = {t.template_key: t for t in Task.objects.filter(pupil=pupils["concern"])}
    assert set(tasks) == {"call", "review"}
    assert tasks["call"].assigned_to == class_teacher  # the pupil's class is 4B, bob's class
    assert tasks["call"].due_on == date(2025, 11, 28)  # Wed + 2 school days = Fri
    assert tasks["review"].due_on == date(2025, 12, 10)  # 2 weeks = 10 school days


def test_leaving_a_stage_cancels_its_review_and_leaves_its_actions_open(school, ladder, pupils, register):
    night(school)
    review = Task.objects.get(pupil=pupils["concern"], template_key="review")
    call = Task.objects.get(pupil=pupils["concern"], template_key="call")
    register(pupils["concern"], date(2025, 11, 27), date(2025, 11, 28), lambda day, session: "O")
    night(school, date(2025, 11, 28))
    assert stage_of(pupils["concern"], ladder) == "pa"
    review.refresh_from_db()
    call.refresh_from_db()
    assert (review.status, review.completed_by) == ("cancelled", None)
    assert call.status == "open"  # the phone call still wants making, or closing by a person


def test_a_person_moving_a_pupil_cancels_the_review_of_the_stage_left(school, ladder, pupils, attendance_lead):
    night(school)
    services.pupil_move(
        pupil=pupils["concern"], stage=ladder.stages.get(key="casework"), user=attendance_lead, reason="Agreed"
    )
    review = Task.objects.get(pupil=pupils["concern"], template_key="review")
    assert (review.status, review.completed_by) == ("cancelled", attendance_lead)


@pytest.mark.parametrize("role", ["la_officer", "all_staff", "external"])
def test_work_for_someone_who_does_not_log_actions_here_is_the_attendance_leads(school, pupils, role):
    document = {**SIMPLE_LADDER, "stages": [dict(stage) for stage in SIMPLE_LADDER["stages"]]}
    document["stages"][1]["actions"] = [{"key": "la-check", "title": "LA officer checks the plan", "role": role}]
    services.ladder_load(school=school, document=document, activate=True)
    night(school)
    task = Task.objects.get(pupil=pupils["concern"], template_key="la-check")
    assert (task.role, task.assigned_to) == ("attendance_lead", None)


def test_second_run_on_the_same_date_creates_nothing_new(school, ladder, pupils):
    night(school)
    before = (StageChange.objects.count(), Task.objects.count(), Letter.objects.count(), Proposal.objects.count())
    assert night(school) == {"pupils": 4, "moved": 0, "proposed": 0, "tasks_created": 0, "letters_queued": 0}
    assert (
        StageChange.objects.count(),
        Task.objects.count(),
        Letter.objects.count(),
        Proposal.objects.count(),
    ) == before
    assert NightlyRun.objects.filter(status="done").count() == 2


def test_a_night_rerun_on_a_corrected_register_moves_nobody_twice_and_the_next_night_does(school, ladder, pupils):
    """IT re-runs last night with --full after fixing the register: it completes, and the move waits a night."""
    night(school)
    assert stage_of(pupils["concern"], ladder) == "concern"
    AttendanceMark.objects.filter(pupil=pupils["concern"], date__gte=date(2025, 11, 3)).update(code="O")

    call_command("run_nightly", "--school", school.urn, "--as-of", AS_OF.isoformat(), "--full", stdout=StringIO())

    assert NightlyRun.objects.filter(run_on=AS_OF, status="done").count() == 2
    assert stage_of(pupils["concern"], ladder) == "concern"
    assert StageChange.objects.filter(pupil=pupils["concern"], on=AS_OF).count() == 1
    next_day = date(2025, 11, 27)
    assert night(school, as_of=next_day)["moved"] == 1
    assert stage_of(pupils["concern"], ladder) == "pa"


def test_a_proposal_no_longer_indicated_is_withdrawn_by_the_next_night(school, ladder, pupils):
    night(school)
    proposal = Proposal.objects.get(pupil=pupils["severe"])
    # The office corrects the severe pupil's register: every absence was a mistake.
    AttendanceMark.objects.filter(pupil=pupils["severe"]).exclude(code__in=["/", "\\"]).update(
        code="/", changed_at=timezone.now()
    )

    assert night(school, date(2025, 11, 27))["proposed"] == 0

    proposal.refresh_from_db()
    assert (proposal.status, proposal.decision_reason) == ("withdrawn", "No longer indicated by the data")
    assert proposal.decided_at is not None
    assert not Proposal.objects.filter(status="pending").exists()


def test_each_run_records_where_its_time_went(school, ladder, pupils):
    night(school)
    run = NightlyRun.objects.get()
    assert set(run.phases) == set(NightlyRun.PHASES)
    assert all(isinstance(ms, int) and ms >= 0 for ms in run.phases.values())
    assert sum(run.phases.values()) <= run.duration_s * 1000 + len(run.phases)  # rounding
    assert run.time_by_phase.startswith(f"recount {run.phases['recount']} ms · facts ")
    assert run.time_by_phase.endswith(f" · reviews {run.phases['reviews']} ms")


def test_school_without_active_ladder_is_refused_clearly(school):
    with pytest.raises(ValidationError, match="has no active ladder"):
        nightly.nightly_run(school=school, as_of=AS_OF)


def test_approving_a_proposal_moves_the_pupil_and_queues_the_stage_letter(school, ladder, pupils, attendance_lead):
    night(school)
    proposal = Proposal.objects.get()
    with pytest.raises(ValidationError, match="Give a reason"):
        services.proposal_approve(proposal=proposal, user=attendance_lead, reason="  ")
    change = services.proposal_approve(proposal=proposal, user=attendance_lead, reason="Agreed at panel", on=AS_OF)
    assert (change.kind, change.to_stage.key, change.decided_by) == ("approved", "panel", attendance_lead)
    assert stage_of(pupils["severe"], ladder) == "panel"
    assert Letter.objects.filter(pupil=pupils["severe"], template__key="formal_warning").count() == 1
    # Approving twice does nothing more.
    assert services.proposal_approve(proposal=proposal, user=attendance_lead, reason="again", on=AS_OF) is None
    assert StageChange.objects.filter(pupil=pupils["severe"], kind="approved").count() == 1
    # The next night keeps the pupil at the approved stage and proposes nothing new.
    assert night(school, date(2025, 11, 27))["proposed"] == 0
    assert stage_of(pupils["severe"], ladder) == "panel"


def test_declining_a_proposal_keeps_the_pupil_and_records_why(school, ladder, pupils, attendance_lead):
    night(school)
    proposal = Proposal.objects.get()
    services.proposal_decline(proposal=proposal, user=attendance_lead, reason="Medical evidence provided")
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decision_reason, proposal.decided_by) == (
        "declined",
        "Medical evidence provided",
        attendance_lead,
    )
    assert stage_of(pupils["severe"], ladder) == "pa"
    with pytest.raises(ValidationError, match="declined"):
        services.proposal_approve(proposal=proposal, user=attendance_lead, reason="changed my mind")


def test_a_declined_move_rests_four_school_weeks_then_comes_back_saying_it_was_declined(
    client, school, ladder, pupils, register, attendance_lead
):
    night(school)
    proposal = Proposal.objects.get()
    services.proposal_decline(proposal=proposal, user=attendance_lead, reason="Medical evidence: review in 4 weeks")
    decided_on = date(2025, 11, 27)
    Proposal.objects.filter(pk=proposal.pk).update(decided_at=timezone.make_aware(datetime(2025, 11, 27, 9)))
    calendar = school_calendar(school)
    back = calendar.add_school_days(decided_on, selectors.DECLINE_RESTS_SCHOOL_DAYS)
    assert back == date(2026, 1, 8)  # 20 school days on, the Christmas holiday skipped
    register(pupils["severe"], AS_OF + timedelta(days=1), back, absent_every(2))  # still at 50%

    for day in (decided_on, date(2025, 12, 19), calendar.previous_school_day(back)):
        assert night(school, day)["proposed"] == 0, day
    assert night(school, back)["proposed"] == 1
    again = Proposal.objects.get(status="pending")
    assert (again.pupil, again.to_stage) == (pupils["severe"], proposal.to_stage)

    client.force_login(attendance_lead)
    page = client.get(reverse("interventions:dashboard", args=[school.urn])).content.decode()
    assert "Declined before, on 27 Nov 2025 by alice: Medical evidence: review in 4 weeks" in page


def _declined_on(proposal, user, day):
    services.proposal_decline(proposal=proposal, user=user, reason="Not now")
    Proposal.objects.filter(pk=proposal.pk).update(decided_at=timezone.make_aware(datetime.combine(day, time(16))))


@pytest.mark.parametrize(
    "panel_band",
    [
        {"below": 80},  # still holds at 0%: the panel is what the night would propose in Legal's place
        {"below": 80, "at_least": 40},  # no longer holds: nothing is proposed in Legal's place
    ],
)
def test_a_move_waiting_stays_while_a_higher_one_rests(school, pupils, register, attendance_lead, panel_band):
    """The data pointing higher than a waiting move, to a move lately declined, does not withdraw the waiting
    one, even once the waiting move's own band is passed: the data has not turned against it."""
    document = copy.deepcopy(SIMPLE_LADDER)
    next(stage for stage in document["stages"] if stage["key"] == "panel")["criteria"] = {"attendance": panel_band}
    document["stages"].insert(
        4,
        {"key": "legal", "name": "Legal", "label": "L", "entry": "approval", "criteria": {"attendance": {"below": 40}}},
    )
    ladder, _ = services.ladder_load(school=school, document=document, activate=True)
    night(school)
    to_panel = Proposal.objects.get(status="pending")
    assert to_panel.to_stage.key == "panel"
    # Once before, the pupil was proposed for Legal, and a person declined it.
    Proposal.objects.create(
        pupil=pupils["severe"],
        ladder=ladder,
        to_stage=ladder.stages.get(key="legal"),
        proposed_on=AS_OF,
        status="declined",
        decided_by=attendance_lead,
        decided_at=timezone.make_aware(datetime.combine(AS_OF, time(16))),
        decision_reason="Not now",
    )
    later = date(2025, 12, 19)
    register(pupils["severe"], AS_OF + timedelta(days=1), later, absent_every(1))  # now below 40%
    assert night(school, later)["proposed"] == 0
    to_panel.refresh_from_db()
    assert to_panel.status == "pending"


def test_declining_the_highest_move_proposes_the_next_one_down_that_needs_a_person(
    school, pupils, register, attendance_lead
):
    """Declining Legal ("support first") leaves the panel, which the data also points to, for a person to approve."""
    document = copy.deepcopy(SIMPLE_LADDER)
    document["stages"].insert(
        4,
        {"key": "legal", "name": "Legal", "label": "L", "entry": "approval", "criteria": {"attendance": {"below": 40}}},
    )
    ladder, _ = services.ladder_load(school=school, document=document, activate=True)
    later = date(2025, 12, 19)
    register(pupils["severe"], AS_OF + timedelta(days=1), later, absent_every(1))  # now below 40%
    night(school, later)
    to_legal = Proposal.objects.get(status="pending")
    assert (to_legal.to_stage.key, stage_of(pupils["severe"], ladder)) == ("legal", "pa")
    _declined_on(to_legal, attendance_lead, later)

    next_night = date(2025, 12, 20)
    assert night(school, next_night)["proposed"] == 1
    to_panel = Proposal.objects.get(status="pending")
    assert (to_panel.pupil, to_panel.from_stage.key, to_panel.to_stage.key) == (pupils["severe"], "pa", "panel")
    assert any("below 80%" in reason for reason in to_panel.reasons), to_panel.reasons
    # Proposed once: the panel waits for a person, night after night, while Legal rests.
    assert night(school, date(2025, 12, 21))["proposed"] == 0
    assert Proposal.objects.filter(status="pending").get() == to_panel
    # The simulation says the same: the panel proposed, Legal resting.
    simulation = services.ladder_simulate(
        school=school, document=services.ladder_document(ladder), as_of=date(2025, 12, 21)
    )
    assert [(p["from"], p["to"]) for p in simulation.proposals] == [("pa", "panel")]
    assert [(r["from"], r["to"]) for r in simulation.resting] == [("pa", "legal")]


def test_an_edited_copy_of_the_ladder_keeps_a_declined_move_resting(school, ladder, pupils, attendance_lead):
    night(school)
    _declined_on(Proposal.objects.get(), attendance_lead, AS_OF)
    services.ladder_load(school=school, document={**SIMPLE_LADDER, "key": "simple-edited"}, activate=True)
    assert night(school, date(2025, 11, 27))["proposed"] == 0
    assert not Proposal.objects.filter(status="pending").exists()


def test_manual_move_to_a_manual_stage_sticks_through_the_night(school, ladder, pupils, attendance_lead):
    night(school)
    casework = ladder.stages.get(key="casework")
    change = services.pupil_move(
        pupil=pupils["pa"], stage=casework, user=attendance_lead, reason="Casework agreed at SAS meeting", on=AS_OF
    )
    assert change.kind == "manual" and change.note == "Casework agreed at SAS meeting"
    night(school, date(2025, 11, 27))
    assert stage_of(pupils["pa"], ladder) == "casework"


def test_manual_move_to_another_schools_stage_is_refused(school, other_school, ladder, attendance_lead):
    theirs, _ = services.ladder_load(school=other_school, document=SIMPLE_LADDER)
    pupil = PupilFactory(school=school)
    with pytest.raises(ValidationError, match="another school"):
        services.pupil_move(pupil=pupil, stage=theirs.stages.get(key="pa"), user=attendance_lead, reason="x")


def test_stage_report_prints_one_row_per_pupil(school, ladder, pupils):
    from io import StringIO

    night(school)
    out = StringIO()
    call_command("stage_report", "--school", school.urn, stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "upn,ladder,stage,since,reasons"
    rows = {line.split(",")[0]: line.split(",") for line in lines[1:]}
    assert rows[pupils["good"].upn][1:4] == ["simple", "universal", "2025-11-26"]
    assert rows[pupils["pa"].upn][2] == "pa"
    assert len(rows) == 4


def test_simulation_changes_nothing_and_counts_stages(school, pupils):
    from io import StringIO

    out = StringIO()
    path = "interventions/ladders/../../tests/interventions/simple.yaml"
    import yaml

    with open(path, "w") as f:
        yaml.safe_dump(SIMPLE_LADDER, f)
    try:
        call_command(
            "simulate_ladder", path, "--school", school.urn, "--as-of", AS_OF.isoformat(), "--json", stdout=out
        )
    finally:
        import os

        os.remove(path)
    result = json.loads(out.getvalue())
    assert {s["key"]: s["count"] for s in result["stages"]} == {
        "universal": 1,
        "concern": 1,
        "pa": 2,
        "panel": 0,
        "casework": 0,
    }
    assert result["proposed"] == 1
    assert {m["upn"] for m in result["moves"]} == {pupils["concern"].upn, pupils["pa"].upn, pupils["severe"].upn}
    assert not Placement.objects.exists() and not StageChange.objects.exists()


def test_bottom_percent_ranks_the_school_and_ties_at_the_top_are_not_bottom(school, register):
    document = {
        "key": "rank",
        "name": "Rank",
        "stages": [
            {"key": "base", "name": "Base"},
            {"key": "bottom", "name": "Bottom 10%", "criteria": {"bottom_percent": 10}},
        ],
    }
    services.ladder_load(school=school, document=document, activate=True)
    full = [PupilFactory(school=school) for _ in range(9)]
    for p in full:
        register(p, YEAR_START, AS_OF, absent_every(10_000))
    weakest = PupilFactory(school=school)
    register(weakest, YEAR_START, AS_OF, absent_every(5))
    nightly.nightly_run(school=school, as_of=AS_OF)
    assert list(Placement.objects.filter(stage__key="bottom").values_list("pupil", flat=True)) == [weakest.pk]
    reason = StageChange.objects.get(pupil=weakest).reasons[0]
    pct = format_pct(school_summaries(school=school, start=YEAR_START, end=AS_OF)[weakest.pk].attendance_pct)
    assert reason == f"in the school's bottom 10% for attendance ({pct}% year to date)"


def test_simulation_names_each_stage_once(school, pupils):
    from io import StringIO

    out = StringIO()
    call_command("simulate_ladder", "dfe", "--school", school.urn, "--as-of", AS_OF.isoformat(), stdout=out)
    stages = [line.split()[:-1] for line in out.getvalue().splitlines()[1:7]]
    assert [" ".join(words) for words in stages] == [
        "Expect",
        "Monitor",
        "Listen and understand",
        "Facilitate support",
        "Formalise support",
        "Enforce",
    ]


def test_simulation_reads_the_register_as_the_last_good_night_did_unless_told_a_day(school, pupils):
    """As the ladder page does: the placements it compares with come from that night."""
    from io import StringIO

    services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
    nightly.nightly_run(school=school, as_of=AS_OF)
    out = StringIO()
    call_command("simulate_ladder", "dfe", "--school", school.urn, stdout=out)
    assert out.getvalue().splitlines()[0].endswith(f"pupils as of {AS_OF}")
    earlier = AS_OF - timedelta(days=7)
    out = StringIO()
    call_command("simulate_ladder", "dfe", "--school", school.urn, "--as-of", earlier.isoformat(), stdout=out)
    assert out.getvalue().splitlines()[0].endswith(f"pupils as of {earlier}")


def test_a_stage_letters_when_queues_it_only_for_the_pupils_it_holds_for(school, register, attendance_lead):
    """The DfE ladder's first reminder, about attendance, is not for a pupil at Monitor only for an unexplained N."""
    from interventions.ladder_words import ladder_picture

    document = copy.deepcopy(SIMPLE_LADDER)
    concern = document["stages"][1]
    concern["criteria"] = {"any": [{"attendance": {"below": 95}}, {"count": {"measure": "unexplained", "at_least": 1}}]}
    concern["letters"] = [{"letter": "first_reminder", "when": {"attendance": {"below": 95}}}]
    ladder, _ = services.ladder_load(school=school, document=document, activate=True)
    as_of = date(2025, 11, 26)
    ill = PupilFactory(school=school, surname="Ill")  # 92.5%, every absence explained
    register(ill, date(2025, 9, 1), as_of, lambda day, s: "I" if (day.toordinal() + s) % 13 == 0 else "/")
    unexplained = PupilFactory(school=school, surname="Unexplained")  # all present but one N
    register(unexplained, date(2025, 9, 1), as_of, lambda day, s: "N" if (day, s) == (date(2025, 11, 24), 0) else "/")

    run = nightly.nightly_run(school=school, as_of=as_of)

    assert [p.stage.key for p in Placement.objects.filter(pupil__in=[ill, unexplained])] == ["concern", "concern"]
    assert list(Letter.objects.values_list("pupil__surname", "template__key")) == [("Ill", "first_reminder")]
    assert run.letters_queued == 1
    # A person's move queues it: they decided the pupil needs the stage.
    services.pupil_move(pupil=unexplained, stage=ladder.stages.get(key="pa"), user=attendance_lead, reason="Panel")
    services.pupil_move(pupil=unexplained, stage=ladder.stages.get(key="concern"), user=attendance_lead, reason="Back")
    assert Letter.objects.filter(pupil=unexplained, template__key="first_reminder").exists()
    # The ladder page says who gets it.
    names = services.letter_names(school)  # as the ladder page names them
    stage = next(s for s in ladder_picture(document, letter_names=names).falling if s.key == "concern")
    assert stage.letters == [f"{names['first_reminder']} (only if: attendance below 95% year to date)"]


def test_work_a_stage_gives_only_while_its_when_holds_comes_the_first_night_it_holds_for_a_pupil_who_stayed(
    school, register
):
    """At Concern for an unexplained absence, then attendance slips: the attendance letter follows that night.
    At Concern for attendance, then an N: the follow-up call follows. Once each, due from that night."""
    document = copy.deepcopy(SIMPLE_LADDER)
    concern = document["stages"][1]
    unexplained = {"count": {"measure": "unexplained", "at_least": 1, "window": "half_term"}}
    concern["criteria"] = {"any": [{"attendance": {"below": 95}}, unexplained]}
    concern["letters"] = [{"letter": "first_reminder", "when": {"attendance": {"below": 95}}}]
    concern["actions"].append({"key": "follow-up", "title": "Follow up", "role": "office", "when": unexplained})
    services.ladder_load(school=school, document=document, activate=True)
    first_night, second_night = date(2025, 11, 21), date(2025, 11, 28)
    slipping = PupilFactory(school=school, surname="Slipping")
    register(
        slipping, date(2025, 9, 1), first_night, lambda day, s: "N" if (day, s) == (date(2025, 11, 20), 0) else "/"
    )
    ill = PupilFactory(school=school, surname="Ill")  # about 92%, every absence explained
    register(ill, date(2025, 9, 1), first_night, lambda day, s: "I" if (day.toordinal() + s) % 13 == 0 else "/")

    nightly.nightly_run(school=school, as_of=first_night)
    assert [p.stage.key for p in Placement.objects.filter(pupil__in=[slipping, ill])] == ["concern", "concern"]
    assert not Letter.objects.filter(pupil=slipping).exists()
    assert not Task.objects.filter(pupil=ill, template_key="follow-up").exists()
    Task.objects.filter(pupil=slipping, template_key="call").delete()  # work with no when is not given again

    register(slipping, date(2025, 11, 24), second_night, lambda day, s: "I")  # a week off sick: below 95%
    register(ill, date(2025, 11, 24), second_night, lambda day, s: "N" if (day, s) == (second_night, 0) else "/")
    run = nightly.nightly_run(school=school, as_of=second_night)

    assert [p.stage.key for p in Placement.objects.filter(pupil__in=[slipping, ill])] == ["concern", "concern"]
    letter = Letter.objects.get(pupil=slipping)
    assert (letter.template.key, letter.queued_on) == ("first_reminder", second_night)
    follow_up = Task.objects.get(pupil=ill, template_key="follow-up")
    assert follow_up.due_on == school_calendar(school).add_school_days(second_night, 5)  # from tonight, not entry
    assert not Task.objects.filter(pupil=slipping, template_key="call").exists()
    assert (run.tasks_created, run.letters_queued) == (1, 1)
    # The night again, and the next: nothing twice.
    nightly.nightly_run(school=school, as_of=second_night, full=True)
    nightly.nightly_run(school=school, as_of=date(2025, 12, 1))
    assert Letter.objects.filter(pupil=slipping).count() == 1
    assert Task.objects.filter(pupil=ill, template_key="follow-up").count() == 1


def test_the_catch_up_reads_the_stage_changes_only_of_pupils_owed_work(school, register):
    """Pupils at a stage with conditional work who have had it, or for whom it does not hold, cost the night
    plain ids: only a pupil owed something tonight has their stage change read, and is given it once."""
    document = copy.deepcopy(SIMPLE_LADDER)
    concern = document["stages"][1]
    concern["criteria"] = {"attendance": {"below": 95}}
    unexplained = {"count": {"measure": "unexplained", "at_least": 1, "window": "half_term"}}
    concern["actions"].append({"key": "follow-up", "title": "Follow up", "role": "office", "when": unexplained})
    concern["letters"] = [{"letter": "first_reminder", "when": {"attendance": {"below": 95}}}]
    services.ladder_load(school=school, document=document, activate=True)
    first_night, second_night = date(2025, 11, 21), date(2025, 11, 24)
    pupils = [PupilFactory(school=school, surname=f"Ill {n}") for n in range(3)]
    for pupil in pupils:  # about 92%, every absence explained: the letter on entry, no follow-up
        register(pupil, date(2025, 9, 1), first_night, lambda day, s: "I" if (day.toordinal() + s) % 13 == 0 else "/")
    nightly.nightly_run(school=school, as_of=first_night)
    assert Letter.objects.filter(pupil__in=pupils).count() == 3
    assert not Task.objects.filter(template_key="follow-up").exists()
    owed = pupils[0]
    for pupil in pupils:
        register(pupil, second_night, second_night, lambda day, s, owed=pupil == owed: "N" if owed and s == 0 else "/")

    with CaptureQueriesContext(connection) as queries:
        run = nightly.nightly_run(school=school, as_of=second_night)

    # Stage changes read whole, not as ids: the owed pupil's alone.
    read_whole = [q["sql"] for q in queries if '"interventions_stagechange"."reasons"' in q["sql"]]
    change = StageChange.objects.get(pupil=owed)
    assert len(read_whole) == 1 and f'"interventions_stagechange"."id" IN ({change.pk})' in read_whole[0]
    (task,) = Task.objects.filter(template_key="follow-up")
    due = school_calendar(school).add_school_days(second_night, 5)
    assert (task.pupil, task.stage_change, task.due_on) == (owed, change, due)
    assert (run.tasks_created, run.letters_queued) == (1, 0)
    assert Letter.objects.filter(pupil__in=pupils).count() == 3  # no letter again

    # The next night the follow-up is given, and its N still waiting: nobody is owed anything.
    third_night = date(2025, 11, 25)
    for pupil in pupils:
        register(pupil, third_night, third_night, lambda day, s: "/")
    with CaptureQueriesContext(connection) as queries:
        run = nightly.nightly_run(school=school, as_of=third_night)
    assert not [q["sql"] for q in queries if '"interventions_stagechange"."reasons"' in q["sql"]]
    assert (run.tasks_created, run.letters_queued) == (0, 0)


def test_a_stage_actions_when_gives_its_task_only_to_the_pupils_it_holds_for(school, register, attendance_lead):
    """The DfE ladder's Monitor stage: entered for attendance alone, or for an absence still unexplained.
    Only the second needs the office's follow-up call."""
    from interventions.ladder_words import ladder_picture

    document = copy.deepcopy(SIMPLE_LADDER)
    concern = document["stages"][1]
    concern["criteria"] = {"any": [{"attendance": {"below": 95}}, {"count": {"measure": "unexplained", "at_least": 1}}]}
    concern["actions"].append(
        {
            "key": "follow-up",
            "title": "Follow up the unexplained absence",
            "role": "office",
            "when": {"count": {"measure": "unexplained", "at_least": 1, "window": "half_term"}},
        }
    )
    ladder, _ = services.ladder_load(school=school, document=document, activate=True)
    as_of = date(2025, 11, 26)
    # 92.5%: at Concern for attendance, every absence explained (I).
    ill = PupilFactory(school=school, surname="Ill")
    register(ill, date(2025, 9, 1), as_of, lambda day, s: "I" if (day.toordinal() + s) % 13 == 0 else "/")
    # Attending well but for one N this half-term, which has no reason yet.
    unexplained = PupilFactory(school=school, surname="Unexplained")
    register(unexplained, date(2025, 9, 1), as_of, lambda day, s: "N" if (day, s) == (date(2025, 11, 24), 0) else "/")

    nightly.nightly_run(school=school, as_of=as_of)

    for pupil in (ill, unexplained):
        assert Placement.objects.get(pupil=pupil).stage.key == "concern"
    assert sorted(Task.objects.filter(pupil=ill).values_list("template_key", flat=True)) == ["call", "review"]
    assert sorted(Task.objects.filter(pupil=unexplained).values_list("template_key", flat=True)) == [
        "call",
        "follow-up",
        "review",
    ]
    # A person's move gives every task: they decided the pupil needs the stage.
    services.pupil_move(pupil=ill, stage=ladder.stages.get(key="pa"), user=attendance_lead, reason="Panel")
    services.pupil_move(pupil=ill, stage=ladder.stages.get(key="concern"), user=attendance_lead, reason="Back")
    assert Task.objects.filter(pupil=ill, template_key="follow-up").count() == 1
    # The ladder page says who gets it.
    picture = ladder_picture(document)
    stage = next(s for s in picture.falling if s.key == "concern")
    assert stage.actions[-1].when == "1+ unexplained absence session (N) this half-term"


@pytest.mark.parametrize("document", ["simple", "dfe", "kirkby"])
def test_simulation_counts_the_tasks_and_letters_the_night_then_gives(school, pupils, register, document):
    """Checked against the night itself: activate the ladder, run it, count what it made."""
    unexplained = PupilFactory(school=school, surname="Unexplained")
    register(unexplained, YEAR_START, AS_OF, absent_every(40, code="N"))  # 97.5%, with unexplained absences
    doc = SIMPLE_LADDER if document == "simple" else services.ladder_file_read(document)

    simulation = services.ladder_simulate(school=school, document=doc, as_of=AS_OF)
    services.ladder_load(school=school, document=doc, activate=True)
    nightly.nightly_run(school=school, as_of=AS_OF)

    made = Task.objects.filter(stage_change__isnull=False)
    assert simulation.task_count == made.count() > 0
    reviews = made.filter(kind=Task.Kind.REVIEW).count()
    assert sum(row["count"] for row in simulation.tasks if row["title"].startswith("Review at ")) == reviews
    queued = Letter.objects.filter(stage_change__isnull=False).values_list("pupil", "template__key").distinct()
    by_key: dict[str, int] = {}
    for _, key in queued:
        by_key[key] = by_key.get(key, 0) + 1
    assert {row["key"]: row["count"] for row in simulation.letters} == by_key
    assert not StageChange.objects.filter(on__lt=AS_OF).exists()  # the simulation itself wrote nothing


def test_a_pupil_kept_at_their_stage_by_a_new_ladder_is_not_given_its_work_again_and_its_reviews_go_on(
    school, pupils, attendance_lead
):
    """Conditional work (given the first night its `when` holds) and the stage's reviews carry across."""
    doc = copy.deepcopy(SIMPLE_LADDER)
    concern = doc["stages"][1]
    concern["actions"].append({"key": "why", "title": "Ask why", "when": {"attendance": {"below": 95}}})
    concern["letters"] = [{"letter": "first_reminder", "when": {"attendance": {"below": 95}}}]
    old, _ = services.ladder_load(school=school, document=doc, activate=True)
    nightly.nightly_run(school=school, as_of=AS_OF - timedelta(days=14))
    pupil = pupils["concern"]
    assert stage_of(pupil, old) == "concern"
    given = sorted(Task.objects.filter(pupil=pupil).values_list("template_key", flat=True))
    assert given == ["call", "review", "why"]
    assert Letter.objects.filter(pupil=pupil).count() == 1
    # The first review is done; the next is due two school weeks after it.
    Task.objects.filter(pupil=pupil, template_key="review").update(status="done", due_on=AS_OF - timedelta(days=7))

    new, _ = services.ladder_load(school=school, document={**doc, "key": "new", "name": "New"})
    assert services.ladder_activate(ladder=new, on=AS_OF - timedelta(days=7)).kept == 4
    nightly.nightly_run(school=school, as_of=AS_OF)
    nightly.nightly_run(school=school, as_of=AS_OF)

    assert stage_of(pupil, new) == "concern"
    kept = StageChange.objects.get(ladder=new, pupil=pupil)
    assert kept.kind == "kept" and kept.kept_from == StageChange.objects.get(ladder=old, pupil=pupil)
    assert sorted(Task.objects.filter(pupil=pupil).values_list("template_key", flat=True)) == [
        "call",
        "review",
        "review-2",
        "why",
    ]
    assert Task.objects.get(pupil=pupil, template_key="review-2").stage_change == kept
    assert Letter.objects.filter(pupil=pupil).count() == 1
