"""The ladder engine, rule by rule, with hand-built pupils. No database."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from interventions.ladder_format import validate_ladder
from interventions.rules import CurrentPlacement, LadderSpec, PupilFacts, decide
from pupils.calendar import SchoolCalendar, england_default_half_terms, monday_of
from pupils.statistics import AttendanceSummary

CALENDAR = SchoolCalendar(tuple(england_default_half_terms(2024) + england_default_half_terms(2025)))
TODAY = date(2025, 11, 26)  # a Wednesday in Autumn 2


def school_mondays(as_of: date = TODAY) -> list[date]:
    """Mondays of the school weeks of this academic year up to as_of, oldest first."""
    start = CALENDAR.academic_year_window(as_of)[0]
    mondays, monday = [], monday_of(start)
    while monday <= as_of:
        if any(CALENDAR.is_school_day(monday + timedelta(days=i)) for i in range(5)):
            mondays.append(monday)
        monday += timedelta(days=7)
    return mondays


def week(present: int = 10, **counts: int) -> AttendanceSummary:
    return AttendanceSummary(present=present, **counts)


def pupil(weeks: dict[date, AttendanceSummary] | None = None, **kwargs) -> PupilFacts:
    return PupilFacts(pupil_id=1, weeks=weeks or {}, **kwargs)


def steady(present: int, absent: int, *, as_of: date = TODAY, **extra: int) -> dict[date, AttendanceSummary]:
    """Every school week the same: `present` sessions attended, `absent` authorised absences."""
    return {m: week(present, authorised=absent, **extra) for m in school_mondays(as_of)}


def ladder(*stages: dict, **top) -> LadderSpec:
    document = {"key": "test", "name": "Test ladder", "stages": [{"key": "base", "name": "Base"}, *stages], **top}
    check = validate_ladder(document)
    assert check.ok, check.errors
    return LadderSpec.from_document(check.resolved)


def run(spec: LadderSpec, facts: PupilFacts, placement: CurrentPlacement | None = None, as_of: date = TODAY):
    return decide(spec, facts, placement, as_of=as_of, calendar=CALENDAR)


BANDS = ladder(
    {"key": "watch", "name": "Watch", "criteria": {"attendance": {"below": 95}}},
    {"key": "pa", "name": "Persistent absence", "criteria": {"attendance": {"below": 90}}},
)


# --- attendance -----------------------------------------------------------------


def test_attendance_below_threshold_places_pupil_with_measured_value_in_reason():
    # 12 school weeks of 9 present + 1 absent: 108/120 = 90.0%, not below 90, but below 95.
    decision = run(BANDS, pupil(steady(9, 1)))
    assert decision.stage_key == "watch"
    assert decision.reasons == ("attendance 90.0% year to date, below 95%",)


def test_attendance_just_below_persistent_absence_line_goes_to_pa():
    weeks = steady(9, 1)
    weeks[school_mondays()[0]] = week(8, authorised=2)  # 107/120 = 89.17%
    decision = run(BANDS, pupil(weeks))
    assert decision.stage_key == "pa"
    assert decision.reasons == ("attendance 89.2% year to date, below 90%",)


def test_a_reason_never_prints_a_figure_its_own_test_rejects():
    weeks = {m: week(0) for m in school_mondays()}
    weeks[school_mondays()[0]] = week(2375, authorised=100)  # 2375/2475 = 95.9596%: one place would print 96.0%
    spec = ladder({"key": "monitor", "name": "Monitor", "criteria": {"attendance": {"below": 96, "above": 90}}})
    decision = run(spec, pupil(weeks))
    assert decision.stage_key == "monitor"
    assert decision.reasons == ("attendance 95.96% year to date, below 96% and above 90%",)


def test_percentage_does_not_count_before_minimum_possible_sessions():
    first = school_mondays()[0]
    facts = pupil({first: week(4, authorised=6)})  # 40% but only 10 possible sessions
    assert run(BANDS, facts).stage_key == "base"
    assert run(BANDS, facts, as_of=first + timedelta(days=4)).reasons == ("no stage's criteria hold",)


def test_attendance_over_half_term_window_ignores_earlier_weeks():
    spec = ladder(
        {
            "key": "ht",
            "name": "HT",
            "criteria": {"attendance": {"below": 90, "window": "half_term", "min_possible": 10}},
        }
    )
    weeks = steady(10, 0)
    for monday in school_mondays()[-4:]:  # Autumn 2 so far: 4 weeks at 70%
        weeks[monday] = week(7, unauthorised=3)
    decision = run(spec, pupil(weeks))
    assert decision.stage_key == "ht"
    assert decision.reasons == ("attendance 70.0% this half-term, below 90%",)


def test_attendance_band_with_both_edges_holds_only_inside():
    spec = ladder({"key": "band", "name": "Band", "criteria": {"attendance": {"at_least": 90, "below": 95}}})
    assert run(spec, pupil(steady(9, 1))).stage_key == "band"  # 90.0% is in [90, 95)
    assert run(spec, pupil(steady(19, 1))).stage_key == "base"  # 95.0% is not


# --- counts ---------------------------------------------------------------------


def test_lates_this_half_term_count_l_and_u():
    spec = ladder(
        {
            "key": "late",
            "name": "Late",
            "criteria": {"count": {"measure": "lates", "at_least": 3, "window": "half_term"}},
        }
    )
    weeks = steady(10, 0)
    last = school_mondays()[-1]
    weeks[last] = week(10, late_before_close=2, unauthorised=1, late_after_close=1)
    decision = run(spec, pupil(weeks))
    assert decision.stage_key == "late"
    assert decision.reasons == ("3 lates this half-term (3 or more)",)


def test_a_count_of_one_is_worded_as_one():
    spec = ladder(
        {
            "key": "unexplained",
            "name": "Unexplained",
            "criteria": {"count": {"measure": "unexplained", "at_least": 1, "window": "half_term"}},
        }
    )
    weeks = steady(10, 0)
    weeks[school_mondays()[-1]] = week(9, unauthorised=1, unexplained=1)  # an N is unauthorised too
    assert run(spec, pupil(weeks)).reasons == ("1 unexplained absence session (N) this half-term (1 or more)",)


def test_lates_before_this_half_term_do_not_count():
    spec = ladder(
        {
            "key": "late",
            "name": "Late",
            "criteria": {"count": {"measure": "lates", "at_least": 3, "window": "half_term"}},
        }
    )
    weeks = steady(10, 0)
    weeks[school_mondays()[0]] = week(10, late_before_close=5)  # September
    assert run(spec, pupil(weeks)).stage_key == "base"


def test_penalty_rule_counts_unauthorised_across_the_half_term_holiday():
    spec = ladder(
        {
            "key": "pn",
            "name": "Penalty notice",
            "criteria": {"count": {"measure": "unauthorised", "at_least": 10, "window": {"weeks": 10}}},
        }
    )
    mondays = school_mondays()
    weeks = steady(10, 0)
    # 4 unauthorised in the week before October half-term, 6 in the last week: the holiday week is not a school week.
    weeks[date(2025, 10, 20)] = week(6, unauthorised=4)
    weeks[mondays[-1]] = week(4, unauthorised=6)
    assert run(spec, pupil(weeks)).reasons == (
        "10 unauthorised absence sessions in the last 10 school weeks (10 or more)",
    )
    # The same 10, but the first 4 eleven school weeks back: outside the rolling window.
    weeks[date(2025, 10, 20)] = week(10)
    weeks[mondays[1]] = week(6, unauthorised=4)
    assert run(spec, pupil(weeks)).stage_key == "base"


def test_consecutive_days_absent_uses_the_current_run():
    spec = ladder(
        {"key": "run", "name": "Run", "criteria": {"count": {"measure": "consecutive_days_absent", "at_least": 10}}}
    )
    assert (
        run(spec, pupil(steady(10, 0), absence_run_days=10, absence_run_started_on=date(2025, 11, 13))).stage_key
        == "run"
    )
    assert (
        run(spec, pupil(steady(10, 0), absence_run_days=9, absence_run_started_on=date(2025, 11, 14))).stage_key
        == "base"
    )


def test_consecutive_days_unauthorised_reads_the_unauthorised_run_only():
    spec = ladder(
        {
            "key": "irregular",
            "name": "Irregular",
            "criteria": {"count": {"measure": "consecutive_days_unauthorised", "at_least": 10}},
        }
    )
    ill = pupil(steady(10, 0), absence_run_days=12, absence_run_started_on=date(2025, 11, 11))
    assert run(spec, ill).stage_key == "base"
    truant = pupil(steady(10, 0), absence_run_days=12, unauthorised_run_days=10)
    decision = run(spec, truant)
    assert (decision.stage_key, decision.reasons) == (
        "irregular",
        ("10 school days of unauthorised absence in a row (10 or more)",),
    )


# --- flags, time, rank, contact ---------------------------------------------------


def test_flag_criterion_holds_for_flagged_pupil_only():
    spec = ladder({"key": "ehcp", "name": "EHCP", "criteria": {"flag": "ehcp"}})
    assert run(spec, pupil(steady(10, 0), flags=frozenset({"ehcp"}))).reasons == (
        "flagged “Education, health and care plan”",
    )
    assert run(spec, pupil(steady(10, 0), flags=frozenset({"young_carer"}))).stage_key == "base"


def test_flag_reasons_read_as_staff_would_say_them():
    """The reason kept on a stage change is read by staff: names, not keys."""
    school_own = ladder({"key": "forest", "name": "Forest", "criteria": {"flag": "forest_school"}})
    assert run(school_own, pupil(steady(10, 0), flags=frozenset({"forest_school"}))).reasons == (
        "flagged “forest school”",
    )
    legal = ladder({"key": "legal", "name": "Legal", "criteria": {"flag": "compulsory_school_age"}})
    assert run(legal, pupil(steady(10, 0), flags=frozenset({"compulsory_school_age"}))).reasons == (
        "of compulsory school age",
    )


def test_a_stage_for_some_pupils_gives_why_before_whom():
    """Lists show a pupil's first reason alone: "of compulsory school age" says nothing about why."""
    legal = ladder(
        {
            "key": "legal",
            "name": "Legal",
            "criteria": {"all": [{"flag": "compulsory_school_age"}, {"attendance": {"below": 95}}]},
        }
    )
    reasons = run(legal, pupil(steady(9, 1), flags=frozenset({"compulsory_school_age"}))).reasons
    assert reasons == ("attendance 90.0% year to date, below 95%", "of compulsory school age")
    # An `any` of flags says whom too.
    carers = ladder(
        {
            "key": "carers",
            "name": "Carers",
            "criteria": {"all": [{"any": [{"flag": "young_carer"}, {"flag": "fsm"}]}, {"attendance": {"below": 95}}]},
        }
    )
    reasons = run(carers, pupil(steady(9, 1), flags=frozenset({"young_carer"}))).reasons
    assert reasons == ("attendance 90.0% year to date, below 95%", "flagged “Young carer”")


def test_held_for_six_weeks_needs_every_week_end_at_or_below():
    spec = ladder(
        {
            "key": "was",
            "name": "Refer",
            "criteria": {"held_for": {"weeks": 6, "criterion": {"attendance": {"at_most": 85}}}},
        }
    )
    assert run(spec, pupil(steady(8, 2))).stage_key == "was"  # 80% all along
    # Good until the last 5 weeks: year-to-date only fell to 85% or below recently.
    weeks = steady(10, 0)
    for monday in school_mondays()[-5:]:
        weeks[monday] = week(3, authorised=7)
    facts = pupil(weeks)
    assert run(spec, facts).stage_key == "base"
    # A week later, still absent: now six week-ends running.
    later = TODAY + timedelta(days=7)
    weeks[monday_of(later)] = week(0, authorised=10)
    assert run(spec, pupil(weeks), as_of=later).stage_key == "base"  # 5 weeks ago ytd was still above 85
    assert "at the end of each of the last 6 school weeks" in run(spec, pupil(steady(8, 2))).reasons[0]


def test_at_stage_without_improvement_escalates_after_the_weeks():
    spec = ladder(
        {"key": "s1", "name": "One", "criteria": {"attendance": {"below": 95}}},
        {"key": "s2", "name": "Two", "criteria": {"at_stage_for": {"weeks": 4, "without_improvement": True}}},
    )
    facts = pupil(steady(9, 1))  # 90.0% now
    stuck = CurrentPlacement("s1", since=TODAY - timedelta(weeks=5), entry_attendance_pct=Decimal("90.5"))
    decision = run(spec, facts, stuck)
    assert decision.stage_key == "s2"
    assert decision.reasons == (
        "at the current stage for 5 weeks without improvement (attendance 90.5% then, 90.0% now)",
    )
    improved = CurrentPlacement("s1", since=TODAY - timedelta(weeks=5), entry_attendance_pct=Decimal("88.0"))
    assert run(spec, facts, improved).stage_key == "s1"
    too_soon = CurrentPlacement("s1", since=TODAY - timedelta(weeks=3), entry_attendance_pct=Decimal("90.5"))
    assert run(spec, facts, too_soon).stage_key == "s1"


def test_no_contact_while_absent_holds_until_a_contact_is_logged():
    spec = ladder({"key": "nc", "name": "No contact", "criteria": {"no_contact": {"school_days": 3}}})
    absent = {"absence_run_days": 3, "absence_run_started_on": date(2025, 11, 24)}
    assert run(spec, pupil(steady(10, 0), **absent)).stage_key == "nc"
    assert run(spec, pupil(steady(10, 0), last_family_contact_on=date(2025, 11, 25), **absent)).stage_key == "base"
    assert run(spec, pupil(steady(10, 0), last_family_contact_on=date(2025, 11, 20), **absent)).stage_key == "nc"


def test_reasons_write_dates_as_people_do():
    no_contact = ladder({"key": "nc", "name": "No contact", "criteria": {"no_contact": {"school_days": 3}}})
    absent = {"absence_run_days": 3, "absence_run_started_on": date(2025, 11, 3)}
    assert run(no_contact, pupil(steady(10, 0), **absent)).reasons == (
        "absent 3 school days in a row since 3 Nov with no contact logged (3 or more)",
    )
    spec = ladder(
        {"key": "watch", "name": "Watch", "criteria": {"attendance": {"below": 95}}},
        {"key": "pa", "name": "PA", "criteria": {"attendance": {"below": 90}}},
        descent={"sustain_weeks": 2, "margin": 1.0},
    )
    improving = CurrentPlacement("pa", date(2025, 10, 1), improving_since=date(2025, 11, 5))
    assert run(spec, pupil(steady(23, 2)), improving).reasons[0].startswith("improvement sustained since 5 Nov 2025 ")


def test_bottom_percent_uses_rank():
    spec = ladder({"key": "low", "name": "Bottom 10%", "criteria": {"bottom_percent": 10}})
    assert run(spec, pupil(steady(10, 0), attendance_rank_pct=9.5)).stage_key == "low"
    assert run(spec, pupil(steady(10, 0), attendance_rank_pct=10.0)).stage_key == "low"
    assert run(spec, pupil(steady(10, 0), attendance_rank_pct=10.5)).stage_key == "base"
    assert run(spec, pupil(steady(10, 0))).stage_key == "base"  # too few sessions to be ranked


def test_all_any_not_combine():
    spec = ladder(
        {
            "key": "combo",
            "name": "Combo",
            "criteria": {
                "all": [
                    {"attendance": {"below": 95}},
                    {"any": [{"flag": "fsm"}, {"flag": "young_carer"}]},
                    {"not": {"flag": "ehcp"}},
                ]
            },
        }
    )
    assert run(spec, pupil(steady(9, 1), flags=frozenset({"fsm"}))).stage_key == "combo"
    assert run(spec, pupil(steady(9, 1), flags=frozenset({"fsm", "ehcp"}))).stage_key == "base"
    assert run(spec, pupil(steady(9, 1))).stage_key == "base"
    assert run(spec, pupil(steady(10, 0), flags=frozenset({"fsm"}))).stage_key == "base"


# --- movement ------------------------------------------------------------------


def test_first_run_goes_straight_to_the_indicated_stage():
    decision = run(BANDS, pupil(steady(8, 2)))
    assert (decision.stage_key, decision.moved) == ("pa", True)


def test_up_at_once_from_a_lower_stage():
    decision = run(BANDS, pupil(steady(8, 2)), CurrentPlacement("watch", since=date(2025, 10, 1)))
    assert (decision.stage_key, decision.moved) == ("pa", True)


def test_down_only_after_improvement_is_sustained():
    spec = ladder(
        {"key": "watch", "name": "Watch", "criteria": {"attendance": {"below": 95}}},
        {"key": "pa", "name": "PA", "criteria": {"attendance": {"below": 90}}},
        descent={"sustain_weeks": 4, "margin": 1.0},
    )
    improving = pupil(steady(23, 2))  # 92.0%: indicates "watch", and still does with a 1-point margin
    first_night = run(spec, improving, CurrentPlacement("pa", since=date(2025, 10, 1)))
    assert (first_night.stage_key, first_night.moved, first_night.improving_since) == ("pa", False, TODAY)
    three_weeks = run(
        spec, improving, CurrentPlacement("pa", date(2025, 10, 1), improving_since=TODAY - timedelta(weeks=3))
    )
    assert (three_weeks.stage_key, three_weeks.moved) == ("pa", False)
    four_weeks = run(
        spec, improving, CurrentPlacement("pa", date(2025, 10, 1), improving_since=TODAY - timedelta(weeks=4))
    )
    assert (four_weeks.stage_key, four_weeks.moved) == ("watch", True)
    assert four_weeks.reasons[0].startswith("improvement sustained since")


def test_the_summer_holiday_is_not_improvement():
    """No register in August: nothing holds on the new year's empty window, but that is no sign of better
    attendance. A pupil at PA all last year, and still at 80% when school starts, is never moved down."""
    at_80 = {m: week(8, authorised=2) for m in school_mondays(date(2025, 7, 18)) + school_mondays(date(2025, 10, 17))}
    placement, day, moves = CurrentPlacement("pa", date(2025, 3, 3)), date(2025, 7, 19), []
    while day <= date(2025, 10, 17):  # every night, as the nightly job runs them, holidays included
        decision = run(BANDS, pupil(at_80), placement, as_of=day)
        if decision.moved:
            moves.append((day, decision.stage_key))
        placement = CurrentPlacement(
            decision.stage_key, day if decision.moved else placement.since, improving_since=decision.improving_since
        )
        day += timedelta(days=1)
    assert moves == []
    assert placement.stage_key == "pa" and placement.improving_since is None


def test_improvement_in_september_is_counted_from_when_there_is_enough_register_to_judge():
    """At PA all last year, then at school every day from September: down once four school weeks have
    passed since the year had `min_possible` (20) sessions, on Monday 8 September, and not before."""
    weeks = {m: week(8, authorised=2) for m in school_mondays(date(2025, 7, 18))}
    weeks.update({m: week(10) for m in school_mondays(date(2025, 10, 31))})
    placement, day, moves = CurrentPlacement("pa", date(2025, 3, 3)), date(2025, 7, 19), []
    while day <= date(2025, 10, 31):
        decision = run(BANDS, pupil(weeks), placement, as_of=day)
        if decision.moved:
            moves.append((day, decision.stage_key, decision.reasons[0]))
        placement = CurrentPlacement(
            decision.stage_key, day if decision.moved else placement.since, improving_since=decision.improving_since
        )
        day += timedelta(days=1)
    assert moves == [
        (date(2025, 10, 6), "base", "improvement sustained since 8 Sep 2025 (4 school weeks, margin 1 points)")
    ]


def test_an_improvement_clock_from_last_school_year_starts_again_this_year():
    spec = ladder(
        {"key": "watch", "name": "Watch", "criteria": {"attendance": {"below": 95}}},
        {"key": "pa", "name": "PA", "criteria": {"attendance": {"below": 90}}},
        descent={"sustain_weeks": 4, "margin": 1.0},
    )
    improving = pupil(steady(23, 2, as_of=date(2025, 9, 26)))
    # Set in August by an older version (or a night that then stopped running): not four weeks of this year.
    placed = CurrentPlacement("pa", date(2025, 3, 3), improving_since=date(2025, 7, 28))
    decision = run(spec, improving, placed, as_of=date(2025, 9, 26))
    assert (decision.stage_key, decision.moved, decision.improving_since) == ("pa", False, date(2025, 9, 26))


def test_sustained_improvement_is_counted_in_school_weeks():
    spec = ladder(
        {"key": "watch", "name": "Watch", "criteria": {"attendance": {"below": 95}}},
        {"key": "pa", "name": "PA", "criteria": {"attendance": {"below": 90}}},
        descent={"sustain_weeks": 4, "margin": 1.0},
    )
    improving = pupil(steady(23, 2))
    # From 15 Oct to 12 Nov is four weeks, but one of them (27-31 Oct) is half-term: three school weeks.
    assert CALENDAR.school_weeks_since(date(2025, 10, 15), date(2025, 11, 12)) == 3
    placed = CurrentPlacement("pa", date(2025, 10, 1), improving_since=date(2025, 10, 15))
    assert run(spec, improving, placed, as_of=date(2025, 11, 12)).stage_key == "pa"
    moved = run(spec, improving, placed, as_of=date(2025, 11, 17))  # the fourth school week begins
    assert (moved.stage_key, moved.moved) == ("watch", True)
    assert moved.reasons[0] == "improvement sustained since 15 Oct 2025 (4 school weeks, margin 1 points)"


def test_descent_needs_the_margin_above_the_threshold():
    spec = ladder(
        {"key": "watch", "name": "Watch", "criteria": {"attendance": {"below": 95}}},
        {"key": "pa", "name": "PA", "criteria": {"attendance": {"below": 90}}},
        descent={"sustain_weeks": 0, "margin": 1.0},
    )
    just_over = pupil(
        steady(
            181,
            19,
        )
    )  # 90.5%: not PA any more, but within the 1-point margin
    assert run(spec, just_over, CurrentPlacement("pa", date(2025, 10, 1))).stage_key == "pa"
    clear = pupil(steady(23, 2))  # 92%
    assert run(spec, clear, CurrentPlacement("pa", date(2025, 10, 1))).stage_key == "watch"


def test_approval_stage_is_proposed_and_pupil_lands_on_the_highest_automatic_stage_below():
    spec = ladder(
        {"key": "watch", "name": "Watch", "criteria": {"attendance": {"below": 95}}},
        {"key": "panel", "name": "Panel", "entry": "approval", "criteria": {"attendance": {"below": 90}}},
    )
    decision = run(spec, pupil(steady(8, 2)), CurrentPlacement("base", date(2025, 9, 2)))
    assert (decision.stage_key, decision.moved, decision.proposal) == ("watch", True, "panel")
    assert decision.proposal_reasons == ("attendance 80.0% year to date, below 90%",)
    # Already at watch: no move, the proposal stands.
    again = run(spec, pupil(steady(8, 2)), CurrentPlacement("watch", TODAY))
    assert (again.moved, again.proposal) == (False, "panel")


def test_manual_stage_is_never_entered_by_data_and_holds_pupils_placed_there():
    spec = ladder(
        {"key": "watch", "name": "Watch", "criteria": {"attendance": {"below": 95}}},
        {"key": "casework", "name": "Casework agreed", "entry": "manual"},
    )
    assert run(spec, pupil(steady(0, 10))).stage_key == "watch"
    # Placed at casework by a person, still below 95%: stays, no proposal to come down.
    held = run(spec, pupil(steady(9, 1)), CurrentPlacement("casework", date(2025, 10, 1)))
    assert (held.stage_key, held.moved, held.proposal) == ("casework", False, None)
    # Fully recovered for the sustain period: coming down is proposed, not automatic.
    well = run(
        spec, pupil(steady(10, 0)), CurrentPlacement("casework", date(2025, 10, 1), improving_since=date(2025, 10, 1))
    )
    assert (well.stage_key, well.moved, well.proposal) == ("casework", False, "base")


IMPROVING = ladder(
    {"key": "concern", "name": "Concern", "criteria": {"attendance": {"below": 95}}},
    {"key": "pa", "name": "PA", "criteria": {"attendance": {"below": 90}}},
    {"key": "serious", "name": "Serious", "criteria": {"attendance": {"below": 85}}},
    {"key": "still-concerns", "name": "Still concerns", "track": "improving", "mirrors": "pa"},
    {"key": "milestone", "name": "Milestone", "track": "improving", "mirrors": "base"},
    descent={"sustain_weeks": 0, "margin": 0},
)


def test_coming_down_moves_onto_the_improving_track_not_back_down_the_falling_one():
    decision = run(IMPROVING, pupil(steady(9, 1)), CurrentPlacement("serious", date(2025, 10, 1)))  # 90%: "concern"
    # Nearest improving stage at or above "concern": "still-concerns" (mirrors pa).
    assert (decision.stage_key, decision.moved) == ("still-concerns", True)
    recovered = run(IMPROVING, pupil(steady(10, 0)), CurrentPlacement("still-concerns", date(2025, 11, 1)))
    assert recovered.stage_key == "milestone"


def test_falling_again_from_the_improving_track_goes_back_to_the_falling_track():
    decision = run(IMPROVING, pupil(steady(8, 2)), CurrentPlacement("still-concerns", date(2025, 11, 1)))
    assert (decision.stage_key, decision.moved) == ("serious", True)
    # Same level as its improving stage: stays on the improving track.
    same = run(IMPROVING, pupil(steady(87, 13)), CurrentPlacement("still-concerns", date(2025, 11, 1)))
    assert (same.stage_key, same.moved) == ("still-concerns", False)


def test_engine_is_deterministic():
    facts = pupil(steady(8, 2), flags=frozenset({"fsm"}))
    assert run(BANDS, facts) == run(BANDS, facts)


# --- a move a person declined lately -----------------------------------------------------

RESTING_LADDER = ladder(
    {"key": "watch", "name": "Watch", "criteria": {"attendance": {"below": 95}}},
    {"key": "support", "name": "Support", "entry": "approval", "criteria": {"attendance": {"below": 90}}},
    {"key": "casework", "name": "Casework", "entry": "manual", "criteria": {"attendance": {"below": 80}}},
    {"key": "panel", "name": "Panel", "entry": "approval", "criteria": {"attendance": {"below": 85, "at_least": 50}}},
    {"key": "legal", "name": "Legal", "entry": "approval", "criteria": {"attendance": {"below": 50}}},
)
AT_WATCH = CurrentPlacement("watch", date(2025, 9, 2))


def test_a_declined_move_up_gives_way_to_the_highest_approval_stage_below_it_whose_criteria_hold():
    seventy = pupil(steady(7, 3))  # 70%: Panel, Support and Casework's criteria hold
    assert run(RESTING_LADDER, seventy, AT_WATCH).proposal == "panel"
    declined = decide(RESTING_LADDER, seventy, AT_WATCH, as_of=TODAY, calendar=CALENDAR, resting={"panel"})
    # Casework is for a person to move pupils to, never proposed: Support is.
    assert (declined.proposal, declined.rested, declined.stage_key, declined.moved) == (
        "support",
        "panel",
        "watch",
        False,
    )
    assert declined.proposal_reasons == ("attendance 70.0% year to date, below 90%",)
    assert declined.rested_reasons == ("attendance 70.0% year to date, below 85% and at least 50%",)
    both = decide(RESTING_LADDER, seventy, AT_WATCH, as_of=TODAY, calendar=CALENDAR, resting={"panel", "support"})
    assert (both.proposal, both.rested) == (None, "panel")


def test_a_declined_move_up_proposes_nothing_once_no_approval_stage_is_left_between():
    forty = pupil(steady(4, 6))  # 40%: Legal; Panel's band (50% to 85%) does not hold
    declined = decide(RESTING_LADDER, forty, AT_WATCH, as_of=TODAY, calendar=CALENDAR, resting={"legal"})
    assert (declined.proposal, declined.rested) == ("support", "legal")
    at_support = CurrentPlacement("support", date(2025, 10, 1))
    nothing = decide(RESTING_LADDER, forty, at_support, as_of=TODAY, calendar=CALENDAR, resting={"legal"})
    assert (nothing.proposal, nothing.rested, nothing.stage_key) == (None, "legal", "support")


def test_on_a_first_placement_the_pupil_lands_and_the_next_approval_stage_is_proposed():
    seventy = pupil(steady(7, 3))
    decision = decide(RESTING_LADDER, seventy, None, as_of=TODAY, calendar=CALENDAR, resting={"panel"})
    assert (decision.stage_key, decision.moved, decision.proposal, decision.rested) == (
        "watch",
        True,
        "support",
        "panel",
    )


def test_a_resting_move_that_is_not_indicated_changes_nothing():
    seventy = pupil(steady(7, 3))
    assert decide(RESTING_LADDER, seventy, AT_WATCH, as_of=TODAY, calendar=CALENDAR, resting={"legal"}) == run(
        RESTING_LADDER, seventy, AT_WATCH
    )
