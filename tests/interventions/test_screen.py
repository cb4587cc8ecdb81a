"""The night's screen: every pupil's indicated stage worked out for a whole school at once, column by column.

Checked against the engine itself (`rules.indicated_stage`, `rules.decide`) for
every shipped ladder and random pupils, including pupils sitting exactly on a
threshold. No database.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interventions import services
from interventions.ladder_format import CRITERION_KINDS, validate_ladder
from interventions.rules import (
    COUNT_FIELDS,
    CurrentPlacement,
    Evaluator,
    LadderSpec,
    PupilFacts,
    RunningTotals,
    decide,
    indicated_stage,
)
from interventions.screen import _Columns, indicated_stages, pupils_to_decide
from interventions.selectors import SchoolFacts
from pupils.calendar import SchoolCalendar, england_default_half_terms, monday_of
from pupils.statistics import AttendanceSummary

CALENDAR = SchoolCalendar(tuple(england_default_half_terms(2024) + england_default_half_terms(2025)))
#: Nights to decide on: mid-week, a Monday, a Friday, the last day before half-term, a holiday, a new half-term.
#: And the second week of the calendar, when few school weeks lie behind a night.
NIGHTS = (
    date(2025, 11, 26),
    date(2025, 11, 24),
    date(2025, 12, 5),
    date(2025, 10, 24),
    date(2025, 10, 29),
    date(2024, 9, 12),
)
FLAGS = ("cme", "ehcp", "holiday_requested", "mental_health", "part_time_timetable", "sen_support")
SPECS = {
    name: LadderSpec.from_document(validate_ladder(services.ladder_file_read(name)).resolved)
    for name in services.SHIPPED
}

#: Weeks a pupil might have: few enough shapes that percentages often land exactly on a threshold
#: (9 of 10 sessions is 90%, 19 of 20 over two weeks is 95%).
WEEK_SHAPES = (
    AttendanceSummary(present=10),
    AttendanceSummary(present=9, authorised=1, illness=1),
    AttendanceSummary(present=9, unauthorised=1, unexplained=1),
    AttendanceSummary(present=8, late_before_close=3, unauthorised=2, late_after_close=2),
    AttendanceSummary(present=5, unauthorised=5, holiday=4),
    AttendanceSummary(present=0, authorised=10, illness=10),
    AttendanceSummary(present=0, unauthorised=10, unexplained=10),
    AttendanceSummary(present=6, aea=2, not_possible=2),
)


def school_mondays(until: date) -> list[date]:
    """The Mondays of every week with a school day, from a year before `until`."""
    mondays, monday = [], monday_of(until - timedelta(days=380))
    while monday <= until:
        if any(CALENDAR.is_school_day(monday + timedelta(days=i)) for i in range(5)):
            mondays.append(monday)
        monday += timedelta(days=7)
    return mondays


def running_of(weeks: dict[date, AttendanceSummary]) -> RunningTotals:
    """Running totals as `night_facts` builds them, from single weeks."""
    counts = [(m, [getattr(weeks[m], name) for name in COUNT_FIELDS]) for m in sorted(weeks)]
    return RunningTotals.of(counts, session_minutes=150)


@st.composite
def pupils(draw: st.DrawFn, spec: LadderSpec, as_of: date) -> tuple[PupilFacts, CurrentPlacement | None]:
    mondays = school_mondays(as_of)
    # Mostly one kind of week, with a run of another: pupils near and across thresholds.
    usual, other = draw(st.sampled_from(WEEK_SHAPES)), draw(st.sampled_from(WEEK_SHAPES))
    start = draw(st.integers(0, len(mondays)))
    length = draw(st.integers(0, 8))
    weeks = {m: other if start <= i < start + length else usual for i, m in enumerate(mondays)}
    joined = draw(st.integers(0, len(mondays) - 1))  # weeks before joining are not on roll
    weeks = {m: w for i, (m, w) in enumerate(sorted(weeks.items())) if i >= joined}
    run_days = draw(st.sampled_from((0, 0, 1, 3, 5, 9, 10, 15, 20, 30)))
    run_start = as_of - timedelta(days=run_days * 7 // 5) if run_days else None
    contact = draw(
        st.none()
        | st.integers(0, 40).map(lambda d: as_of - timedelta(days=d))
        | st.sampled_from((run_start, run_start and run_start - timedelta(days=1)))
    )
    facts = PupilFacts(
        pupil_id=0,
        weeks={},
        running=running_of(weeks),
        flags=frozenset(draw(st.sets(st.sampled_from(FLAGS), max_size=2))),
        absence_run_days=run_days,
        absence_run_started_on=run_start,
        unauthorised_run_days=draw(st.integers(0, run_days)),
        last_family_contact_on=contact,
        attendance_rank_pct=draw(st.none() | st.sampled_from((1.0, 5.0, 9.5, 10.0, 10.5, 20.0, 50.0, 100.0))),
    )
    placement = None
    if draw(st.booleans()):
        placement = CurrentPlacement(
            stage_key=draw(st.sampled_from([s.key for s in spec.stages])),
            since=as_of - timedelta(days=draw(st.integers(0, 200))),
            # One point below what the week shapes give, often: "now" lands exactly on "then + margin".
            entry_attendance_pct=draw(
                st.none() | st.sampled_from([Decimal(v) for v in ("79", "85.5", "89", "89.01", "94", "99", "96.67")])
            ),
            improving_since=draw(st.none() | st.integers(0, 60).map(lambda d: as_of - timedelta(days=d))),
        )
    return facts, placement


@st.composite
def schools(draw: st.DrawFn) -> tuple[LadderSpec, SchoolFacts, dict[int, CurrentPlacement]]:
    spec = SPECS[draw(st.sampled_from(services.SHIPPED))]
    as_of = draw(st.sampled_from(NIGHTS))
    drawn = draw(st.lists(pupils(spec, as_of), min_size=1, max_size=8))
    facts, placements = {}, {}
    for pupil_id, (f, placement) in enumerate(drawn, start=1):
        facts[pupil_id] = PupilFacts(**{**f.__dict__, "pupil_id": pupil_id, "totals_cache": {}})
        if placement is not None:
            placements[pupil_id] = placement
    return spec, SchoolFacts(as_of=as_of, calendar=CALENDAR, pupils=[], facts=facts), placements


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schools())
def test_the_screen_indicates_the_stage_the_engine_indicates_for_every_pupil(school):
    spec, facts, placements = school
    stages = indicated_stages(spec=spec, facts=facts, placements=placements)
    assert stages is not None
    for (pupil_id, f), stage in zip(facts.facts.items(), stages, strict=True):
        evaluator = Evaluator(f, CALENDAR, facts.as_of, spec.min_possible, placements.get(pupil_id), explain=False)
        assert stage.key == indicated_stage(spec, evaluator)[0].key, (spec.key, pupil_id)


@st.composite
def schools_with_proposals(draw: st.DrawFn) -> tuple[LadderSpec, SchoolFacts, dict[int, CurrentPlacement], dict]:
    """A school, and a proposal waiting for some pupils: often for the stage the engine indicates."""
    spec, facts, placements = draw(schools())
    indicated = indicated_stages(spec=spec, facts=facts, placements=placements)
    assert indicated is not None
    pending = {}
    for (pupil_id, _), stage in zip(facts.facts.items(), indicated, strict=True):
        if draw(st.booleans()):
            pending[pupil_id] = draw(st.sampled_from([stage.key, stage.key, *(s.key for s in spec.stages)]))
    return spec, facts, placements, pending


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schools_with_proposals())
def test_a_pupil_the_screen_passes_over_is_one_decide_would_leave_alone(school):
    spec, facts, placements, pending = school
    to_decide = pupils_to_decide(spec=spec, facts=facts, placements=placements, pending=pending)
    assert to_decide is not None
    assert set(facts.facts) - set(placements) <= to_decide, "a pupil with no placement is always decided"
    for pupil_id in set(facts.facts) - to_decide:
        placement = placements[pupil_id]
        decision = decide(spec, facts.facts[pupil_id], placement, as_of=facts.as_of, calendar=CALENDAR)
        # Stays, with no improvement to watch, proposing again just what waits (or nothing).
        assert (decision.stage_key, decision.moved, decision.proposal, decision.improving_since) == (
            placement.stage_key,
            False,
            pending.get(pupil_id),
            None,
        )


def test_the_screen_decides_the_pupils_it_must():
    """By hand, on the DfE ladder: a pupil who falls, one who recovers, one watched, one steady, one with a proposal."""
    spec = SPECS["dfe"]
    as_of = NIGHTS[0]
    good = running_of(dict.fromkeys(school_mondays(as_of), AttendanceSummary(present=10)))
    poor = running_of(dict.fromkeys(school_mondays(as_of), AttendanceSummary(present=0, unauthorised=10)))
    base, higher = spec.base.key, spec.falling[-2].key
    placed_since = as_of - timedelta(days=100)
    facts = {
        1: PupilFacts(pupil_id=1, weeks={}, running=poor),  # at the base stage, never attends: up
        2: PupilFacts(pupil_id=2, weeks={}, running=good),  # high up, attends every session: coming down
        3: PupilFacts(pupil_id=3, weeks={}, running=good),  # at base, watched since an improvement: decided
        4: PupilFacts(pupil_id=4, weeks={}, running=good),  # at base, attends: steady
        5: PupilFacts(pupil_id=5, weeks={}, running=good),  # steady, but a proposal waits: to withdraw
        6: PupilFacts(pupil_id=6, weeks={}, running=good),  # new: no placement yet
    }
    placements = {
        1: CurrentPlacement(base, placed_since),
        2: CurrentPlacement(higher, placed_since),
        3: CurrentPlacement(base, placed_since, improving_since=as_of - timedelta(days=3)),
        4: CurrentPlacement(base, placed_since),
        5: CurrentPlacement(base, placed_since),
    }
    school = SchoolFacts(as_of=as_of, calendar=CALENDAR, pupils=[], facts=facts)
    assert pupils_to_decide(spec=spec, facts=school, placements=placements, pending={5: higher}) == {1, 2, 3, 5, 6}


def test_a_pupil_waiting_for_the_stage_the_data_still_indicates_is_passed_over():
    """DfE: 85% for weeks indicates a stage a person approves; the pupil lands below it and it is proposed."""
    spec, as_of = SPECS["dfe"], NIGHTS[0]
    weeks = dict.fromkeys(school_mondays(as_of), AttendanceSummary(present=17, authorised=3))
    facts = PupilFacts(pupil_id=1, weeks={}, running=running_of(weeks))
    first = decide(spec, facts, None, as_of=as_of, calendar=CALENDAR)
    assert first.proposal is not None and first.proposal != first.stage_key
    school = SchoolFacts(as_of=as_of, calendar=CALENDAR, pupils=[], facts={1: facts})
    placed = CurrentPlacement(first.stage_key, as_of - timedelta(days=30))

    def screened(placement: CurrentPlacement, proposed: str) -> set[int] | None:
        return pupils_to_decide(spec=spec, facts=school, placements={1: placement}, pending={1: proposed})

    assert screened(placed, first.proposal) == set()
    assert screened(placed, spec.base.key) == {1}, "a proposal the data no longer supports is withdrawn"
    watched = CurrentPlacement(first.stage_key, placed.since, improving_since=as_of - timedelta(days=3))
    assert screened(watched, first.proposal) == {1}, "an improvement being watched is cleared"
    below = spec.falling[spec.falling.index(spec.stage(first.stage_key)) - 1]
    lower = CurrentPlacement(below.key, placed.since)
    assert screened(lower, first.proposal) == {1}, "a pupil below where the data lands them moves up"
    assert decide(spec, facts, lower, as_of=as_of, calendar=CALENDAR).moved


def agree(spec: LadderSpec, facts: PupilFacts, placement: CurrentPlacement | None, as_of: date) -> str:
    """The stage the screen and the engine both indicate for one pupil (fails if they differ)."""
    school = SchoolFacts(as_of=as_of, calendar=CALENDAR, pupils=[], facts={facts.pupil_id: facts})
    (screened,) = indicated_stages(spec=spec, facts=school, placements={facts.pupil_id: placement} if placement else {})
    engine = Evaluator(facts, CALENDAR, as_of, spec.min_possible, placement, explain=False)
    assert screened.key == indicated_stage(spec, engine)[0].key
    return screened.key


@pytest.mark.parametrize(("entry_pct", "stage_4"), [("89", False), ("89.01", True)])
def test_at_the_stage_without_improvement_means_now_below_then_plus_the_margin_exactly(entry_pct, stage_4):
    """Sherrier: 90% attendance and late every week, placed at 89%: 90 is not below 89 + 1."""
    as_of = NIGHTS[0]
    weeks = dict.fromkeys(school_mondays(as_of), AttendanceSummary(present=9, late_before_close=3, authorised=1))
    facts = PupilFacts(pupil_id=1, weeks={}, running=running_of(weeks))
    placement = CurrentPlacement("stage-3", as_of - timedelta(days=60), entry_attendance_pct=Decimal(entry_pct))
    assert (agree(SPECS["sherrier"], facts, placement, as_of) == "stage-4") is stage_4


@pytest.mark.parametrize(("days_before_run", "stage"), [(0, "low-need"), (1, "intensive-need")])
def test_no_contact_counts_a_contact_on_the_day_the_absence_began(days_before_run, stage):
    """Mickley: absent three school days in a row; a contact on the first of them is contact."""
    as_of = NIGHTS[0]  # a Wednesday: the run began on Monday
    weeks = dict.fromkeys(school_mondays(as_of), AttendanceSummary(present=10))
    started = as_of - timedelta(days=2)
    facts = PupilFacts(
        pupil_id=1,
        weeks={},
        running=running_of(weeks),
        flags=frozenset({"holiday_requested"}),
        absence_run_days=3,
        absence_run_started_on=started,
        last_family_contact_on=started - timedelta(days=days_before_run),
    )
    assert agree(SPECS["mickley"], facts, CurrentPlacement("all", as_of), as_of) == stage


def test_held_for_needs_as_many_school_weeks_behind_the_night_as_it_names():
    """DfE: 85% holds 'at most 90%' at every week's end, but in the calendar's second week there are not four."""
    spec = SPECS["dfe"]
    held_for = next(s for s in spec.falling if "held_for" in str(s.criteria))
    for as_of, held in ((date(2024, 9, 12), False), (date(2024, 10, 10), True)):
        weeks = dict.fromkeys(school_mondays(as_of), AttendanceSummary(present=17, authorised=3))
        facts = PupilFacts(pupil_id=1, weeks={}, running=running_of(weeks))
        assert (agree(spec, facts, None, as_of) == held_for.key) is held, as_of


def test_the_screen_can_test_every_kind_of_criterion_the_ladder_format_allows():
    assert [kind for kind in CRITERION_KINDS if not hasattr(_Columns, f"_{kind}")] == []


def test_without_running_totals_the_screen_asks_for_every_pupil_to_be_decided():
    weeks = dict.fromkeys(school_mondays(NIGHTS[0]), AttendanceSummary(present=10))
    facts = {1: PupilFacts(pupil_id=1, weeks=weeks)}
    school = SchoolFacts(as_of=NIGHTS[0], calendar=CALENDAR, pupils=[], facts=facts)
    placements = {1: CurrentPlacement(SPECS["dfe"].base.key, NIGHTS[0])}
    assert pupils_to_decide(spec=SPECS["dfe"], facts=school, placements=placements, pending={}) is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(WEEK_SHAPES), min_size=0, max_size=30),
    st.integers(0, 40),
    st.integers(0, 40),
)
def test_running_totals_add_up_any_window_as_the_weeks_do(shapes, a, b):
    mondays = [date(2025, 9, 1) + timedelta(weeks=i) for i in range(len(shapes))]
    weeks = dict(zip(mondays, shapes, strict=True))
    first, last = sorted((date(2025, 8, 25) + timedelta(weeks=a), date(2025, 8, 25) + timedelta(weeks=b)))
    from_weeks = AttendanceSummary.add_up([w for m, w in weeks.items() if first <= m <= last])
    from_running = running_of(weeks).between(first, last)
    assert [getattr(from_running, n) for n in COUNT_FIELDS] == [getattr(from_weeks, n) for n in COUNT_FIELDS]


@pytest.mark.parametrize("name", services.SHIPPED)
def test_every_shipped_ladder_uses_only_criteria_the_screen_can_test(name):
    """If a shipped ladder used a criterion the screen did not know, every night would decide every pupil."""
    weeks = dict.fromkeys(school_mondays(NIGHTS[0]), AttendanceSummary(present=8, unauthorised=2, unexplained=2))
    facts = {1: PupilFacts(pupil_id=1, weeks={}, running=running_of(weeks))}
    school = SchoolFacts(as_of=NIGHTS[0], calendar=CALENDAR, pupils=[], facts=facts)
    assert indicated_stages(spec=SPECS[name], facts=school, placements={}) is not None
