"""The ladder engine: which stage a pupil should be at, and why. Plain Python.

`decide(ladder, facts, placement, as_of=..., calendar=...)` is a pure function:
no database, no clock. The nightly service builds `PupilFacts` from the
register (set-based), calls `decide` for every pupil, and saves the result.
The rules it follows are written down in `docs/ladder-format.md`.
"""

from __future__ import annotations

import bisect
import functools
import operator
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pupils import flags
from pupils.calendar import SchoolCalendar, monday_of
from pupils.statistics import ABSENT_COUNTS, COUNTED_CODES, LATE_COUNTS, AttendanceSummary

#: Every count measure a ladder may use, and what it counts in words: (one, more than one). The
#: reasons the engine gives and the ladder page's account of a criterion both word a count by it.
MEASURE_LABELS = {
    "lates": ("late", "lates"),
    "late_before_close": ("late before registers closed (L)", "lates before registers closed (L)"),
    "late_after_close": ("late after registers closed (U)", "lates after registers closed (U)"),
    "unauthorised": ("unauthorised absence session", "unauthorised absence sessions"),
    "unexplained": ("unexplained absence session (N)", "unexplained absence sessions (N)"),
    "illness": ("illness session", "illness sessions"),
    "holiday": ("holiday session", "holiday sessions"),
    "authorised": ("authorised absence session", "authorised absence sessions"),
    "absence": ("absence session", "absence sessions"),
    "consecutive_days_absent": ("school day absent in a row", "school days absent in a row"),
    "consecutive_days_unauthorised": (
        "school day of unauthorised absence in a row",
        "school days of unauthorised absence in a row",
    ),
}

#: The count measures that are a current run of days, not a window's count: the PupilFacts field each reads.
RUN_MEASURES = {
    "consecutive_days_absent": "absence_run_days",
    "consecutive_days_unauthorised": "unauthorised_run_days",
}


#: The count measures that add up more than one of a summary's counts; every other measure is one count.
MEASURE_PARTS = {
    "lates": LATE_COUNTS,  # DfE "late sessions": L plus U
    "absence": ABSENT_COUNTS,  # overall absence
}


def measure(summary: AttendanceSummary, name: str) -> int:
    """A count measure of the ladder format, read off a summary."""
    return sum(getattr(summary, part) for part in MEASURE_PARTS.get(name, (name,)))


#: The flag the engine itself gives a pupil of compulsory school age (`pupils.codes.is_compulsory_school_age`),
#: beside the school's own flags: legal stages test it, as penalty notices and prosecution are only for
#: the parents of children of compulsory school age.
COMPULSORY_SCHOOL_AGE = "compulsory_school_age"


def flag_words(key: str, names: Mapping[str, str] | None = None) -> str:
    """A flag criterion, met, in staff's words: "flagged “Young carer”", or "of compulsory school age".

    `names` are the school's names for its flags; the standard flags' names are known without them.
    """
    if key == COMPULSORY_SCHOOL_AGE:  # the engine's own fact, not a flag anyone sets
        return "of compulsory school age"
    name = (names or {}).get(key) or flags.STANDARD.get(key) or key.replace("_", " ")
    return f"flagged “{name}”"


def only_flags(criterion: Mapping[str, Any]) -> bool:
    """Whether a criterion tests flags alone (whom a stage is for), not anything the register measures."""
    ((kind, body),) = criterion.items()
    if kind in ("all", "any"):
        return all(only_flags(child) for child in body)
    if kind == "not":
        return only_flags(body)
    return kind == "flag"


#: A summary's counts in a fixed order (the order of `pupils.statistics.COUNTED_CODES`).
COUNT_FIELDS = tuple(COUNTED_CODES)


@dataclass(frozen=True)
class RunningTotals:
    """One pupil's counts added up week by week (or bucket by bucket), so that any window is one subtraction.

    `mondays[k]` is the first Monday of the pupil's k-th stored week or bucket,
    ascending; `running[k]` is the counts (in `COUNT_FIELDS` order) of every
    week or bucket up to and including the k-th. A window over whole weeks or
    buckets [first, last] is then `running[last] - running[before first]`, two
    lookups however long the window is.
    """

    mondays: Sequence[date]
    running: Sequence[tuple[int, ...]]
    session_minutes: int

    @classmethod
    def of(cls, weeks: Sequence[tuple[date, Sequence[int]]], session_minutes: int) -> RunningTotals:
        """From (first Monday, counts in `COUNT_FIELDS` order) of each week or bucket, in Monday order."""
        mondays: list[date] = []
        running: list[tuple[int, ...]] = []
        for monday, counts in weeks:
            counts = tuple(map(int, counts))
            mondays.append(monday)
            running.append(tuple(map(operator.add, running[-1], counts)) if running else counts)
        return cls(mondays, running, session_minutes)

    def between(self, first: date, last: date) -> AttendanceSummary:
        """The summary of the weeks or buckets whose first Monday is in [first, last]."""
        counts = self.counts_between(first, last)
        if counts is None:
            return AttendanceSummary()
        return AttendanceSummary(**dict(zip(COUNT_FIELDS, counts, strict=True)), session_minutes=self.session_minutes)

    def counts_between(self, first: date, last: date) -> tuple[int, ...] | None:
        """The counts (in `COUNT_FIELDS` order) of the weeks or buckets whose first Monday is in [first, last].

        None if there are none.
        """
        mondays = self.mondays
        upper = bisect.bisect_right(mondays, last) - 1
        lower = bisect.bisect_left(mondays, first) - 1
        if upper <= lower:
            return None
        top = self.running[upper]
        return top if lower < 0 else tuple(map(operator.sub, top, self.running[lower]))


@dataclass(frozen=True)
class PupilFacts:
    """Everything the engine may know about one pupil, as plain data."""

    pupil_id: int
    weeks: Mapping[date, AttendanceSummary]  # Monday -> that week's counts, on roll only
    # Or the same counts added up as they go (how the night reads them): windows are then read off these.
    running: RunningTotals | None = None
    flags: frozenset[str] = frozenset()
    absence_run_days: int = 0
    absence_run_started_on: date | None = None
    unauthorised_run_days: int = 0
    last_family_contact_on: date | None = None
    # Percentage of eligible pupils in the school at or below this pupil's year-to-date attendance.
    attendance_rank_pct: float | None = None
    # Window totals already added up, by (first Monday, last Monday): shared by every
    # Evaluator of this pupil (ranks, both decisions, figures), so each is summed once.
    totals_cache: dict[tuple[date, date], AttendanceSummary] = field(
        default_factory=dict, compare=False, repr=False, hash=False
    )


@dataclass(frozen=True)
class CurrentPlacement:
    stage_key: str
    since: date
    entry_attendance_pct: Decimal | None = None
    improving_since: date | None = None


@dataclass(frozen=True)
class StageSpec:
    key: str
    name: str
    position: int
    level: int
    track: str
    entry: str
    criteria: dict[str, Any] | None
    #: Each stage action's and letter's `when`, by action key or "letter:" and the letter's key: the task is
    #: given, and the letter queued, only for a pupil it holds for.
    conditions: tuple[tuple[str, dict[str, Any]], ...] = ()

    @property
    def every_criterion(self) -> tuple[dict[str, Any], ...]:
        """The stage's criteria and its actions' conditions: everything the engine may evaluate for it."""
        return tuple(c for c in (self.criteria, *(when for _, when in self.conditions)) if c)


@dataclass(frozen=True)
class LadderSpec:
    key: str
    stages: tuple[StageSpec, ...]
    min_possible: int
    sustain_weeks: int
    margin: Decimal

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> LadderSpec:
        """Build from a validated, resolved ladder document (see `ladder_format.validate_ladder`)."""
        falling_levels: dict[str, int] = {}
        specs = []
        for stage in doc["stages"]:
            if stage.get("track", "falling") == "falling":
                falling_levels[stage["key"]] = len(falling_levels)
        for position, stage in enumerate(doc["stages"]):
            track = stage.get("track", "falling")
            level = falling_levels[stage["key"]] if track == "falling" else falling_levels[stage["mirrors"]]
            specs.append(
                StageSpec(
                    key=stage["key"],
                    name=stage["name"],
                    position=position,
                    level=level,
                    track=track,
                    entry=stage.get("entry", "automatic"),
                    criteria=stage.get("criteria"),
                    conditions=(
                        *((a["key"], a["when"]) for a in stage.get("actions", []) if a.get("when")),
                        *((f"letter:{key}", when) for key, when in stage_letters(stage) if when),
                    ),
                )
            )
        descent = doc.get("descent") or {}
        return cls(
            key=doc["key"],
            stages=tuple(specs),
            min_possible=int(doc.get("min_possible_sessions", 20)),
            sustain_weeks=int(descent.get("sustain_weeks", 4)),
            margin=Decimal(str(descent.get("margin", 1.0))),
        )

    @property
    def base(self) -> StageSpec:
        return self.stages[0]

    def stage(self, key: str) -> StageSpec:
        for s in self.stages:
            if s.key == key:
                return s
        raise KeyError(key)

    @functools.cached_property
    def falling(self) -> tuple[StageSpec, ...]:
        return tuple(s for s in self.stages if s.track == "falling")

    @functools.cached_property
    def improving(self) -> tuple[StageSpec, ...]:
        return tuple(s for s in self.stages if s.track == "improving")


@dataclass(frozen=True)
class Decision:
    """What the night should do for one pupil.

    `stage_key` is where the pupil stands after tonight; `moved` says whether
    that is a change (an automatic move, or the first placement); `proposal`
    names a stage a person must approve. `reasons` are plain sentences.
    """

    stage_key: str
    moved: bool
    reasons: tuple[str, ...]
    proposal: str | None = None
    proposal_reasons: tuple[str, ...] = ()
    improving_since: date | None = None
    indicated_key: str = ""
    #: The move the data points to that a person declined lately (`decide`'s `resting`): not proposed
    #: again yet, and, going up, the highest other stage needing a person is proposed instead, if any.
    rested: str | None = None
    rested_reasons: tuple[str, ...] = ()


def fmt_pct(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    return f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def fmt_pct_true(value: Decimal, holds: Callable[[Decimal], bool]) -> str:
    """`fmt_pct`, with more decimal places where one would print a figure the reason's test rejects.

    95.97% is "below 96%", but prints as 96.0%: a reason reading "96.0%, below 96%"
    would be false as written. Up to four places are used, then the exact value.
    """
    for places in (1, 2, 3, 4):
        shown = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if holds(shown):
            return f"{shown}%"
    return f"{value.normalize():f}%"


def _fmt_num(value: float | int | Decimal) -> str:
    d = Decimal(str(value))
    return f"{d.normalize():f}" if d == d.to_integral() else f"{d}"


#: The attendance criterion's bounds: (field, test of value against the bound, words in reasons).
_COMPARISONS = (
    ("below", operator.lt, "below"),
    ("at_most", operator.le, "at most"),
    ("at_least", operator.ge, "at least"),
    ("above", operator.gt, "above"),
)


@functools.lru_cache(maxsize=256)
def _threshold(value: float | int | str) -> Decimal:
    """A percentage bound from a ladder file as an exact Decimal (as written, not as a binary float)."""
    return Decimal(str(value))


@dataclass
class Evaluator:
    """Evaluates criteria for one pupil on one date. `shift` lowers attendance (for descent margins)."""

    facts: PupilFacts
    calendar: SchoolCalendar
    as_of: date
    min_possible: int
    placement: CurrentPlacement | None
    shift: Decimal = Decimal(0)
    # Whether to word the reasons. The night decides every pupil but keeps reasons only
    # for the few who move or are proposed, so it decides without and words those after.
    explain: bool = True

    @classmethod
    def probe(cls, calendar: SchoolCalendar, as_of: date, min_possible: int) -> Evaluator:
        """An evaluator of no pupil: for asking where windows start and stop on `as_of`."""
        return cls(PupilFacts(pupil_id=0, weeks={}), calendar, as_of, min_possible, None)

    # --- windows ------------------------------------------------------------
    def window(self, spec: Any, end: date | None = None) -> tuple[date, date]:
        end = end or self.as_of
        if spec in (None, "year"):
            return self.calendar.academic_year_window(end)
        if spec == "term":
            return self.calendar.term_window(end)
        if spec == "half_term":
            return self.calendar.half_term_window(end)
        return self.calendar.school_weeks_back(end, int(spec["weeks"]))

    @staticmethod
    def window_label(spec: Any) -> str:
        if spec in (None, "year"):
            return "year to date"
        if spec == "term":
            return "this term"
        if spec == "half_term":
            return "this half-term"
        weeks = int(spec["weeks"])
        return "in the last school week" if weeks == 1 else f"in the last {weeks} school weeks"

    def window_mondays(self, spec: Any, end: date | None = None) -> tuple[date, date]:
        """The first and last Monday of the weeks a window adds up.

        Weeks are Monday buckets; a window starting mid-week takes that whole
        week, whose earlier days are holidays with no possible sessions.
        """
        start, stop = self.window(spec, end)
        return monday_of(start), monday_of(stop)

    def totals(self, spec: Any, end: date | None = None) -> AttendanceSummary:
        first, last = self.window_mondays(spec, end)
        cache = self.facts.totals_cache
        totals = cache.get((first, last))
        if totals is None:
            if self.facts.running is not None:
                totals = self.facts.running.between(first, last)
            else:
                weeks = [counts for monday, counts in self.facts.weeks.items() if first <= monday <= last]
                totals = AttendanceSummary.add_up(weeks)
            cache[(first, last)] = totals
        return totals

    # --- criteria -----------------------------------------------------------
    def check(self, criterion: Mapping[str, Any] | None, end: date | None = None) -> tuple[bool, list[str]]:
        """(holds, reasons). Reasons name each criterion that held with its measured value."""
        if not criterion:
            return False, []
        ((kind, body),) = criterion.items()
        return getattr(self, f"_{kind}")(body, end)

    def _all(self, body: Sequence[Mapping[str, Any]], end: date | None) -> tuple[bool, list[str]]:
        """Why first, then whom: the reasons of criteria that only say whom a stage is for (flags: "of
        compulsory school age") come after the rest, as lists show a pupil's first reason alone."""
        reasons: list[str] = []
        whom: list[str] = []
        for child in body:
            held, why = self.check(child, end)
            if not held:
                return False, []
            (whom if only_flags(child) else reasons).extend(why)
        return True, reasons + whom

    def _any(self, body: Sequence[Mapping[str, Any]], end: date | None) -> tuple[bool, list[str]]:
        reasons: list[str] = []
        any_held = False
        for child in body:
            held, why = self.check(child, end)
            if held:
                any_held = True
                reasons.extend(why)
        return any_held, reasons

    def _not(self, body: Mapping[str, Any], end: date | None) -> tuple[bool, list[str]]:
        held, _ = self.check(body, end)
        return (not held), ([] if held or not self.explain else [f"not ({_describe(body)})"])

    def _attendance(self, body: Mapping[str, Any], end: date | None) -> tuple[bool, list[str]]:
        totals = self.totals(body.get("window"), end)
        pct = totals.attendance_pct
        minimum = int(body.get("min_possible", self.min_possible))
        if pct is None or totals.possible < minimum:
            return False, []
        value = pct - self.shift
        for name, test, _symbol in _COMPARISONS:
            if name in body and not test(value, _threshold(body[name])):
                return False, []
        if not self.explain:
            return True, []
        parts = [f"{symbol} {_fmt_num(body[name])}%" for name, _, symbol in _COMPARISONS if name in body]
        label = self.window_label(body.get("window"))
        shown = (
            fmt_pct_true(
                pct, lambda v: all(test(v, _threshold(body[name])) for name, test, _ in _COMPARISONS if name in body)
            )
            if not self.shift
            else fmt_pct(pct)  # tested with a margin: the reason's figure is the pupil's own
        )
        return True, [f"attendance {shown} {label}, {' and '.join(parts)}"]

    def _count(self, body: Mapping[str, Any], end: date | None) -> tuple[bool, list[str]]:
        name = body["measure"]
        if name in RUN_MEASURES:
            value, label = getattr(self.facts, RUN_MEASURES[name]), ""
        else:
            value = measure(self.totals(body.get("window"), end), name)
            label = " " + self.window_label(body.get("window"))
        if value < body["at_least"] or ("below" in body and value >= body["below"]):
            return False, []
        if not self.explain:
            return True, []
        one, more = MEASURE_LABELS[name]
        return True, [f"{value} {one if value == 1 else more}{label} ({body['at_least']} or more)"]

    def _flag(self, body: str, end: date | None) -> tuple[bool, list[str]]:
        return (True, [flag_words(body)]) if body in self.facts.flags else (False, [])

    def _held_for(self, body: Mapping[str, Any], end: date | None) -> tuple[bool, list[str]]:
        weeks = int(body["weeks"])
        ends = self.calendar.week_ends_back(end or self.as_of, weeks)
        if len(ends) < weeks:
            return False, []
        first_reasons: list[str] = []
        for week_end in ends:
            held, why = self.check(body["criterion"], week_end)
            if not held:
                return False, []
            first_reasons = first_reasons or why
        if not self.explain:
            return True, []
        return True, [f"{first_reasons[0]}, as it was at the end of each of the last {weeks} school weeks"]

    def _at_stage_for(self, body: Mapping[str, Any], end: date | None) -> tuple[bool, list[str]]:
        placement = self.placement
        if placement is None:
            return False, []
        days = ((end or self.as_of) - placement.since).days
        weeks = int(body["weeks"])
        if days < weeks * 7:
            return False, []
        if not body.get("without_improvement"):
            return True, [f"at the current stage for {days // 7} weeks ({weeks} or more)"]
        now = self.totals("year", end).attendance_pct
        margin = Decimal(str(body.get("margin", 1)))
        before = placement.entry_attendance_pct
        if now is None or before is None or now >= before + margin:
            return False, []
        return True, [
            f"at the current stage for {days // 7} weeks without improvement "
            f"(attendance {fmt_pct(before)} then, {fmt_pct(now)} now)"
        ]

    def _no_contact(self, body: Mapping[str, Any], end: date | None) -> tuple[bool, list[str]]:
        needed = int(body["school_days"])
        if not no_contact_holds(self.facts, needed):
            return False, []
        run, started = self.facts.absence_run_days, self.facts.absence_run_started_on
        return True, [
            f"absent {run} school days in a row since {started:%-d %b} with no contact logged ({needed} or more)"
        ]

    def _bottom_percent(self, body: float, end: date | None) -> tuple[bool, list[str]]:
        if not bottom_percent_holds(self.facts, float(body)):
            return False, []
        pct = self.totals("year").attendance_pct
        return True, [f"in the school's bottom {_fmt_num(body)}% for attendance ({fmt_pct(pct)} year to date)"]

    def _manual(self, body: object, end: date | None) -> tuple[bool, list[str]]:
        return False, []


def no_contact_holds(facts: PupilFacts, school_days: int) -> bool:
    """Absent at least this many school days in a row, with no family contact logged since the run began."""
    started = facts.absence_run_started_on
    if facts.absence_run_days < school_days or started is None:
        return False
    contact = facts.last_family_contact_on
    return contact is None or contact < started


def bottom_percent_holds(facts: PupilFacts, percent: float) -> bool:
    """In the school's bottom `percent`% for year-to-date attendance (by the rank the facts carry)."""
    rank = facts.attendance_rank_pct
    return rank is not None and rank <= percent


def stage_letters(stage: Mapping[str, Any]) -> list[tuple[str, dict[str, Any] | None]]:
    """A stage's letters as (template key, when): each is a key, or {letter: key, when: criterion}.

    A letter with a `when` is queued only for a pupil the night moves onto the
    stage while it holds (as an action's task); a person's move queues it always.
    """
    return [
        (item, None) if isinstance(item, str) else (item["letter"], item.get("when"))
        for item in stage.get("letters") or []
    ]


def given_on_entry(
    items: Sequence[tuple[str, dict[str, Any] | None]],
    holds: Callable[[dict[str, Any]], bool] | None,
    *,
    only_conditional: bool = False,
    given: Collection[str] = (),
) -> list[str]:
    """Which of a stage's actions or letters, as (key, when), a pupil entering the stage is given.

    One without a `when` always (but not when `only_conditional`: the night's catch-up for pupils who
    stayed gives only conditional work); one with a `when` only if it holds for the pupil (`holds`
    None: a person's move, which gives everything). Keys in `given` are left out without asking.
    The night, a person's move and the ladder simulation all decide by this.
    """
    return [
        key
        for key, when in items
        if key not in given and ((not when and not only_conditional) or (when and (holds is None or holds(when))))
    ]


def only_while_unexplained(criterion: Mapping[str, Any]) -> bool:
    """Whether `criterion` can hold only while the pupil has an unexplained absence (N) on the register.

    So it is for a count of `unexplained` of at least one, in any window, and for
    `all` of anything with one such among them, or `any` of nothing else. Once a
    pupil's every N has its reason, such a criterion holds in no window: a stage
    action given only while it holds (its `when`) has nothing left to do.
    """
    ((kind, body),) = criterion.items()
    if kind == "all":
        return any(only_while_unexplained(child) for child in body)
    if kind == "any":
        return bool(body) and all(only_while_unexplained(child) for child in body)
    return kind == "count" and body.get("measure") == "unexplained" and body.get("at_least", 0) >= 1


def _describe(criterion: Mapping[str, Any]) -> str:
    ((kind, body),) = criterion.items()
    return f"{kind} {body}"


def indicated_stage(ladder: LadderSpec, evaluator: Evaluator) -> tuple[StageSpec, list[str]]:
    """The most concerning falling stage whose criteria hold, or the base stage."""
    for stage in reversed(ladder.falling[1:]):
        if stage.entry == "manual":
            continue
        held, reasons = evaluator.check(stage.criteria)
        if held:
            return stage, reasons
    return ladder.base, ["no stage's criteria hold"]


def _floor_level(ladder: LadderSpec, stage: StageSpec) -> int:
    """A manual stage holds a pupil at least at the level of the stage below it that data can reach."""
    if stage.entry != "manual":
        return stage.level
    lower = [s.level for s in ladder.falling if s.level < stage.level and s.entry != "manual"]
    return max(lower, default=0)


def _descent_target(ladder: LadderSpec, indicated: StageSpec, current: StageSpec) -> StageSpec:
    """Where a pupil coming down lands: the improving track if the ladder has one."""
    improving = [s for s in ladder.improving if indicated.level <= s.level < current.level]
    if not improving:
        return indicated
    return min(improving, key=lambda s: (s.level, s.position))


def is_steady(ladder: LadderSpec, indicated: StageSpec, placement: CurrentPlacement | None) -> bool:
    """Whether `decide` leaves this pupil where they are with nothing to do, given their indicated stage.

    So it is for a placed pupil with no improvement being watched (no
    `improving_since`) whose indicated stage is no higher than their stage and
    no lower than its floor: most pupils, most nights. The night uses this to
    skip `decide` for them (`interventions.screen`).
    """
    if placement is None or placement.improving_since is not None:
        return False
    current = ladder.stage(placement.stage_key)
    return _floor_level(ladder, current) <= indicated.level <= current.level


def is_waiting(
    ladder: LadderSpec,
    indicated: StageSpec,
    landing: StageSpec,
    placement: CurrentPlacement | None,
    proposed: str | None,
) -> bool:
    """Whether `decide` keeps this pupil where they are and proposes again the stage already proposed.

    So it is for a placed pupil with no improvement being watched whose
    indicated stage, above theirs, needs a person to approve it, when the
    highest automatic stage below it whose criteria hold (`landing`, as
    `_highest_automatic_below` finds it) is no higher than theirs, and the
    stage waiting to be approved (`proposed`) is the indicated one. The night
    then has nothing to do for them either (`interventions.screen`).
    """
    if placement is None or placement.improving_since is not None or proposed != indicated.key:
        return False
    current = ladder.stage(placement.stage_key)
    return indicated.level > current.level and indicated.entry != "automatic" and landing.level <= current.level


def decide(
    ladder: LadderSpec,
    facts: PupilFacts,
    placement: CurrentPlacement | None,
    *,
    as_of: date,
    calendar: SchoolCalendar,
    resting: Collection[str] = (),
) -> Decision:
    """The stage this pupil should be at on `as_of`, whether that is a move or a proposal, and why.

    Deterministic and pure. Up at once; down only after `sustain_weeks` of
    improvement by `margin` points; approval and manual stages are proposed,
    never entered automatically. `resting`: the stage keys of moves a person
    declined lately for this pupil, not proposed again yet. Going up, the
    highest stage below a resting one that also needs a person and whose
    criteria hold is proposed instead: declining Enforce for "support first"
    leaves Facilitate to approve.
    """
    # Decide without wording reasons; word them only for a move or a proposal (few a night).
    evaluator = Evaluator(facts, calendar, as_of, ladder.min_possible, placement, explain=False)
    indicated, _ = indicated_stage(ladder, evaluator)
    if is_steady(ladder, indicated, placement):
        assert placement is not None
        return Decision(placement.stage_key, False, (), improving_since=None, indicated_key=indicated.key)
    explaining = Evaluator(facts, calendar, as_of, ladder.min_possible, placement)

    if placement is None:
        # First placement: straight to what the data says, stopping below a stage that needs a person.
        landing = indicated
        proposal = None
        if indicated.entry != "automatic":
            proposal = indicated
            landing = _highest_automatic_below(ladder, evaluator, indicated)
        reasons = _reasons_for(explaining, indicated)
        land_reasons = reasons if landing is indicated else _reasons_for(explaining, landing)
        return _with_rest(
            Decision(
                stage_key=landing.key,
                moved=True,
                reasons=tuple(land_reasons),
                proposal=proposal.key if proposal else None,
                proposal_reasons=tuple(reasons) if proposal else (),
                indicated_key=indicated.key,
            ),
            ladder,
            explaining,
            resting,
            above=landing,
        )

    current = ladder.stage(placement.stage_key)
    current_level = _floor_level(ladder, current)

    if indicated.level > current.level:
        reasons = _reasons_for(explaining, indicated)
        if indicated.entry == "automatic":
            return Decision(indicated.key, True, tuple(reasons), indicated_key=indicated.key)
        landing = _highest_automatic_below(ladder, evaluator, indicated)
        moved = landing.level > current.level
        return _with_rest(
            Decision(
                stage_key=landing.key if moved else current.key,
                moved=moved,
                reasons=tuple(_reasons_for(explaining, landing)) if moved else (),
                proposal=indicated.key,
                proposal_reasons=tuple(reasons),
                indicated_key=indicated.key,
            ),
            ladder,
            explaining,
            resting,
            above=landing if moved else current,
        )

    if indicated.level < current_level:
        if evaluator.totals("year").possible < ladder.min_possible:
            # Too little of this year's register to judge (August, the first days of September): no criteria
            # can hold yet, which is not improvement. The clock starts once there is enough.
            return Decision(current.key, False, (), improving_since=None, indicated_key=indicated.key)
        shifted = Evaluator(facts, calendar, as_of, ladder.min_possible, placement, shift=ladder.margin, explain=False)
        with_margin, _ = indicated_stage(ladder, shifted)
        if with_margin.level < current_level:
            since = placement.improving_since or as_of
            if since < calendar.academic_year_window(as_of)[0]:
                since = as_of  # a clock from last school year (or set before this rule): this year's starts now
            # Weeks in school: a summer with no register is not four weeks of better attendance.
            weeks = ladder.sustain_weeks
            if as_of - since >= timedelta(weeks=weeks) and calendar.school_weeks_since(since, as_of) >= weeks:
                target = _descent_target(ladder, with_margin, current)
                margin_reasons = _reasons_for(replace(shifted, explain=True), with_margin)
                why = (
                    f"improvement sustained since {since:%-d %b %Y} "
                    f"({weeks} school week{'s' if weeks != 1 else ''}, margin {_fmt_num(ladder.margin)} points)",
                    *(r for r in margin_reasons if r != "no stage's criteria hold"),
                )
                if current.entry == "manual" or target.entry != "automatic":
                    if target.key in resting:  # coming down is proposed again once the rest is over
                        return Decision(current.key, False, (), None, (), since, indicated.key, target.key, why)
                    return Decision(current.key, False, (), target.key, why, since, indicated.key)
                return Decision(target.key, True, why, improving_since=None, indicated_key=indicated.key)
            return Decision(current.key, False, (), improving_since=since, indicated_key=indicated.key)

    return Decision(current.key, False, (), improving_since=None, indicated_key=indicated.key)


def _with_rest(
    decision: Decision, ladder: LadderSpec, evaluator: Evaluator, resting: Collection[str], *, above: StageSpec
) -> Decision:
    """A move up `decision` proposes, unless a person declined it lately (`resting`): then the highest
    stage below it, above where the pupil stands after tonight (`above`), that is entered by approval, has
    not been declined lately itself, and whose criteria hold; or nothing. The declined one is `rested`."""
    if decision.proposal is None or decision.proposal not in resting:
        return decision
    declined = ladder.stage(decision.proposal)
    for candidate in reversed(ladder.falling[1:]):
        # A stage for a person to approve: not an automatic one, nor one only a person moves pupils to.
        if not above.level < candidate.level < declined.level or candidate.entry != "approval":
            continue
        if candidate.key not in resting and evaluator.check(candidate.criteria)[0]:
            return replace(
                decision,
                proposal=candidate.key,
                proposal_reasons=tuple(_reasons_for(evaluator, candidate)),
                rested=declined.key,
                rested_reasons=decision.proposal_reasons,
            )
    return replace(
        decision, proposal=None, proposal_reasons=(), rested=declined.key, rested_reasons=decision.proposal_reasons
    )


def _highest_automatic_below(ladder: LadderSpec, evaluator: Evaluator, stage: StageSpec) -> StageSpec:
    for candidate in reversed(ladder.falling[1:]):
        if candidate.level >= stage.level or candidate.entry != "automatic":
            continue
        if evaluator.check(candidate.criteria)[0]:
            return candidate
    return ladder.base


def _reasons_for(evaluator: Evaluator, stage: StageSpec) -> list[str]:
    held, reasons = evaluator.check(stage.criteria)
    return reasons if held else ["no stage's criteria hold"]
