"""The merge fields: what a letter template can say, documented, and the plain data behind them.

`MERGE_FIELDS` is the one list: the template editor shows it, `sandbox.check`
refuses any other name, and `merge_context` fills every one of them (a test
holds the three together). Facts come in as dataclasses of plain values and go
out as dicts of strings and numbers, never model instances.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any

from pupils.statistics import AttendanceSummary, hours_text, number_text

from . import rules


@dataclass(frozen=True)
class MergeField:
    name: str
    description: str
    example: str


@dataclass(frozen=True)
class FieldGroup:
    title: str
    fields: tuple[MergeField, ...]


def _f(name: str, description: str, example: str) -> MergeField:
    return MergeField(name, description, example)


FIELD_GROUPS: tuple[FieldGroup, ...] = (
    FieldGroup(
        "The letter",
        (
            _f("letter.date", "The date printed on the letter", "3 December 2025"),
            _f("letter.reference", "The letter's reference, for replies", "L000123"),
        ),
    ),
    FieldGroup(
        "The school",
        (
            _f("school.name", "The school's name", "Oakfield Primary School"),
            _f("school.address", "The school's address on one line", "1 School Lane, Oakfield, WS1 2AB"),
            _f("school.phone", "The school office's phone number", "01234 567890"),
            _f("school.email", "The school office's e-mail address", "office@oakfield.sch.uk"),
            _f("school.signatory_name", "Who signs letters", "Mrs Helen Carter"),
            _f("school.signatory_role", "Their role", "Headteacher"),
        ),
    ),
    FieldGroup(
        "The parent or carer",
        (
            _f(
                "carer.name",
                "Everyone the letter is addressed to, joined with 'and' ('Parent/Carer' if no one is recorded)",
                "Sarah Smith and David Smith",
            ),
            _f(
                "carer.salutation",
                "How the letter greets them, after 'Dear': each one's salutation as the MIS gives it "
                "(Mrs Smith), or else their name, joined with 'and'",
                "Mrs Smith and Mr Smith",
            ),
            _f("carer.address", "Their address on one line", "12 Elm Grove, Oakfield, WS2 5EG"),
        ),
    ),
    FieldGroup(
        "The pupil",
        (
            _f("pupil.forename", "First name", "Sam"),
            _f("pupil.surname", "Surname", "Sample"),
            _f("pupil.full_name", "First name and surname", "Sam Sample"),
            _f("pupil.class", "Class (registration group)", "4B"),
            _f("pupil.year", "Year group", "Year 4"),
        ),
    ),
    FieldGroup(
        "Attendance this school year, up to the letter's date",
        (
            _f("attendance.as_of", "The last day counted", "26 November 2025"),
            _f(
                "attendance.joined",
                "The day the pupil joined, if after the school year began (the figures count from it); otherwise blank",
                "6 October 2025",
            ),
            _f("attendance.year_pct", "Attendance this school year", "91.3%"),
            _f("attendance.term_pct", "Attendance this term", "90.0%"),
            _f("attendance.half_term_pct", "Attendance this half-term", "88.9%"),
            _f(
                "attendance.sessions_possible",
                "Sessions (mornings and afternoons) the pupil could have attended",
                "240",
            ),
            _f("attendance.sessions_attended", "Sessions attended", "219"),
            _f("attendance.sessions_missed", "Sessions missed, for any reason", "21"),
            _f("attendance.authorised", "Sessions missed with the school's permission (such as illness)", "15"),
            _f("attendance.unauthorised", "Sessions missed without permission", "6"),
            _f("attendance.lates", "Sessions the pupil arrived late", "4"),
            _f("attendance.hours_lost", "Hours of lost learning", "68.25"),
            _f("attendance.days_missed", "School days missed", "10.5"),
            _f("attendance.weeks_missed", "School weeks missed (five days a week)", "2.1"),
            _f(
                "attendance.persistent",
                "“yes” if absence is 10% or more (persistent absence), otherwise blank: for {% if %}",
                "yes",
            ),
            _f(
                "attendance.severe",
                "“yes” if absence is 50% or more (severe absence), otherwise blank: for {% if %}",
                "yes",
            ),
        ),
    ),
    FieldGroup(
        "The period a report or certificate covers (this term so far, unless chosen on the bulk letters page)",
        (
            _f("period.name", "The period's name", "Autumn term"),
            _f("period.start", "First day", "1 September 2025"),
            _f("period.end", "Last day", "19 December 2025"),
            _f("period.pct", "Attendance in the period", "97.2%"),
            _f("period.sessions_possible", "Sessions the pupil could have attended", "142"),
            _f("period.sessions_missed", "Sessions missed", "4"),
            _f("period.authorised", "Authorised absence, in sessions", "4"),
            _f("period.unauthorised", "Unauthorised absence, in sessions", "0"),
            _f("period.lates", "Late sessions", "1"),
            _f("period.hours_lost", "Hours of lost learning", "13"),
            _f("period.days_missed", "School days missed", "2"),
            _f("period.rag", "Green, Amber or Red (see 'Colours' below)", "Green"),
            _f("period.rag_meaning", "What the colour means, in a sentence", rules.RAG_MEANINGS[rules.GREEN]),
            _f("rag.green_from", "Attendance at or above this is green (letter settings)", "96%"),
            _f("rag.amber_from", "Attendance at or above this, below green, is amber; below it is red", "90%"),
        ),
    ),
    FieldGroup(
        "The pupil's stage",
        (
            _f("stage.name", "The stage the pupil is at", "Stage 2: targeted support"),
            _f("stage.label", "Its short label", "2"),
            _f(
                "stage.meaning",
                "What the stage means, from the school's ladder",
                "The pupil is approaching persistent absence.",
            ),
            _f("stage.since", "When the pupil reached it", "24 November 2025"),
        ),
    ),
    FieldGroup(
        "Letters before this one (so a letter never says 'we wrote to you before' when we did not)",
        (
            _f(
                "earlier.count",
                "Letters about attendance printed for this pupil this school year before this one "
                "(not reports, certificates or congratulations); 0 if none: use {% if earlier.count %}",
                "1",
            ),
            _f("earlier.last_date", "The day the latest of them was printed (empty if none)", "10 November 2025"),
        ),
    ),
    FieldGroup(
        "Details given by staff when the letter is written (empty otherwise: use {% if %})",
        (
            _f("meeting.date", "Date of the meeting", "Wednesday 3 December 2025"),
            _f("meeting.time", "Time of the meeting", "3:30pm"),
            _f("meeting.place", "Where it is", "the school office"),
            _f("review.date", "Date of the next review", "14 January 2026"),
            _f("note", "A personal note from the member of staff", "It was lovely to see Sam at the concert."),
        ),
    ),
)

MERGE_FIELDS: tuple[MergeField, ...] = tuple(f for group in FIELD_GROUPS for f in group.fields)
FIELD_NAMES: frozenset[str] = frozenset(f.name for f in MERGE_FIELDS)

#: The details staff may give a letter, and the merge field each one fills.
DETAIL_FIELDS = {
    "meeting_on": "meeting.date",
    "meeting_time": "meeting.time",
    "meeting_place": "meeting.place",
    "review_on": "review.date",
    "note": "note",
}
DETAIL_KEYS = tuple(DETAIL_FIELDS)


# --- facts: the plain data a letter is made from ----------------------------------


@dataclass(frozen=True)
class SchoolFacts:
    name: str
    address_lines: tuple[str, ...]
    phone: str = ""
    email: str = ""
    signatory_name: str = ""
    signatory_role: str = ""


@dataclass(frozen=True)
class PupilFacts:
    forename: str
    surname: str
    class_name: str
    year_name: str

    @property
    def full_name(self) -> str:
        return f"{self.forename} {self.surname}"


@dataclass(frozen=True)
class StageFacts:
    name: str
    label: str
    meaning: str
    since: date | None


@dataclass(frozen=True)
class Period:
    name: str
    start: date
    end: date
    summary: AttendanceSummary


@dataclass(frozen=True)
class LetterFacts:
    reference: str
    dated: date
    as_of: date
    school: SchoolFacts
    recipient: rules.Recipient
    pupil: PupilFacts
    year: AttendanceSummary
    term: AttendanceSummary
    half_term: AttendanceSummary
    period: Period
    stage: StageFacts | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    #: The days earlier letters about attendance were printed this school year (see `earlier.count`).
    earlier_letters: tuple[date, ...] = ()
    #: The day the pupil joined the school, if after the school year began: the year's figures start there.
    joined: date | None = None
    rag_green_from: Decimal = Decimal("96")
    rag_amber_from: Decimal = Decimal("90")

    @property
    def rag(self) -> str | None:
        return rules.rag_colour(
            self.period.summary.attendance_pct, green_from=self.rag_green_from, amber_from=self.rag_amber_from
        )


def _counts(summary: AttendanceSummary) -> dict[str, Any]:
    return {
        "sessions_possible": summary.possible,
        "sessions_attended": summary.attended,
        "sessions_missed": summary.absent,
        "authorised": summary.authorised,
        "unauthorised": summary.unauthorised,
        "lates": summary.late,
        "hours_lost": hours_text(summary.hours_lost),
        "days_missed": number_text(rules.days_missed(summary.absent)),
    }


def _date_detail(value: str | None, *, weekday: bool = False) -> str:
    if not value:
        return ""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return value
    return f"{day:%A} {rules.date_text(day)}" if weekday else rules.date_text(day)


def _time_detail(value: str | None) -> str:
    if not value:
        return ""
    try:
        moment = time.fromisoformat(value)
    except ValueError:
        return value
    hour = moment.hour % 12 or 12
    minutes = f":{moment.minute:02d}" if moment.minute else ""
    return f"{hour}{minutes}{'am' if moment.hour < 12 else 'pm'}"


def merge_context(facts: LetterFacts) -> dict[str, Any]:
    """Every merge field's value for one letter, as nested dicts of strings and numbers."""
    year, period, rag = facts.year, facts.period, facts.rag
    details = facts.details
    return {
        "letter": {"date": rules.date_text(facts.dated), "reference": facts.reference},
        "school": {
            "name": facts.school.name,
            "address": ", ".join(facts.school.address_lines),
            "phone": facts.school.phone,
            "email": facts.school.email,
            "signatory_name": facts.school.signatory_name,
            "signatory_role": facts.school.signatory_role,
        },
        "carer": {
            "name": facts.recipient.name,
            "salutation": facts.recipient.greeting,
            "address": ", ".join(facts.recipient.address_lines),
        },
        "pupil": {
            "forename": facts.pupil.forename,
            "surname": facts.pupil.surname,
            "full_name": facts.pupil.full_name,
            "class": facts.pupil.class_name,
            "year": facts.pupil.year_name,
        },
        "attendance": {
            "as_of": rules.date_text(facts.as_of),
            "joined": rules.date_text(facts.joined) if facts.joined else "",
            "year_pct": rules.pct_text(year.attendance_pct),
            "term_pct": rules.pct_text(facts.term.attendance_pct),
            "half_term_pct": rules.pct_text(facts.half_term.attendance_pct),
            **_counts(year),
            "weeks_missed": number_text(rules.weeks_missed(year.absent)),
            "persistent": "yes" if year.persistent else "",
            "severe": "yes" if year.severe else "",
        },
        "period": {
            "name": period.name,
            "start": rules.date_text(period.start),
            "end": rules.date_text(period.end),
            "pct": rules.pct_text(period.summary.attendance_pct),
            **{k: v for k, v in _counts(period.summary).items() if k != "sessions_attended"},
            "rag": rules.RAG_LABELS.get(rag or "", ""),
            "rag_meaning": rules.RAG_MEANINGS.get(rag or "", ""),
        },
        "rag": {
            "green_from": f"{number_text(facts.rag_green_from, 2)}%",
            "amber_from": f"{number_text(facts.rag_amber_from, 2)}%",
        },
        "stage": {
            "name": facts.stage.name if facts.stage else "",
            "label": facts.stage.label if facts.stage else "",
            "meaning": facts.stage.meaning if facts.stage else "",
            "since": rules.date_text(facts.stage.since) if facts.stage else "",
        },
        "meeting": {
            "date": _date_detail(details.get("meeting_on"), weekday=True),
            "time": _time_detail(details.get("meeting_time")),
            "place": details.get("meeting_place", ""),
        },
        "earlier": {
            "count": len(facts.earlier_letters),
            "last_date": rules.date_text(max(facts.earlier_letters)) if facts.earlier_letters else "",
        },
        "review": {"date": _date_detail(details.get("review_on"))},
        "note": details.get("note", ""),
    }


def flatten(context: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'pupil': {'forename': 'Sam'}} -> {'pupil.forename': 'Sam'}."""
    flat: dict[str, Any] = {}
    for key, value in context.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def sample_facts(*, school: SchoolFacts, today: date, green_from: Decimal, amber_from: Decimal) -> LetterFacts:
    """A made-up pupil, for previewing a template without showing anyone's real record."""
    year = AttendanceSummary(
        present=215, aea=4, authorised=15, unauthorised=6, late_before_close=4, session_minutes=195
    )
    term = AttendanceSummary(present=126, authorised=10, unauthorised=4, late_before_close=2, session_minutes=195)
    half = AttendanceSummary(present=64, authorised=6, unauthorised=2, late_before_close=1, session_minutes=195)
    return LetterFacts(
        reference="L000000",
        dated=today,
        as_of=today,
        school=school,
        recipient=rules.Recipient(
            0,
            ("Sarah Sample", "David Sample"),
            ("12 Elm Grove", "Oakfield", "WS2 5EG"),
            salutations=("Mrs Sample", "Mr Sample"),
        ),
        pupil=PupilFacts("Sam", "Sample", "4B", "Year 4"),
        year=year,
        term=term,
        half_term=half,
        period=Period("This term so far", date(today.year if today.month >= 9 else today.year - 1, 9, 1), today, term),
        stage=StageFacts("Stage 2: targeted support", "2", "The pupil is approaching persistent absence.", today),
        details={
            "meeting_on": today.isoformat(),
            "meeting_time": "15:30",
            "meeting_place": "the school office",
            "review_on": (today + timedelta(weeks=6)).isoformat(),  # a review comes some weeks after the meeting
            "note": "",
        },
        earlier_letters=(today - timedelta(days=24),),
        rag_green_from=green_from,
        rag_amber_from=amber_from,
    )
