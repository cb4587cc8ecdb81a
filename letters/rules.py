"""Letter decisions in plain Python: who a letter goes to, red/amber/green, figures in words.

No Django here: data in, answer out, so every edge is tested without a database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pupils.statistics import pct_as_printed

GREEN, AMBER, RED = "green", "amber", "red"

RAG_LABELS = {GREEN: "Green", AMBER: "Amber", RED: "Red"}
RAG_MEANINGS = {
    GREEN: "Attendance is good. Thank you for helping your child come to school.",
    AMBER: "Attendance is a little lower than we would like. Every day counts, and we are happy to help.",
    RED: "Attendance is low, and your child is missing a lot of learning. Please talk to us: we want to help.",
}

HOUSEHOLD, EACH, JOINT = "household", "each", "joint"


def rag_colour(pct: Decimal | None, *, green_from: Decimal, amber_from: Decimal) -> str | None:
    """Red, amber or green for an attendance percentage; None when there were no possible sessions.

    Green at or above `green_from`, amber at or above `amber_from`, red below
    it (defaults 96 and 90). The percentage is compared as printed on the
    letter, to one decimal place, so a letter never says "96.0%" beside
    "amber". Raises ValueError if amber_from is above green_from.
    """
    if amber_from > green_from:
        raise ValueError(f"amber ({amber_from}%) cannot start above green ({green_from}%)")
    if pct is None:
        return None
    shown = pct.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    if shown >= green_from:
        return GREEN
    if shown >= amber_from:
        return AMBER
    return RED


# --- who a letter goes to -------------------------------------------------------


@dataclass(frozen=True)
class Carer:
    id: int
    name: str
    address_lines: tuple[str, ...]
    receives_letters: bool = True
    priority: int = 1
    salutation: str = ""  # "Mrs Barker"; blank: greeted by name


@dataclass(frozen=True)
class Recipient:
    """The people one letter is addressed to, and where it goes. contact_id: the first of them."""

    contact_id: int | None
    names: tuple[str, ...]
    address_lines: tuple[str, ...]
    contact_ids: tuple[int, ...] = ()
    #: Given by hand in school (a certificate to the pupil): it needs no address.
    by_hand: bool = False
    #: How the letter greets each of `names` ("Mrs Barker"); empty: each by name.
    salutations: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return join_names(self.names) if self.names else "Parent/Carer"

    @property
    def greeting(self) -> str:
        """Who "Dear ..." names: "Mrs Barker and Mr Barker", or their names where the MIS gives no salutation."""
        return join_names(self.salutations) if self.salutations else self.name

    @property
    def lacks_address(self) -> bool:
        """A letter for the post with no address to print in the envelope window."""
        return not self.by_hand and not self.address_lines


def join_names(names: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    names = [n for n in names if n]
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _address_key(lines: Sequence[str]) -> str:
    return re.sub(r"[^a-z0-9]", "", "".join(lines).lower())


def recipients(carers: Sequence[Carer], *, addressing: str) -> list[Recipient]:
    """The letters one pupil's letter becomes, one Recipient each.

    Only carers who receive post count, first by priority. `household`: one
    letter per address, to every carer living there (carers without an
    address each get their own); `each`: one per carer; `joint`: one letter
    to all of them at the first carer's address. With nobody to write to,
    one letter "to the parent/carer" with no address, which the queue flags.
    """
    receiving = sorted((c for c in carers if c.receives_letters), key=lambda c: (c.priority, c.id))
    if not receiving:
        return [Recipient(None, (), ())]
    if addressing == EACH:
        return [_to(c) for c in receiving]
    if addressing == JOINT:
        return [_group(receiving)]
    groups: dict[str, list[Carer]] = {}
    for carer in receiving:
        key = _address_key(carer.address_lines) or f"#{carer.id}"
        groups.setdefault(key, []).append(carer)
    return [_group(g) for g in groups.values()]


def _to(carer: Carer) -> Recipient:
    return _group([carer])


def _group(carers: Sequence[Carer]) -> Recipient:
    first = carers[0]
    return Recipient(
        first.id,
        tuple(c.name for c in carers),
        first.address_lines,
        tuple(c.id for c in carers),
        salutations=tuple(c.salutation or c.name for c in carers),
    )


def recipient_for(carers: Sequence[Carer], *, addressing: str, contact_id: int | None) -> Recipient:
    """Who a queued letter goes to now: the group led by (or holding) its carer, from today's contacts.

    Addresses are read when the letter prints, so a move reported after the
    letter was queued is honoured. If the carer no longer receives post the
    letter still goes to them (a person decided to send it); if they were
    removed, to the pupil's first group.
    """
    groups = recipients(carers, addressing=addressing)
    if contact_id is None:
        return groups[0]
    for group in groups:
        if contact_id in group.contact_ids:
            return group
    for carer in carers:
        if carer.id == contact_id:
            return _to(carer)
    return groups[0]


# --- letters that only some pupils can truthfully be sent ------------------------

#: The shipped letters whose wording states a fact about the pupil's attendance.
FULL_ATTENDANCE, IMPROVING = "certificate_100", "congratulations"


def full_attendance(summary: Any) -> bool:
    """Every possible session attended, and at least one: what a 100% certificate says (an `AttendanceSummary`)."""
    return bool(summary.possible) and summary.absent == 0


def wording_problem(key: str, *, forename: str, term: Any, half_term: Any, before_half_term: Any) -> str:
    """Why the letter `key` would say something untrue of this pupil, or "" if it would not.

    A 100% certificate needs every possible session of the term so far
    attended; a letter congratulating improvement needs this half-term's
    attendance above the school year's before it (so none in the year's
    first half-term). The summaries are `AttendanceSummary`s.
    """
    if key == FULL_ATTENDANCE and not full_attendance(term):
        missed = f"has missed {term.absent} of {term.possible} sessions" if term.possible else "has no sessions"
        return f"{forename} {missed} this term: a 100% attendance certificate would not be true."
    if key == IMPROVING:
        now, before = half_term.attendance_pct, before_half_term.attendance_pct
        if before is None:
            return (
                f"There are no figures from earlier this school year to compare {forename}'s with: "
                "a letter congratulating them on improving cannot say so yet."
            )
        if now is None or now <= before:
            return (
                f"{forename}'s attendance this half-term ({pct_text(now)}) is not above the rest of the school "
                f"year's ({pct_text(before)}): a letter congratulating them on improving would not be true."
            )
    return ""


# --- figures in words -------------------------------------------------------------


def days_missed(sessions: int) -> Decimal:
    """School days missed: two sessions (morning and afternoon) a day."""
    return Decimal(sessions) / 2


def weeks_missed(sessions: int) -> Decimal:
    """School weeks missed: five school days a week."""
    return Decimal(sessions) / 10


def date_text(day: date | None) -> str:
    """'3 December 2025'; '' for no date."""
    return f"{day.day} {day:%B %Y}" if day else ""


def pct_text(pct: Decimal | None) -> str:
    """'91.3%' (one decimal place, halves up, as the DfE summary prints it); 'not yet recorded' for none."""
    if pct is None:
        return "not yet recorded"
    return f"{pct_as_printed(pct)}%"
