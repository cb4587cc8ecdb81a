"""Incremental nights decide exactly what full nights decide, night after night, whatever changes.

Two schools get identical pupils and registers; Ashby's nights are incremental
(only changed pupil-weeks recounted), Brook's are all full recounts. Day by day
the register grows, old marks are corrected, a pupil leaves, contacts are
logged, reviews are done and a proposal approved, in both. After every night
the two schools must hold the same placements, moves, tasks, letters,
proposals and weekly figures.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone

from interventions import nightly, selectors, selectors_lists, services
from interventions.ladder_format import validate_ladder
from interventions.models import NightlyRun, Placement, Proposal, PupilWeek, SchoolWeek, StageChange, Task
from interventions.rules import CurrentPlacement, Evaluator, LadderSpec, decide
from interventions.selectors import this_week_figures
from letters.models import Letter
from pupils.calendar import monday_of
from pupils.models import AttendanceMark, Flag, Pupil, School
from pupils.selectors import school_summaries
from pupils.services import school_calendar
from pupils.statistics import pct_as_printed
from tests.factories import PupilFactory, SchoolFactory

WALK_FROM = date(2025, 10, 13)  # two weeks before October half-term ...
WALK_TO = date(2025, 11, 28)  # ... to four weeks after it: windows jump and slide
YEAR_START = date(2025, 9, 1)

#: Every kind of criterion and window the engine knows, in one ladder.
RICH_LADDER: dict[str, Any] = {
    "key": "rich",
    "name": "Everything at once",
    "descent": {"sustain_weeks": 1, "margin": 0.5},
    "min_possible_sessions": 10,
    "stages": [
        {"key": "base", "name": "All well", "label": "OK"},
        {
            "key": "watch",
            "name": "Watch",
            "label": "W",
            "criteria": {
                "any": [
                    {"attendance": {"below": 97, "window": "half_term"}},
                    {"count": {"measure": "lates", "at_least": 3, "window": {"weeks": 2}}},
                    {"flag": "young_carer"},
                ]
            },
            "actions": [{"key": "chat", "title": "Chat with the pupil", "role": "class_teacher"}],
            "letters": ["first_reminder"],
            "review_every_weeks": 1,
        },
        {
            "key": "concern",
            "name": "Concern",
            "label": "C",
            "criteria": {
                "any": [
                    {"attendance": {"below": 93}},
                    {"held_for": {"weeks": 2, "criterion": {"attendance": {"at_most": 95, "window": {"weeks": 3}}}}},
                    {"count": {"measure": "unexplained", "at_least": 3, "window": "term"}},
                    {"no_contact": {"school_days": 3}},
                ]
            },
            "actions": [{"key": "call", "title": "Phone home", "role": "attendance_lead"}],
            "letters": ["second_warning"],
            "review_every_weeks": 1,
        },
        {
            "key": "pa",
            "name": "Persistent absence",
            "label": "PA",
            "criteria": {"any": [{"attendance": {"below": 88}}, {"bottom_percent": 5}]},
            "letters": ["formal_warning"],
        },
        {
            "key": "panel",
            "name": "Panel",
            "label": "P",
            "entry": "approval",
            "criteria": {
                "all": [
                    {"attendance": {"below": 85}},
                    {"not": {"count": {"measure": "illness", "at_least": 20, "window": "year"}}},
                ]
            },
        },
        {
            "key": "stuck",
            "name": "Stuck",
            "label": "S",
            "entry": "approval",
            "criteria": {"at_stage_for": {"weeks": 2, "without_improvement": True, "margin": 0.5}},
        },
        {
            "key": "getting-better",
            "name": "Getting better",
            "label": "GB",
            "track": "improving",
            "mirrors": "watch",
            "criteria": {"attendance": {"below": 97, "window": "half_term"}},
            "letters": ["congratulations"],
        },
    ],
}

# How each of the twelve pupils attends: absence rate, late rate, share of absences unexplained, and
# the day they start being off every day (their absence run, for no_contact), if any.
PATTERNS = [
    (0.0, 0.0, 0.0, None),
    (0.02, 0.0, 0.0, None),
    (0.04, 0.08, 0.0, None),
    (0.06, 0.0, 0.5, None),
    (0.09, 0.02, 0.2, None),
    (0.12, 0.0, 0.0, None),
    (0.18, 0.05, 0.3, None),
    (0.25, 0.0, 0.1, None),
    (0.4, 0.0, 0.0, None),
    (0.03, 0.0, 0.0, date(2025, 11, 19)),
    (0.3, 0.0, 0.0, "improves"),
    (0.0, 0.0, 0.0, "worsens"),
]


def _chance(*parts: object) -> float:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def code_for(index: int, day: date, session: int) -> str:
    absence, late, unexplained, special = PATTERNS[index]
    if special == "improves":
        absence = 0.3 if day < date(2025, 10, 20) else 0.0
    elif special == "worsens":
        absence = 0.0 if day < date(2025, 11, 3) else 0.5
    elif isinstance(special, date) and day >= special:
        return "O"
    if _chance(index, day, "day") < absence:
        return "N" if _chance(index, day, "why") < unexplained else ("I" if session == 0 else "O")
    if session == 0 and _chance(index, day, "late") < late:
        return "L"
    return "/" if session == 0 else "\\"


def mark_days(school: School, pupils: list[Pupil], start: date, end: date, *, stamped: Any) -> None:
    calendar = school_calendar(school)
    AttendanceMark.objects.bulk_create(
        [
            AttendanceMark(pupil=p, date=day, session=s, code=code_for(i, day, s), changed_at=stamped)
            for day in calendar.school_days(start, end)
            for i, p in enumerate(pupils)
            if p.leaving_on is None or day <= p.leaving_on
            for s in (0, 1)
        ]
    )


def build_school(urn: str, *, ladder: dict[str, Any] = RICH_LADDER, until: date) -> tuple[School, list[Pupil]]:
    """A school with the twelve pupils above and their registers from September up to `until`."""
    school = SchoolFactory(urn=urn, name=f"School {urn}")
    services.ladder_load(school=school, document=ladder, activate=True)
    pupils = [PupilFactory(school=school, surname=f"Pupil{i:02d}", forename="Test") for i in range(len(PATTERNS))]
    # Stamped well before any night, like a register imported yesterday.
    mark_days(school, pupils, YEAR_START, until, stamped=timezone.now() - timedelta(hours=1))
    Pupil.objects.filter(school=school).update(updated_at=timezone.now() - timedelta(hours=1))
    return school, pupils


def snapshot(school: School) -> dict[str, Any]:
    """Everything a night writes, with ids replaced by pupil surnames so two schools compare."""
    name = {p.pk: p.surname for p in Pupil.objects.filter(school=school)}
    return {
        "placements": sorted(
            (
                name[p.pupil_id],
                p.stage.key,
                p.since,
                p.improving_since,
                p.entry_attendance_pct,
                p.attendance_pct,
                p.attendance_change,
                p.lates_half_term,
                p.persistent,
                p.severe,
                tuple(p.reasons),
            )
            for p in Placement.objects.filter(pupil__school=school).select_related("stage")
        ),
        "changes": sorted(
            (
                name[c.pupil_id],
                c.from_stage.key if c.from_stage else "",
                c.to_stage.key,
                c.on,
                c.kind,
                tuple(c.reasons),
            )
            for c in StageChange.objects.filter(pupil__school=school).select_related("from_stage", "to_stage")
        ),
        "tasks": sorted(
            (name[t.pupil_id], t.template_key, t.kind, t.due_on, t.status, t.is_overdue)
            for t in Task.objects.filter(school=school)
        ),
        "letters": sorted(
            (name[x.pupil_id], x.template.key, x.stage_change.on if x.stage_change else None)
            for x in Letter.objects.filter(school=school).select_related("template", "stage_change")
        ),
        "proposals": sorted(
            (name[x.pupil_id], x.to_stage.key, x.status, x.proposed_on, tuple(x.reasons))
            for x in Proposal.objects.filter(pupil__school=school).select_related("to_stage")
        ),
        "weeks": list(
            SchoolWeek.objects.filter(school=school)
            .order_by("week_start")
            .values_list(
                "week_start",
                "attendance_pct",
                "persistent_absence_pct",
                "pupils",
                "year_attendance_pct",
                "severe_absence_pct",
            )
        ),
    }


def same_change_in_both(schools: list[tuple[School, list[Pupil]]], day: date, lead: Any) -> None:
    """What staff and the register do during `day`, done identically at both schools."""
    for school, pupils in schools:
        if day == date(2025, 10, 22):  # an old absence explained: N becomes I, weeks after it was marked
            mark = AttendanceMark.objects.filter(pupil=pupils[3], code="N").order_by("date").first()
            if mark is not None:
                mark.code, mark.changed_at = "I", timezone.now()
                mark.save(update_fields=["code", "changed_at"])
        if day == date(2025, 11, 5):  # a pupil leaves (their record changes, not their marks)
            pupils[7].leaving_on = date(2025, 11, 5)
            pupils[7].save()
        if day == date(2025, 11, 10):
            pupils[1].flags.add(Flag.objects.get(school=school, key="young_carer"))
        if day == date(2025, 11, 21):  # the absent pupil's family is reached
            services.action_log(pupil=pupils[9], user=lead, kind="phone_call", occurred_on=day, title="Rang mum")
        if day.weekday() == 2:  # Wednesdays: the lead does every review that has come due
            for task in Task.objects.filter(school=school, kind=Task.Kind.REVIEW, status="open", due_on__lte=day):
                services.task_complete(task=task, user=lead, outcome="Reviewed")
        if day == date(2025, 11, 12):
            for proposal in Proposal.objects.filter(pupil__school=school, status="pending").order_by("pupil__surname"):
                services.proposal_approve(proposal=proposal, user=lead, reason="Agreed", on=day)
                break


def test_incremental_nights_match_full_nights_day_after_day(db, django_user_model):
    lead = django_user_model.objects.create_user(username="lead")
    before = WALK_FROM - timedelta(days=1)
    ashby = build_school("300001", until=before)
    brook = build_school("300002", until=before)
    day = WALK_FROM
    recounted = {"incremental": 0, "full": 0}
    while day <= WALK_TO:
        for school, pupils in (ashby, brook):
            mark_days(school, list(pupils), day, day, stamped=timezone.now() - timedelta(minutes=30))
        same_change_in_both([ashby, brook], day, lead)
        a = nightly.nightly_run(school=ashby[0], as_of=day)
        b = nightly.nightly_run(school=brook[0], as_of=day, full=True)
        assert b.full
        recounted["incremental" if not a.full else "full"] += a.weeks_recounted
        recounted["full"] += b.weeks_recounted if not a.full else 0
        assert snapshot(ashby[0]) == snapshot(brook[0]), f"the schools differ after the night of {day}"
        day += timedelta(days=1)
    # It was really incremental: far fewer pupil-weeks recounted than by the full nights.
    assert NightlyRun.objects.filter(school=ashby[0], full=False, status="done").count() >= 30
    assert recounted["incremental"] * 4 < recounted["full"]
    # And something happened worth comparing.
    changes = snapshot(ashby[0])["changes"]
    assert len({c[2] for c in changes}) >= 4, changes
    assert any(t[1].startswith("review-") for t in snapshot(ashby[0])["tasks"])


def test_screening_out_the_steady_pupils_leaves_what_deciding_every_pupil_leaves(db, django_user_model, monkeypatch):
    """The night calls `decide` only for the pupils `screen.pupils_to_decide` names; deciding all changes nothing."""
    lead = django_user_model.objects.create_user(username="lead")
    before = WALK_FROM - timedelta(days=1)
    screened = build_school("300011", until=before)
    everyone = build_school("300012", until=before)
    decided = {"screened": 0, "everyone": 0}

    def counted(which: str) -> Any:
        def counting_decide(*args: Any, **kwargs: Any) -> Any:
            decided[which] += 1
            return decide(*args, **kwargs)

        return counting_decide

    day = WALK_FROM
    while day <= WALK_TO:
        for school, pupils in (screened, everyone):
            mark_days(school, list(pupils), day, day, stamped=timezone.now() - timedelta(minutes=30))
        same_change_in_both([screened, everyone], day, lead)
        with monkeypatch.context() as patch:
            patch.setattr(nightly, "decide", counted("screened"))
            nightly.nightly_run(school=screened[0], as_of=day)
        with monkeypatch.context() as patch:
            patch.setattr(nightly, "decide", counted("everyone"))
            patch.setattr(nightly, "pupils_to_decide", lambda **kwargs: None)
            nightly.nightly_run(school=everyone[0], as_of=day)
        assert snapshot(screened[0]) == snapshot(everyone[0]), f"the schools differ after the night of {day}"
        day += timedelta(days=1)
    # The screen really passed over pupils (these twelve are built to move a lot: at a real school
    # most pupils are steady), and the nights still moved pupils worth comparing.
    assert decided["screened"] < decided["everyone"] * 0.8, decided
    assert len({c[2] for c in snapshot(screened[0])["changes"]}) >= 4


def test_one_new_day_recounts_one_week_a_pupil(db):
    school, pupils = build_school("300003", until=date(2025, 11, 24))
    nightly.nightly_run(school=school, as_of=date(2025, 11, 24))
    mark_days(school, pupils, date(2025, 11, 25), date(2025, 11, 25), stamped=timezone.now() - timedelta(hours=1))
    run = nightly.nightly_run(school=school, as_of=date(2025, 11, 25))
    assert not run.full
    assert run.weeks_recounted == len(pupils)
    week = PupilWeek.objects.get(pupil=pupils[0], week_start=date(2025, 11, 24))
    assert (week.present, week.authorised + week.unauthorised) == (4, 0)


def test_full_option_and_a_new_ladder_recount_everything(db):
    school, pupils = build_school("300004", until=date(2025, 11, 24))
    first = nightly.nightly_run(school=school, as_of=date(2025, 11, 24))
    assert first.full and first.weeks_recounted > 10 * len(pupils)
    assert not nightly.nightly_run(school=school, as_of=date(2025, 11, 24)).full
    assert nightly.nightly_run(school=school, as_of=date(2025, 11, 24), full=True).full
    # Going back to an earlier night cannot build on later counts.
    assert nightly.nightly_run(school=school, as_of=date(2025, 11, 21)).full


@pytest.mark.parametrize("ladder_name", services.SHIPPED)
def test_merged_weeks_decide_exactly_as_single_weeks_for_every_shipped_ladder(db, ladder_name):
    """`night_facts` sums weeks between window cuts; every decision must come out as from single weeks."""
    school, pupils = build_school("3001" + str(services.SHIPPED.index(ladder_name)).zfill(2), until=WALK_TO)
    ladder, _ = services.ladder_load(school=school, document=services.ladder_file_read(ladder_name), activate=True)
    # One pupil leaves and one joins during the year: their marks count only while on roll.
    Pupil.objects.filter(pk=pupils[7].pk).update(leaving_on=date(2025, 11, 5))
    Pupil.objects.filter(pk=pupils[8].pk).update(start_on=date(2025, 10, 1))
    spec = selectors.ladder_spec(ladder)
    calendar = school_calendar(school)
    for as_of in [date(2025, 9, 12), date(2025, 10, 24), date(2025, 10, 29), date(2025, 11, 3), date(2025, 11, 26)]:
        nightly.pupil_weeks_refresh(school=school, start=YEAR_START, end=as_of, since=None)
        cuts = selectors.window_cuts(spec=spec, calendar=calendar, as_of=as_of)
        assert cuts is not None, f"{ladder_name}: a criterion the merge does not know"
        merged = selectors.night_facts(school=school, spec=spec, as_of=as_of, calendar=calendar)
        single = selectors.school_facts(school=school, spec=spec, as_of=as_of)
        assert max(len(f.running.mondays) for f in merged.facts.values()) <= len(cuts) + 1
        for pupil in pupils:
            if pupil.pk not in single.facts:
                continue
            for stage in [None, *spec.stages]:
                current = (
                    None
                    if stage is None
                    else CurrentPlacement(
                        stage_key=stage.key, since=as_of - timedelta(days=20), entry_attendance_pct=None
                    )
                )
                want = decide(spec, single.facts[pupil.pk], current, as_of=as_of, calendar=calendar)
                got = decide(spec, merged.facts[pupil.pk], current, as_of=as_of, calendar=calendar)
                assert got == want, (ladder_name, as_of, pupil.surname, stage)
            # And every stage action's `when` (whom a stage's task is for) holds alike.
            for stage in spec.stages:
                for key, when in stage.conditions:
                    want, got = (
                        Evaluator(f.facts[pupil.pk], calendar, as_of, spec.min_possible, None).check(when)
                        for f in (single, merged)
                    )
                    assert got == want, (ladder_name, as_of, pupil.surname, key)
            assert merged.year_to_date(pupil.pk, spec) == single.year_to_date(pupil.pk, spec)
            assert merged.facts[pupil.pk].attendance_rank_pct == single.facts[pupil.pk].attendance_rank_pct
        figures_merged = selectors.school_figures(
            facts=merged,
            spec=spec,
            weeks=selectors.school_week_figures(school=school, pupil_ids=sorted(merged.facts), as_of=as_of),
        )
        assert figures_merged == selectors.school_figures(facts=single, spec=spec)


def test_the_weekly_chart_from_any_week_on_is_the_whole_years_chart_from_that_week(db):
    """An incremental night redraws the chart from its first changed week: those weeks must come out the same."""
    school, pupils = build_school("300201", until=WALK_TO)
    Pupil.objects.filter(pk=pupils[8].pk).update(start_on=date(2025, 10, 1))  # joins: counted from October
    nightly.pupil_weeks_refresh(school=school, start=YEAR_START, end=WALK_TO, since=None)
    ids = sorted(p.pk for p in pupils)
    whole = selectors.school_week_figures(school=school, pupil_ids=ids, as_of=WALK_TO)
    assert len(whole) >= 12
    assert len({w.persistent_absence_pct for w in whole}) > 3  # pupils' standing changes along the year
    assert whole[0].pupils < whole[-1].pupils  # the joiner counts from their first week
    mondays = [w.week_start for w in whole]
    for since in [*mondays, date(2025, 10, 29), date(2025, 12, 1)]:  # and a midweek date, and a week to come
        got = selectors.school_week_figures(school=school, pupil_ids=ids, as_of=WALK_TO, since=since)
        assert got == [w for w in whole if w.week_start >= since], since


@pytest.mark.parametrize("ladder_name", ["rich", *services.SHIPPED])
def test_this_weeks_chart_row_from_the_running_totals_is_the_row_the_stored_weeks_give(db, ladder_name):
    """Most nights redraw only this week's row, from the night's facts: it must be the row SQL draws."""
    ladder = RICH_LADDER if ladder_name == "rich" else services.ladder_file_read(ladder_name)
    school, pupils = build_school("300202", ladder=ladder, until=WALK_TO)
    Pupil.objects.filter(pk=pupils[8].pk).update(start_on=date(2025, 10, 1))  # joins: counted from October
    Pupil.objects.filter(pk=pupils[7].pk).update(leaving_on=date(2025, 11, 5))  # leaves: off roll after
    ladder = services.active_ladder(school)
    spec = selectors.ladder_spec(ladder)
    calendar = school_calendar(school)
    nightly.pupil_weeks_refresh(school=school, start=YEAR_START, end=WALK_TO, since=None)
    # Mondays, midweeks, Fridays; the first week of the year; a half-term holiday with no marks.
    nights = [date(2025, 9, 3), date(2025, 9, 26), date(2025, 10, 13), date(2025, 10, 29), date(2025, 11, 5)]
    for as_of in [*nights, date(2025, 11, 17), date(2025, 11, 28)]:
        facts = selectors.night_facts(school=school, spec=spec, as_of=as_of, calendar=calendar)
        counted = selectors.chart_pupils(school=school, calendar=calendar, as_of=as_of)
        monday = as_of - timedelta(days=as_of.weekday())
        want = selectors.school_week_figures(school=school, pupil_ids=sorted(counted), as_of=as_of, since=monday)
        assert selectors.this_week_figures(facts, counted=counted) == want, as_of
        assert bool(want) is (as_of != date(2025, 10, 29)), as_of
        assert (pupils[7].pk in counted) and (pupils[7].pk in facts.facts) is (as_of <= date(2025, 11, 5))


def test_the_charts_persistent_absence_is_the_dfe_figure_the_absence_list_shows(db, monkeypatch):
    """Leavers count up to their leaving day, as on the absence-by-group page; and stay in the weeks they were here."""
    school, pupils = build_school("300203", until=WALK_TO)
    # Severely absent: every afternoon missed, and some mornings.
    AttendanceMark.objects.filter(pupil=pupils[8], session=AttendanceMark.Session.PM).update(code="N")
    # A Reception child, 4 on 31 August: below compulsory school age, so in neither figure (nor the national ones).
    reception = PupilFactory(school=school, date_of_birth=date(2021, 3, 1))
    mark_days(school, [reception], YEAR_START, WALK_TO, stamped=timezone.now() - timedelta(hours=1))
    Pupil.objects.filter(pk=reception.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    before_leaving = date(2025, 11, 4)
    nightly.nightly_run(school=school, as_of=before_leaving)
    charted_then = {
        w.week_start: (w.pupils, w.persistent_absence_pct) for w in SchoolWeek.objects.filter(school=school)
    }
    # A persistently absent pupil (25% absent) and a steady one leave.
    Pupil.objects.filter(pk__in=[pupils[7].pk, pupils[1].pk]).update(
        leaving_on=date(2025, 11, 5), updated_at=timezone.now()
    )
    this_week_rows = []
    monkeypatch.setattr(
        nightly, "this_week_figures", lambda facts, **kw: this_week_rows.append(kw) or this_week_figures(facts, **kw)
    )
    # A night that redraws the year (records changed), then, once that is in the past, one that adds this week's row.
    for as_of in (date(2025, 11, 26), WALK_TO):
        run = nightly.nightly_run(school=school, as_of=as_of)
        Pupil.objects.filter(school=school).update(updated_at=run.changes_cutoff - timedelta(minutes=1))
        whole = selectors_lists.absence_by_group(
            school=school, pupils=Pupil.objects.filter(school=school), start=YEAR_START, end=as_of
        )[0].rows[0]
        latest = SchoolWeek.objects.filter(school=school).latest("week_start")
        assert latest.week_start == monday_of(as_of)
        assert (latest.pupils, latest.persistent_absence_pct) == (whole.pupils, pct_as_printed(whole.persistent_pct))
        assert latest.severe_absence_pct == pct_as_printed(whole.severe_pct), whole.severe
        # The year's attendance over the same enrolments, from the register: every session each was here for.
        year = sum(
            school_summaries(school=school, start=YEAR_START, end=as_of, pupil_ids=[p.pk for p in pupils]).values()
        )
        assert latest.year_attendance_pct == pct_as_printed(year.attendance_pct)
        assert whole.pupils == len(pupils) and 0 < whole.persistent < whole.pupils
        assert 0 < whole.severe < whole.persistent, "a severely absent pupil among them"
    assert len(this_week_rows) == 1  # only the second night
    assert this_week_rows[0]["counted"] == {p.pk for p in pupils}  # the leavers too; not the Reception child

    charted_now = {w.week_start: (w.pupils, w.persistent_absence_pct) for w in SchoolWeek.objects.filter(school=school)}
    assert {m: charted_now[m] for m in charted_then if m < monday_of(before_leaving)} == {
        m: v for m, v in charted_then.items() if m < monday_of(before_leaving)
    }


def test_a_pupil_whose_corrected_start_takes_them_off_every_week_leaves_the_whole_chart(db):
    """Neither night had them on roll, so only their changed record says the chart must be redrawn."""
    school, pupils = build_school("300202", until=date(2025, 11, 24))
    nightly.nightly_run(school=school, as_of=date(2025, 11, 24))
    wrongly_entered = pupils[8]
    Pupil.objects.filter(pk=wrongly_entered.pk).update(start_on=date(2026, 1, 5), updated_at=timezone.now())
    others = [p for p in pupils if p != wrongly_entered]
    mark_days(school, others, date(2025, 11, 25), date(2025, 11, 25), stamped=timezone.now() - timedelta(minutes=30))

    assert not nightly.nightly_run(school=school, as_of=date(2025, 11, 25)).full

    whole = selectors.school_week_figures(school=school, pupil_ids=[p.pk for p in others], as_of=date(2025, 11, 25))
    stored = SchoolWeek.objects.filter(school=school).order_by("week_start")
    assert [(w.week_start, w.pupils, w.persistent_absence_pct) for w in stored] == [
        (w.week_start, w.pupils, pct_as_printed(w.persistent_absence_pct)) for w in whole
    ]
    assert {w.pupils for w in stored} == {len(others)}


def test_a_full_night_finds_a_silent_correction_and_redraws_the_chart_from_its_week(db):
    """A mark changed without its `changed_at` (as a raw database fix would) is caught by the full recount:
    the stored counts and the weekly chart from that week on come out as a first night on the same register."""

    def correct(school: School) -> None:  # a week of pupil 0's, present every session until now
        week = AttendanceMark.objects.filter(pupil__school=school, pupil__surname="Pupil00")
        assert week.filter(date__gte=date(2025, 10, 6), date__lte=date(2025, 10, 10)).update(code="O") == 10

    school, pupils = build_school("300203", until=date(2025, 11, 24))
    nightly.nightly_run(school=school, as_of=date(2025, 11, 24))
    chart_before = snapshot(school)["weeks"]
    correct(school)
    mark_days(school, pupils, date(2025, 11, 25), date(2025, 11, 25), stamped=timezone.now() - timedelta(minutes=30))
    assert nightly.nightly_run(school=school, as_of=date(2025, 11, 25), full=True).full

    twin, twins = build_school("300204", until=date(2025, 11, 24))
    correct(twin)
    mark_days(twin, twins, date(2025, 11, 25), date(2025, 11, 25), stamped=timezone.now() - timedelta(minutes=30))
    nightly.nightly_run(school=twin, as_of=date(2025, 11, 25))  # its first: the whole chart drawn afresh
    assert snapshot(school)["weeks"] == snapshot(twin)["weeks"]
    changed = [was[0] for was, now in zip(chart_before, snapshot(school)["weeks"], strict=False) if was != now]
    assert changed[0] == date(2025, 10, 6), changed
    assert PupilWeek.objects.get(pupil=pupils[0], week_start=date(2025, 10, 6)).unauthorised == 10


def test_the_rich_ladder_is_valid():
    assert services.ladder_check(school=None, document=RICH_LADDER).ok


def test_the_night_reads_back_as_far_as_an_actions_when_looks_and_cuts_its_weeks_where_it_does():
    """A window only a `when` uses (12 school weeks, from early October back over the summer) must be
    among the weeks the night reads and the cuts it merges weeks at, or the condition sees wrong totals."""
    from pupils.calendar import calendar_from, england_default_half_terms

    document = {
        "key": "w",
        "name": "W",
        "stages": [
            {"key": "base", "name": "Base"},
            {
                "key": "watch",
                "name": "Watch",
                "criteria": {"attendance": {"below": 95}},
                "actions": [
                    {
                        "key": "call",
                        "title": "Call",
                        "when": {"count": {"measure": "unauthorised", "at_least": 4, "window": {"weeks": 12}}},
                    }
                ],
            },
        ],
    }
    spec = LadderSpec.from_document(validate_ladder(document).resolved)
    calendar = calendar_from(england_default_half_terms(2024) + england_default_half_terms(2025))
    as_of = date(2025, 10, 1)
    first, _ = calendar.school_weeks_back(as_of, 12)
    assert first < date(2025, 9, 1)  # the twelve school weeks reach back into the summer term
    assert selectors.facts_window_start(spec=spec, calendar=calendar, as_of=as_of) <= first
    assert first in selectors.window_cuts(spec=spec, calendar=calendar, as_of=as_of)
