"""Which pupils the night must decide: the ladder's criteria tested for a whole school at once.

`rules.decide` takes one pupil at a time, down every path, and words its
reasons. Most pupils, most nights, stay where they are with nothing to do:
they are steady (`rules.is_steady`: placed, no improvement being watched, no
stage indicated above theirs or below its floor), or they wait for a person to
approve the very stage already proposed for them (`rules.is_waiting`). Both
turn only on which stages' criteria hold, so this module tests each stage's
criteria for every pupil together, one criterion at a time over columns of
numbers (a list a school, a value a pupil), and the night calls `decide` only
for the other pupils.

This is the engine's criteria written a second time, over columns:
`test_screen.py` checks, for every shipped ladder and random pupils, that the
stages indicated agree with `rules.indicated_stage` pupil by pupil and that a
pupil passed over is one `decide` leaves alone; and a night that passes over
pupils leaves what a night that decides everyone leaves. Window totals come
from each pupil's `RunningTotals` (`night_facts`), and attendance is compared
in whole numbers, exactly as the engine compares its 28-digit percentages. A
criterion this module does not know makes it answer None: decide everyone.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from pupils.statistics import ABSENT_COUNTS, ATTENDED_COUNTS

from .rules import (
    _COMPARISONS,
    COUNT_FIELDS,
    MEASURE_PARTS,
    RUN_MEASURES,
    CurrentPlacement,
    Evaluator,
    LadderSpec,
    PupilFacts,
    StageSpec,
    _threshold,
    bottom_percent_holds,
    is_steady,
    is_waiting,
    no_contact_holds,
)
from .selectors import SchoolFacts

_ATTENDED = tuple(COUNT_FIELDS.index(name) for name in ATTENDED_COUNTS)
_ABSENT = tuple(COUNT_FIELDS.index(name) for name in ABSENT_COUNTS)
_NO_COUNTS = (0,) * len(COUNT_FIELDS)

Column = list[bool]


class _Unknown(Exception):
    """A criterion the columns cannot test."""


def pupils_to_decide(
    *,
    spec: LadderSpec,
    facts: SchoolFacts,
    placements: Mapping[int, CurrentPlacement],
    pending: Mapping[int, str],
) -> set[int] | None:
    """The pupils on roll for whom `decide` may do anything tonight, or None for every pupil.

    `pending` maps each pupil with a proposal waiting to the stage proposed.
    Everyone except the steady with no proposal waiting (`rules.is_steady`),
    and those waiting for the very stage `decide` would propose again
    (`rules.is_waiting`).
    """
    stages = _indicated_and_landing(spec=spec, facts=facts, placements=placements)
    if stages is None:
        return None
    to_decide = set()
    for pupil_id, (indicated, landing) in zip(facts.facts, stages, strict=True):
        placement, proposed = placements.get(pupil_id), pending.get(pupil_id)
        if proposed is None and is_steady(spec, indicated, placement):
            continue
        if proposed is not None and is_waiting(spec, indicated, landing, placement, proposed):
            continue
        to_decide.add(pupil_id)
    return to_decide


def indicated_stages(
    *, spec: LadderSpec, facts: SchoolFacts, placements: Mapping[int, CurrentPlacement]
) -> list[StageSpec] | None:
    """Each pupil's indicated stage (`rules.indicated_stage`), in the order of `facts.facts`; None if unknown."""
    stages = _indicated_and_landing(spec=spec, facts=facts, placements=placements)
    return None if stages is None else [indicated for indicated, _ in stages]


def _indicated_and_landing(
    *, spec: LadderSpec, facts: SchoolFacts, placements: Mapping[int, CurrentPlacement]
) -> list[tuple[StageSpec, StageSpec]] | None:
    """Each pupil's indicated stage, and the highest automatic stage below it whose criteria hold (or the base).

    In the order of `facts.facts`; None if a criterion is unknown here.
    """
    columns = _Columns(spec=spec, facts=facts, placements=placements)
    if columns.pupils and any(f.running is None for f in columns.pupils):
        return None
    held: list[tuple[StageSpec, Column]] = []
    try:
        for stage in spec.falling[1:]:
            if stage.entry != "manual":
                held.append((stage, columns.holds(stage.criteria, None)))
    except _Unknown:
        return None
    result = []
    for i in range(len(columns.pupils)):
        # Least concerning first, so the last stage whose criteria hold is the most concerning one.
        indicated = landing = spec.base
        for stage, column in held:
            if column[i]:
                indicated = stage
        for stage, column in held:
            if column[i] and stage.entry == "automatic" and stage.level < indicated.level:
                landing = stage
        result.append((indicated, landing))
    return result


class _Columns:
    """Tests criteria for every pupil at once: each test returns one bool a pupil."""

    def __init__(self, *, spec: LadderSpec, facts: SchoolFacts, placements: Mapping[int, CurrentPlacement]) -> None:
        self.pupils: list[PupilFacts] = list(facts.facts.values())
        self.placements = [placements.get(f.pupil_id) for f in self.pupils]
        self.as_of = facts.as_of
        self.calendar = facts.calendar
        self.min_possible = spec.min_possible
        # Windows are the engine's own: one probe asks it where each starts and stops.
        self.probe = Evaluator.probe(facts.calendar, facts.as_of, spec.min_possible)
        self._counts: dict[tuple[date, date], list[tuple[int, ...]]] = {}
        self._attended_possible: dict[tuple[date, date], list[tuple[int, int]]] = {}

    def holds(self, criterion: Mapping[str, Any] | None, end: date | None) -> Column:
        if not criterion:
            return [False] * len(self.pupils)
        ((kind, body),) = criterion.items()
        test: Callable[[Any, date | None], Column] | None = getattr(self, f"_{kind}", None)
        if test is None:
            raise _Unknown(kind)
        return test(body, end)

    # --- window totals -------------------------------------------------------------
    def counts(self, window: Any, end: date | None) -> list[tuple[int, ...]]:
        """Each pupil's counts over a window (`COUNT_FIELDS` order), as `Evaluator.totals` adds them up."""
        mondays = self.probe.window_mondays(window, end)
        counts = self._counts.get(mondays)
        if counts is None:
            first, last = mondays
            counts = self._counts[mondays] = [
                f.running.counts_between(first, last) or _NO_COUNTS  # type: ignore[union-attr]
                for f in self.pupils
            ]
        return counts

    def attended_possible(self, window: Any, end: date | None) -> list[tuple[int, int]]:
        """Each pupil's (attended, possible) sessions over a window."""
        mondays = self.probe.window_mondays(window, end)
        pairs = self._attended_possible.get(mondays)
        if pairs is None:
            (p, a), (au, un) = _ATTENDED, _ABSENT  # two counts each: added by hand, for speed
            pairs = self._attended_possible[mondays] = [
                (c[p] + c[a], c[p] + c[a] + c[au] + c[un]) for c in self.counts(window, end)
            ]
        return pairs

    # --- criteria (each as `rules.Evaluator._<kind>`) -----------------------------------
    def _all(self, body: Sequence[Mapping[str, Any]], end: date | None) -> Column:
        result = [True] * len(self.pupils)
        for child in body:
            result = list(map(operator.and_, result, self.holds(child, end)))
        return result

    def _any(self, body: Sequence[Mapping[str, Any]], end: date | None) -> Column:
        result = [False] * len(self.pupils)
        for child in body:
            result = list(map(operator.or_, result, self.holds(child, end)))
        return result

    def _not(self, body: Mapping[str, Any], end: date | None) -> Column:
        return [not held for held in self.holds(body, end)]

    def _attendance(self, body: Mapping[str, Any], end: date | None) -> Column:
        minimum = int(body.get("min_possible", self.min_possible))
        # attended * 100 / possible OP bound, in whole numbers: attended * 100 * d OP n * possible.
        bounds = [(test, *_threshold(body[name]).as_integer_ratio()) for name, test, _ in _COMPARISONS if name in body]
        return [
            possible > 0
            and possible >= minimum
            and all(test(attended * 100 * d, n * possible) for test, n, d in bounds)
            for attended, possible in self.attended_possible(body.get("window"), end)
        ]

    def _count(self, body: Mapping[str, Any], end: date | None) -> Column:
        name = body["measure"]
        if name in RUN_MEASURES:
            values = [getattr(f, RUN_MEASURES[name]) for f in self.pupils]
        else:
            parts = [COUNT_FIELDS.index(part) for part in MEASURE_PARTS.get(name, (name,))]
            values = [sum(c[i] for i in parts) for c in self.counts(body.get("window"), end)]
        at_least, below = body["at_least"], body.get("below")
        return [value >= at_least and (below is None or value < below) for value in values]

    def _flag(self, body: str, end: date | None) -> Column:
        return [body in f.flags for f in self.pupils]

    def _held_for(self, body: Mapping[str, Any], end: date | None) -> Column:
        weeks = int(body["weeks"])
        ends = self.calendar.week_ends_back(end or self.as_of, weeks)
        result = [len(ends) >= weeks] * len(self.pupils)
        for week_end in ends if len(ends) >= weeks else ():
            result = list(map(operator.and_, result, self.holds(body["criterion"], week_end)))
        return result

    def _at_stage_for(self, body: Mapping[str, Any], end: date | None) -> Column:
        on = end or self.as_of
        weeks = int(body["weeks"])
        placed = [p is not None and (on - p.since).days >= weeks * 7 for p in self.placements]
        if not body.get("without_improvement"):
            return placed
        margin = Decimal(str(body.get("margin", 1)))
        result = []
        for held, p, (attended, possible) in zip(
            placed, self.placements, self.attended_possible("year", end), strict=True
        ):
            if not held or possible == 0 or p is None or p.entry_attendance_pct is None:
                result.append(False)
                continue
            n, d = (p.entry_attendance_pct + margin).as_integer_ratio()
            result.append(attended * 100 * d < n * possible)  # now < before + margin
        return result

    def _no_contact(self, body: Mapping[str, Any], end: date | None) -> Column:
        needed = int(body["school_days"])
        return [no_contact_holds(f, needed) for f in self.pupils]

    def _bottom_percent(self, body: float, end: date | None) -> Column:
        bound = float(body)
        return [bottom_percent_holds(f, bound) for f in self.pupils]

    def _manual(self, body: object, end: date | None) -> Column:
        return [False] * len(self.pupils)
