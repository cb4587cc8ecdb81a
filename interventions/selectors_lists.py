"""Reads for the senior leaders' lists: escalations, referrals, absence by pupil group, the penalty-notice
threshold. Never write.

Each list is a fixed number of queries whatever the number of pupils.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, F, Min, Q, QuerySet
from django.template.defaultfilters import pluralize

from pupils.calendar import SchoolCalendar
from pupils.codes import (
    COMPULSORY_AGES,
    PENALTY_CODES,
    PENALTY_SESSIONS,
    PENALTY_WEEKS,
    age_on,
    is_compulsory_school_age,
    school_year_age_date,
)
from pupils.flags import SEN_STATUS_FLAGS, held
from pupils.models import Flag, Pupil, RegistrationGroup, School, YearGroup
from pupils.people import person_name
from pupils.selectors import pupils_on_roll_between, school_summaries
from pupils.statistics import AttendanceSummary

from .models import ActionLog, Ladder, Placement, Referral, Stage, StageChange

# --- escalations ------------------------------------------------------------------


def stage_levels(stages: Iterable[Stage]) -> dict[int, int]:
    """Stage id -> level of concern. An improving stage sits at the level of the falling stage it mirrors."""
    stages = list(stages)
    by_key = {s.key: s for s in stages}
    levels = {}
    for stage in stages:
        mirrored = by_key.get(stage.extra.get("mirrors") or "") if stage.track == "improving" else None
        levels[stage.pk] = mirrored.position if mirrored else stage.position
    return levels


@dataclass
class Escalation:
    change: StageChange
    actions: list[ActionLog]

    @property
    def acted(self) -> str:
        """Who moved the pupil: a person, or the nightly run."""
        return person_name(self.change.decided_by) or "Nightly run"


def escalation_list(
    *,
    ladder: Ladder,
    pupils: QuerySet[Pupil],
    start: date,
    end: date,
    stage: Stage | None = None,
    registration_group: RegistrationGroup | None = None,
    year_group: YearGroup | None = None,
) -> list[Escalation]:
    """Moves up the ladder (to a higher level of concern) between start and end, newest first.

    A pupil's first placement counts when it came after the ladder's first
    night (a pupil who joined, or came back on roll) and put them above the
    lowest level: that is concern newly raised. The first night's placements
    of the whole school are not moves. Four queries.
    """
    levels = stage_levels(ladder.stages.all())
    lowest = min(levels.values(), default=0)
    first_night = _first_night(ladder)
    if first_night is None:
        return []
    changes = (
        StageChange.objects.filter(ladder=ladder, pupil__in=pupils, on__gte=start, on__lte=end)
        .filter(Q(from_stage__isnull=False) | Q(on__gt=first_night))
        .exclude(kind=StageChange.Kind.KEPT)  # kept where they stood when the ladder replaced another
    )
    changes = _moved_to(changes, stage=stage, registration_group=registration_group, year_group=year_group)
    rows = [
        change
        for change in changes.select_related(
            "pupil", "pupil__registration_group", "pupil__year_group", "from_stage", "to_stage", "decided_by"
        ).order_by("-on", "-created_at", "pupil__surname")
        if levels.get(change.to_stage_id, lowest) > levels.get(change.from_stage_id, lowest)
    ]
    if not rows:
        return []
    actions: dict[int, list[ActionLog]] = defaultdict(list)
    logged = (
        ActionLog.objects.filter(pupil__in=changes.values("pupil_id"), occurred_on__gte=min(c.on for c in rows))
        .select_related("by")
        .annotate(corrected=Count("corrections"))  # said so beside it: what it said at first is on the pupil's page
    )
    for action in logged.order_by("occurred_on", "created_at"):
        actions[action.pupil_id].append(action)
    return [Escalation(change=c, actions=[a for a in actions[c.pupil_id] if _after(a, c)]) for c in rows]


def _after(action: ActionLog, change: StageChange) -> bool:
    """Was the action taken after the move? A night's move of day D is made after D's register closes, so
    that day's actions came before it; a person's move counts from the moment they made it."""
    if action.occurred_on != change.on:
        return action.occurred_on > change.on
    return change.kind not in StageChange.BY_THE_NIGHT and action.created_at >= change.created_at


@dataclass(frozen=True)
class FirstNight:
    """The ladder's first night, when it placed the whole school: not escalations, but worth saying."""

    on: date
    placed: int


def first_night_between(
    *,
    ladder: Ladder,
    pupils: QuerySet[Pupil],
    start: date,
    end: date,
    stage: Stage | None = None,
    registration_group: RegistrationGroup | None = None,
    year_group: YearGroup | None = None,
) -> FirstNight | None:
    """The ladder's first night, if it falls in [start, end], with how many of these pupils it placed
    (at `stage`, in the class or year group, as the escalations list is filtered)."""
    on = _first_night(ladder)
    if on is None or not start <= on <= end:
        return None
    placed = _moved_to(
        StageChange.objects.filter(ladder=ladder, kind=StageChange.Kind.INITIAL, on=on, pupil__in=pupils),
        stage=stage,
        registration_group=registration_group,
        year_group=year_group,
    )
    return FirstNight(on=on, placed=placed.count())


def _first_night(ladder: Ladder) -> date | None:
    """The day the ladder first placed pupils: its first night, or the day it kept the pupils of the ladder it
    replaced (not a hand move someone made before either)."""
    placed = StageChange.objects.filter(ladder=ladder, kind__in=StageChange.PLACED_NOT_MOVED)
    return placed.aggregate(on=Min("on"))["on"]


def _moved_to(
    changes: QuerySet[StageChange],
    *,
    stage: Stage | None,
    registration_group: RegistrationGroup | None,
    year_group: YearGroup | None,
) -> QuerySet[StageChange]:
    """Stage changes to `stage`, of pupils in the class or year group: the escalations list's filters."""
    if stage is not None:
        changes = changes.filter(to_stage=stage)
    if registration_group is not None:
        changes = changes.filter(pupil__registration_group=registration_group)
    if year_group is not None:
        changes = changes.filter(pupil__year_group=year_group)
    return changes


# --- referrals --------------------------------------------------------------------

#: Referrals still in hand: being considered, made and waiting, or accepted and running.
OPEN_STATUSES = (Referral.Status.CONSIDERING, Referral.Status.MADE, Referral.Status.ACCEPTED)


def referral_list(*, school: School, pupils: QuerySet[Pupil], status: str = "", to: str = "") -> QuerySet[Referral]:
    """The school's referrals for these pupils, newest first, with what a row shows, in one query.

    `status` "open" means any status still in hand (see OPEN_STATUSES).
    """
    referrals = Referral.objects.filter(school=school, pupil__in=pupils)
    if status == "open":
        referrals = referrals.filter(status__in=OPEN_STATUSES)
    elif status:
        referrals = referrals.filter(status=status)
    if to:
        referrals = referrals.filter(to=to)
    return referrals.select_related("pupil", "pupil__registration_group", "by").order_by("-made_on", "-pk")


def referral_counts(*, school: School, pupils: QuerySet[Pupil]) -> dict[str, int]:
    """How many referrals there are in each status, and how many are open. One query."""
    counts = dict(
        Referral.objects.filter(school=school, pupil__in=pupils)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    counts["open"] = sum(counts.get(s, 0) for s in OPEN_STATUSES)
    return counts


# --- persistent and severe absence by group ------------------------------------------

#: Below this many pupils a group's rate moves a lot with one pupil: the page says so.
SMALL_GROUP = 5


@dataclass
class GroupRow:
    name: str
    pupils: int = 0
    persistent: int = 0
    severe: int = 0
    note: str = ""
    #: The persistent absence rate this row is set against, and what it is ("national", "whole school").
    compared_pct: Decimal | None = None
    compared_with: str = ""
    #: Names the row in a link to the pupils behind it ("year-9", "sen-K", "flag-fsm", "whole").
    key: str = ""
    #: The persistently absent pupils the row counts, with the figures it counted them by: the list it opens.
    persistent_summaries: dict[int, AttendanceSummary] = field(default_factory=dict)

    @property
    def persistent_pct(self) -> Decimal | None:
        return Decimal(self.persistent * 100) / self.pupils if self.pupils else None

    @property
    def severe_pct(self) -> Decimal | None:
        return Decimal(self.severe * 100) / self.pupils if self.pupils else None

    @property
    def against(self) -> Decimal | None:
        """Points above (positive) or below the persistent absence rate the row is compared with."""
        if self.persistent_pct is None or self.compared_pct is None:
            return None
        return self.persistent_pct - self.compared_pct

    @property
    def small(self) -> bool:
        return 0 < self.pupils < SMALL_GROUP

    def add(self, pupil_id: int, summary: AttendanceSummary) -> None:
        self.pupils += 1
        self.persistent += summary.persistent
        self.severe += summary.severe
        if summary.persistent:
            self.persistent_summaries[pupil_id] = summary


@dataclass
class GroupTable:
    heading: str
    rows: list[GroupRow]


def absence_by_group(
    *, school: School, pupils: QuerySet[Pupil], start: date, end: date, national_pct: Decimal | None = None
) -> list[GroupTable]:
    """Persistent (≥10%) and severe (≥50%) absence over [start, end], whole school and by group.

    The DfE method: each enrolment on roll in the window with possible sessions counts once, against
    its own possible sessions, and the cohort is pupils of compulsory school age (5 to 15 on the
    31 August before the school year; attendance-rules.md section 2). So the whole school, SEN and
    flag rows count that cohort, and the whole school is compared with `national_pct`, the national
    rate for the same cohort. Year group rows count every pupil in the year, so Reception has its
    figures, and say how many are outside the cohort. Each group is compared with the whole school:
    a national rate for all pupils says nothing about one group. Five queries whatever the number of pupils.
    """
    summaries = school_summaries(school=school, start=start, end=end)
    on_roll = pupils & pupils_on_roll_between(school=school, start=start, end=end)
    facts = list(on_roll.order_by().values_list("pk", "year_group_id", "sen", "date_of_birth"))
    given: dict[int, set[str]] = defaultdict(set)
    for pupil_id, key in Pupil.flags.through.objects.filter(pupil__in=on_roll).values_list("pupil_id", "flag__key"):
        given[pupil_id].add(key)
    # As the ladder sees them: SEN support and EHCP from the pupil's SEN status too.
    flag_ids = {pupil_id: held(given.get(pupil_id, ()), sen=sen) for pupil_id, _, sen, _ in facts}
    year_groups = list(YearGroup.objects.filter(school=school).order_by("position"))
    flags = sorted(Flag.objects.filter(school=school), key=lambda f: (f.key != "fsm", not f.is_standard, f.name))

    whole = GroupRow(
        "All pupils of compulsory school age", compared_pct=national_pct, compared_with="national", key="whole"
    )
    by_year = {y.pk: GroupRow(y.name, key=f"year-{y.code}") for y in year_groups}  # "year-R", "year-9"
    by_sen = {value: GroupRow(label, key=f"sen-{value}") for value, label in Pupil.Sen.choices}
    by_flag = {f.key: GroupRow(f.name, key=f"flag-{f.key}") for f in flags}
    outside: dict[int, list[str]] = defaultdict(list)  # year group -> "below" / "above" compulsory school age
    for pupil_id, year_group_id, sen, born in facts:
        summary = summaries.get(pupil_id)
        if summary is None or summary.possible == 0:
            continue  # no possible sessions in the window: not in the DfE denominator
        by_year[year_group_id].add(pupil_id, summary)
        if not is_compulsory_school_age(born, end):
            outside[year_group_id].append(
                "below" if age_on(born, school_year_age_date(end)) < COMPULSORY_AGES[0] else "above"
            )
            continue
        whole.add(pupil_id, summary)
        by_sen[sen].add(pupil_id, summary)
        for key in flag_ids[pupil_id] & by_flag.keys():
            by_flag[key].add(pupil_id, summary)
    for year_group_id, sides in outside.items():
        counted = ", ".join(
            f"{sides.count(side)} pupil{pluralize(sides.count(side))} {side}"
            for side in ("below", "above")
            if side in sides
        )
        by_year[year_group_id].note = f"{counted} compulsory school age: not in the whole-school, SEN or group figures"
    anyone = {key for keys in flag_ids.values() for key in keys}  # held by any pupil on roll, of any age
    for flag in flags:
        if flag.key == "fsm" and flag.key not in anyone:
            by_flag[flag.key].note = "FSM is not held for any pupil"
        if flag.key in SEN_STATUS_FLAGS.values():
            by_flag[flag.key].note = "pupils given this flag, and pupils with this SEN status"
    groups = [*by_year.values(), *by_sen.values(), *by_flag.values()]
    for row in groups:
        row.compared_pct, row.compared_with = whole.persistent_pct, "whole school"
    return [
        GroupTable("Whole school", [whole]),
        GroupTable("By year group", [row for row in by_year.values() if row.pupils]),
        GroupTable("By SEN status", list(by_sen.values())),
        GroupTable("By pupil group (flags)", list(by_flag.values())),
    ]


@dataclass(frozen=True)
class AbsentPupil:
    """One persistently absent pupil behind a row of `absence_by_group`, with their year's figures."""

    pupil: Pupil
    summary: AttendanceSummary
    stage: Stage | None  # where they stand on the school's active ladder: what support there is


def group_row(tables: list[GroupTable], key: str) -> GroupRow | None:
    """The row of `absence_by_group`'s tables named `key`, or None if there is none."""
    return next((row for table in tables for row in table.rows if row.key == key), None)


def persistently_absent(*, row: GroupRow, pupils: QuerySet[Pupil]) -> list[AbsentPupil]:
    """The persistently absent pupils a row of `absence_by_group` counts, with the figures it counted them
    by, lowest attendance first: who the rate is. Two queries, however many pupils."""
    found = pupils.filter(pk__in=list(row.persistent_summaries)).select_related("registration_group", "year_group")
    stages = _stages_now(list(row.persistent_summaries))
    rows = [AbsentPupil(pupil, row.persistent_summaries[pupil.pk], stages.get(pupil.pk)) for pupil in found]
    rows.sort(key=lambda r: (r.summary.attendance_pct, r.pupil.surname, r.pupil.forename, r.pupil.pk))
    return rows


def _stages_now(pupil_ids: list[int]) -> dict[int, Stage]:
    """Where each pupil stands on their school's active ladder: what support there is. One query."""
    placements = Placement.objects.filter(pupil__in=pupil_ids, ladder__is_active=True).select_related("stage")
    return {placement.pupil_id: placement.stage for placement in placements}


# --- the penalty-notice threshold --------------------------------------------------


@dataclass(frozen=True)
class PenaltyRow:
    pupil: Pupil
    sessions: int  # sessions with a penalty code in the window
    last_referral: Referral | None  # the latest penalty-notice referral recorded, if any
    stage: Stage | None = None  # where the pupil stands on the school's active ladder: what support has been tried


@dataclass(frozen=True)
class PenaltyList:
    start: date  # the window: the last PENALTY_WEEKS school weeks, to the last register closed
    end: date
    rows: list[PenaltyRow]


def penalty_threshold_list(*, pupils: QuerySet[Pupil], calendar: SchoolCalendar, today: date) -> PenaltyList:
    """Pupils of compulsory school age on roll today at the penalty-notice threshold (`codes.PENALTY_SESSIONS`
    or more sessions coded `codes.PENALTY_CODES` within the last `codes.PENALTY_WEEKS` school weeks), most
    sessions first.

    The weeks run to the end of yesterday, the last register the night closed, as the ladder's own count
    does: read on a Monday morning, the list counts the ten school weeks to Friday, not a week of which
    nothing is marked yet. Counts only sessions while each pupil was on roll, as
    `statistics.unauthorised_in_school_weeks` does for one pupil. Four queries, however many pupils.
    """
    closed = today - timedelta(days=1)
    start, end = calendar.school_weeks_back(closed, PENALTY_WEEKS)
    end = min(end, closed)
    on_roll_today = pupils.filter(Q(leaving_on__isnull=True) | Q(leaving_on__gte=today), start_on__lte=today)
    counts = (
        # One filter(): the conditions on marks must hold of the same mark (separate calls would join twice).
        on_roll_today.filter(
            Q(leaving_on__isnull=True) | Q(marks__date__lte=F("leaving_on")),
            marks__date__range=(start, end),
            marks__code__in=PENALTY_CODES,
            marks__date__gte=F("start_on"),
        )
        .annotate(sessions=Count("marks"))
        .filter(sessions__gte=PENALTY_SESSIONS)
        .select_related("registration_group")
        .order_by("-sessions", "surname", "forename")
    )
    found = [pupil for pupil in counts if is_compulsory_school_age(pupil.date_of_birth, end)]
    referrals: dict[int, Referral] = {}
    for referral in Referral.objects.filter(pupil__in=[p.pk for p in found], to=Referral.To.PENALTY_NOTICE).order_by(
        "made_on", "pk"
    ):
        referrals[referral.pupil_id] = referral  # the latest last
    stages = _stages_now([p.pk for p in found])
    rows = [PenaltyRow(pupil, pupil.sessions, referrals.get(pupil.pk), stages.get(pupil.pk)) for pupil in found]
    return PenaltyList(start, end, rows)
