"""The six shipped ladders: they load, validate, place a demo school sensibly, and Firs walks a pupil down and up."""

from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command

from interventions import nightly, services
from interventions.ladder_format import validate_ladder
from interventions.models import Ladder, Placement, Proposal, StageChange
from letters.models import Letter
from letters.services import letter_template_names
from pupils.models import School
from pupils.selectors import school_summaries
from pupils.services import school_calendar
from tests.factories import PupilFactory
from tests.interventions.conftest import fill_register


@pytest.mark.parametrize("name", services.SHIPPED)
def test_each_shipped_ladder_is_valid_with_only_seed_band_warnings(name):
    check = validate_ladder(services.ladder_file_read(name), letter_keys=set(letter_template_names(school=None)))
    assert check.ok, [str(e) for e in check.errors]
    assert all("gap between" in str(w) or "overlap between" in str(w) for w in check.warnings)


def test_every_shipped_ladder_loads_and_only_the_seeds_own_unclear_edges_are_warned_about():
    warned = {}
    for name in services.SHIPPED:
        check = validate_ladder(services.ladder_file_read(name))
        assert check.ok, name
        warned[name] = {problem.where.partition(",")[0] for problem in check.warnings}
    # Generic's bands leave gaps (92.9% then 93%); Mickley's and Sherrier's meet at one edge that both
    # stages claim. The DfE ladder's bands nest ("below 90", "below 80"): nothing to say.
    assert warned == {
        "kirkby": set(),
        "generic": {"stage 'stage-2'", "stage 'stage-3'", "stage 'stage-4'"},
        "mickley": {"stage 'intensive-need'"},
        "sherrier": {"stage 'stage-3'"},
        "firs": set(),
        "dfe": set(),
    }


def test_a_shipped_ladder_is_found_whatever_the_case_of_its_name():
    assert services.ladder_file_read("DfE") == services.ladder_file_read("dfe")
    assert services.ladder_file_read(" Kirkby ") == services.ladder_file_read("kirkby")


def test_generic_ladder_reports_the_seeds_three_gaps():
    check = validate_ladder(services.ladder_file_read("generic"), letter_keys=set(letter_template_names(school=None)))
    gaps = [str(w) for w in check.warnings if "gap between" in str(w)]
    assert len(gaps) == 3
    assert any("(up to 92.9%)" in g and "(from 93%)" in g for g in gaps)


@pytest.fixture
def demo_school(db):
    call_command("load_demo", "--pupils", "80", "--today", "2025-11-26", stdout=StringIO())
    return School.objects.get(urn="100000")  # Oakfield, not its small neighbour


@pytest.mark.parametrize("name", services.SHIPPED)
def test_each_ladder_places_the_demo_school_sensibly(demo_school, name):
    ladder, _ = services.ladder_load(school=demo_school, document=services.ladder_file_read(name), activate=True)
    run = nightly.nightly_run(school=demo_school, as_of=date(2025, 11, 25))
    placements = Placement.objects.filter(ladder=ladder).select_related("stage")
    assert placements.count() == run.pupils > 0
    base = ladder.stages.get(position=0)
    at_base = placements.filter(stage=base).count()
    assert at_base > placements.count() / 3, "most pupils attend well and should sit at the base stage"
    start = school_calendar(demo_school).academic_year_window(date(2025, 11, 25))[0]
    summaries = school_summaries(school=demo_school, start=start, end=date(2025, 11, 25))
    severe = [p for p in placements if summaries[p.pupil_id].severe]
    assert severe, "the demo school has severe absentees"
    for placement in severe:
        pending = Proposal.objects.filter(pupil_id=placement.pupil_id, ladder=ladder, status="pending").exists()
        assert placement.stage != base or pending, f"{name}: a severe absentee left at the base stage"


def test_firs_walks_a_pupil_down_the_falling_track_and_back_up_the_improving_one(school):
    ladder, _ = services.ladder_load(school=school, document=services.ladder_file_read("firs"), activate=True)
    pupil = PupilFactory(school=school)
    calendar = school_calendar(school)
    days = list(calendar.school_days(date(2025, 9, 2), date(2026, 2, 13)))
    # Ten good days, three days off, then every day in school.
    absent = set(days[10:13])
    stages_seen: list[str] = []
    for day in days:
        fill_register(pupil, day, day, lambda d, s: "O" if d in absent else ("/" if s == 0 else "\\"))
        nightly.nightly_run(school=school, as_of=day)
        stage = Placement.objects.get(pupil=pupil, ladder=ladder).stage.key
        if not stages_seen or stages_seen[-1] != stage:
            stages_seen.append(stage)
    assert stages_seen == [
        "congratulate",
        "at-risk-of-pa",
        "serious-concern",
        "improving-now-positive",
        "improving-real-milestone",
    ]
    kinds = list(StageChange.objects.filter(pupil=pupil).order_by("on").values_list("kind", flat=True))
    assert kinds == ["initial", "automatic", "automatic", "automatic", "automatic"]
    # Coming back up earns the congratulations letter, not the falling track's warnings again.
    assert list(Letter.objects.filter(pupil=pupil).order_by("created_at").values_list("template__key", flat=True)) == [
        "first_reminder",
        "congratulations",
    ]
    up = StageChange.objects.get(pupil=pupil, to_stage__key="improving-now-positive")
    assert up.reasons[0].startswith("improvement sustained since")


def test_rerunning_every_night_of_the_walk_changes_nothing(school):
    ladder, _ = services.ladder_load(school=school, document=services.ladder_file_read("firs"), activate=True)
    pupil = PupilFactory(school=school)
    calendar = school_calendar(school)
    days = list(calendar.school_days(date(2025, 9, 2), date(2025, 10, 24)))
    fill_register(pupil, days[0], days[-1], lambda d, s: "O" if d in set(days[10:13]) else "/")
    for day in days:
        nightly.nightly_run(school=school, as_of=day)
    before = list(StageChange.objects.order_by("pk").values_list("pk", "to_stage__key", "on"))
    assert len(before) >= 3, "the walk moved the pupil"
    for day in days[-5:]:
        nightly.nightly_run(school=school, as_of=day)
    assert list(StageChange.objects.order_by("pk").values_list("pk", "to_stage__key", "on")) == before
    assert Ladder.objects.get(pk=ladder.pk).placements.get().since == before[-1][2]


@pytest.mark.parametrize(("name", "legal_stage"), [("dfe", "enforce"), ("sherrier", "stage-5")])
def test_legal_stages_are_only_for_pupils_of_compulsory_school_age(school, name, legal_stage):
    """Penalty notices and prosecution are for parents of compulsory-age children: not a Reception child of 4."""
    ladder, _ = services.ladder_load(school=school, document=services.ladder_file_read(name), activate=True)
    four = PupilFactory(school=school, surname="Four", date_of_birth=date(2021, 11, 22))  # 3 on 31 Aug 2025
    seven = PupilFactory(school=school, surname="Seven", date_of_birth=date(2018, 3, 1))
    days = list(school_calendar(school).school_days(date(2025, 9, 2), date(2025, 11, 25)))
    for pupil in (four, seven):  # two days in, then away without leave: 10+ unauthorised sessions, severe
        fill_register(pupil, days[0], days[-1], lambda d, s: "/" if d in days[:2] else "O")
    nightly.nightly_run(school=school, as_of=days[-1])
    wanted = {
        p.surname: set(Proposal.objects.filter(pupil=p, ladder=ladder).values_list("to_stage__key", flat=True))
        | set(StageChange.objects.filter(pupil=p, ladder=ladder).values_list("to_stage__key", flat=True))
        for p in (four, seven)
    }
    assert legal_stage in wanted["Seven"]
    assert legal_stage not in wanted["Four"]


def test_dfe_keeps_a_pupil_below_80_at_listen_while_a_move_up_waits_for_approval(school):
    """Not at Expect: the bands once stopped Listen at 80%, so a pupil at 70% or 20% sat at the bottom."""
    ladder, _ = services.ladder_load(school=school, document=services.ladder_file_read("dfe"), activate=True)
    days = list(school_calendar(school).school_days(date(2025, 9, 2), date(2025, 11, 25)))
    seventy = PupilFactory(school=school, surname="Seventy", date_of_birth=date(2018, 3, 1))
    young = PupilFactory(school=school, surname="Young", date_of_birth=date(2021, 11, 22))  # not compulsory age
    fill_register(seventy, days[0], days[-1], lambda d, s: "C" if days.index(d) % 10 in (0, 1, 2) else "/")
    fill_register(young, days[0], days[-1], lambda d, s: "/" if days.index(d) % 5 == 0 else "C")  # 20%, authorised
    nightly.nightly_run(school=school, as_of=days[-1])
    for pupil in (seventy, young):
        assert Placement.objects.get(pupil=pupil, ladder=ladder).stage.key == "listen-and-understand", pupil.surname
        proposal = Proposal.objects.get(pupil=pupil, ladder=ladder, status="pending")
        assert proposal.to_stage.key == "facilitate-support", pupil.surname


def test_dfe_tells_the_la_of_ten_days_unauthorised_in_a_row_but_not_of_ten_days_ill(school):
    """ "10+ consecutive school days of unauthorised absence" (attendance-rules.md 3b): illness has its own trigger."""
    ladder, _ = services.ladder_load(school=school, document=services.ladder_file_read("dfe"), activate=True)
    days = list(school_calendar(school).school_days(date(2025, 9, 2), date(2026, 3, 13)))
    last_ten = days[-10:]
    ill, truant = (PupilFactory(school=school, surname=name, date_of_birth=date(2018, 3, 1)) for name in ("Ill", "Off"))
    for pupil, code in ((ill, "I"), (truant, "O")):  # a good year, then ten school days away: about 92%
        fill_register(pupil, days[0], days[-1], lambda d, s, code=code: code if d in last_ten else "/\\"[s])
    nightly.nightly_run(school=school, as_of=days[-1])
    placed = {p.pupil_id: p for p in Placement.objects.filter(ladder=ladder)}
    assert placed[truant.pk].stage.key == "listen-and-understand"
    assert "10 school days of unauthorised absence in a row (10 or more)" in placed[truant.pk].reasons
    assert placed[ill.pk].stage.key == "monitor"  # below 95%, not an irregular-attendance case


def test_a_stage_is_named_once_when_its_name_starts_with_its_label(school):
    from interventions.forms import MoveForm

    dfe, _ = services.ladder_load(school=school, document=services.ladder_file_read("dfe"))
    kirkby, _ = services.ladder_load(school=school, document=services.ladder_file_read("kirkby"))
    dfe_names = [label for _, label in MoveForm(ladder=dfe).fields["stage"].choices][1:]
    assert dfe_names[:3] == ["Expect", "Monitor", "Listen and understand"]
    first = kirkby.stages.first()
    assert str(first) == f"{first.label} {first.name}" != first.name


def test_dfe_proposes_support_not_enforcement_for_a_child_missing_school_through_illness(school):
    """Severe absence alone is not a case for penalty notices: the unauthorised absence is what Enforce is for."""
    from interventions.models import Task

    ladder, _ = services.ladder_load(school=school, document=services.ladder_file_read("dfe"), activate=True)
    days = list(school_calendar(school).school_days(date(2025, 9, 2), date(2025, 11, 25)))
    away = {d for d in days if days.index(d) % 5 in (0, 1, 2)}  # three days in five: about 40% attendance

    def register(code):
        return lambda d, s: (code if d in away else "/\\"[s]) if d != days[-6] else "O"  # and one day truanting

    ill, truant, steady = (
        PupilFactory(school=school, surname=name, date_of_birth=date(2018, 3, 1)) for name in ("Ill", "Off", "Steady")
    )
    fill_register(ill, days[0], days[-1], register("I"))
    fill_register(truant, days[0], days[-1], register("O"))
    fill_register(steady, days[0], days[-1], lambda d, s: "C" if days.index(d) % 9 == 0 else "/\\"[s])  # about 89%
    nightly.nightly_run(school=school, as_of=days[-1])

    def proposed(pupil):
        return Proposal.objects.get(pupil=pupil, ladder=ladder, status="pending").to_stage.key

    assert school_summaries(school=school, start=days[0], end=days[-1])[ill.pk].severe
    assert proposed(ill) == "facilitate-support"
    assert proposed(truant) == "enforce"
    placed = {p.pupil_id: p.stage.key for p in Placement.objects.filter(ladder=ladder).select_related("stage")}
    assert placed[ill.pk] == placed[truant.pk] == placed[steady.pk] == "listen-and-understand"

    # The LA checks are asked for only where a duty may apply: 15 days ill (Off is never away 10 days in a row).
    checking = set(Task.objects.filter(template_key="la-notifications").values_list("pupil__surname", flat=True))
    assert checking == {"Ill"}
