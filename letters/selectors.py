"""Reusable read queries for letters. Never write.

Every protected object is loaded through `pupils.access`: letters and print
batches only from the person's school, and only for pupils they may see.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from interventions.models import Placement
from pupils.access import Access, visible_pupils
from pupils.calendar import SchoolCalendar
from pupils.models import AttendanceMark, Contact, Pupil, School
from pupils.services import school_calendar
from pupils.statistics import AttendanceSummary, MarkFact, summarise

from . import merge, rules
from .defaults import DEFAULT_TEMPLATES
from .models import Letter, LetterSettings, LetterTemplate, LetterTemplateRevision, PrintBatch

# --- settings and templates ---------------------------------------------------------


#: The school's own details its letterhead prints, kept on the school and set on the letter settings page.
LETTERHEAD_DETAILS = ("address", "phone", "email", "signatory_name", "signatory_role")


def letterhead_missing(*, school: School) -> str:
    """What a family would look for on a letter and not find, in words ("the school's address and a phone
    number"), or "" when nothing is missing. An e-mail address is optional."""
    wanted = [
        (school.address, "the school's address"),
        (school.phone, "a phone number"),
        (school.signatory_name, "the name of who signs"),
    ]
    return rules.join_names([words for value, words in wanted if not value.strip()])


def letter_settings_get(*, school: School) -> LetterSettings:
    """The school's letter settings, or the defaults (unsaved) if it has never changed them."""
    found = LetterSettings.objects.filter(school=school).first()
    return found or LetterSettings(school=school)


@dataclass(frozen=True)
class TemplateText:
    """A template's wording: the school's saved copy, or the shipped default it has not changed yet."""

    key: str
    name: str
    subject: str
    body: str
    layout: str = LetterTemplate.Layout.LETTER
    is_active: bool = True
    saved: LetterTemplate | None = None

    @property
    def is_default(self) -> bool:
        return self.key in DEFAULT_TEMPLATES

    @property
    def is_edited(self) -> bool:
        """Does the school's wording differ from what was shipped? (A copy is saved when a letter is first
        queued, word for word: that is not an edit.) A letter made here has nothing shipped to differ from."""
        default = DEFAULT_TEMPLATES.get(self.key)
        if self.saved is None or default is None:
            return False
        shipped = (default.name, default.subject, default.body, default.layout)
        return (self.name, self.subject, self.body, self.layout) != shipped

    @classmethod
    def of(cls, template: LetterTemplate) -> TemplateText:
        return cls(
            key=template.key,
            name=template.name,
            subject=template.subject,
            body=template.body,
            layout=template.layout,
            is_active=template.is_active,
            saved=template,
        )


def _default_text(key: str) -> TemplateText | None:
    default = DEFAULT_TEMPLATES.get(key)
    if default is None:
        return None
    return TemplateText(key, default.name, default.subject, default.body, default.layout)


def template_text_get(*, school: School, key: str) -> TemplateText:
    """The wording for `key` at this school. Raises Http404 for a key that is neither saved nor shipped."""
    saved = LetterTemplate.objects.filter(school=school, key=key).first()
    if saved is not None:
        return TemplateText.of(saved)
    default = _default_text(key)
    if default is None:
        raise Http404("No such letter template.")
    return default


def template_text_list(*, school: School) -> list[TemplateText]:
    """Every template the school can use: its saved ones, and each shipped default it has not saved yet."""
    saved = {
        t.key: TemplateText.of(t) for t in LetterTemplate.objects.filter(school=school).select_related("updated_by")
    }
    texts = [saved.pop(key, None) or _default_text(key) for key in DEFAULT_TEMPLATES]
    return [t for t in texts if t is not None] + sorted(saved.values(), key=lambda t: t.name)


# --- letters and batches ---------------------------------------------------------------


def stage_letters_given(*, changes: Sequence[Any]) -> set[tuple[int, str]]:
    """(stage change, template key) of every letter these stage changes queued, whatever became of it."""
    return set(Letter.objects.filter(stage_change__in=changes).values_list("stage_change_id", "template__key"))


@dataclass(frozen=True)
class AlreadyWaiting:
    """The pupil's other letters from a template still waiting to print, and whether this form's is one."""

    others: list[Letter]  # oldest first
    resent: bool  # the form's own letter is queued already: a second click, answered with that letter


def letters_waiting(*, pupil: Pupil, key: str, dedupe: str) -> AlreadyWaiting:
    """The pupil's letters from this template still waiting to print, told apart from the one a form
    queued under `dedupe` (`services.letter_queue`): a second copy goes only when asked for by name."""
    waiting = (
        Letter.objects.filter(pupil=pupil, template__key=key, status=Letter.Status.QUEUED)
        .select_related("template")
        .order_by("queued_on", "pk")
    )
    mine = [letter.dedupe_key.startswith(f"{dedupe}:") for letter in waiting]
    return AlreadyWaiting([letter for letter, own in zip(waiting, mine, strict=True) if not own], any(mine))


#: The order letters print in, so the office can match the queue and batch pages to the pile of paper.
PRINT_ORDER = ("pupil__registration_group__name", "pupil__surname", "pupil__forename", "pk")


def _letters(access: Access) -> QuerySet[Letter]:
    return Letter.objects.filter(school=access.school, pupil__in=visible_pupils(access))


def letter_list(
    *,
    access: Access,
    status: str = "",
    template_key: str = "",
    search: str = "",
    class_id: int | None = None,
) -> QuerySet[Letter]:
    """The queue page's letters: everything the template needs is fetched here, in a fixed number of queries."""
    letters = _letters(access)
    if status:
        letters = letters.filter(status=status)
    if template_key:
        letters = letters.filter(template__key=template_key)
    if class_id:
        letters = letters.filter(pupil__registration_group_id=class_id)
    for word in search.split()[:4]:
        letters = letters.filter(
            Q(pupil__forename__icontains=word) | Q(pupil__surname__icontains=word) | Q(pupil__upn__iexact=word)
        )
    return (
        letters.select_related("pupil__registration_group", "template", "contact", "print_batch", "posted_by")
        .prefetch_related(_carers())
        .order_by(*PRINT_ORDER)
    )


def _carers() -> Prefetch:
    return Prefetch("pupil__contacts", queryset=Contact.objects.order_by("priority", "pk"))


def letter_for(access: Access, pk: int) -> Letter:
    """One letter at the person's school, for a pupil they may see; otherwise 404."""
    try:
        return (
            _letters(access)
            .select_related("pupil__registration_group", "pupil__year_group", "template", "contact", "print_batch")
            .prefetch_related(_carers())
            .get(pk=pk)
        )
    except Letter.DoesNotExist:
        raise Http404("Not found") from None


def print_batch_for(access: Access, pk: int) -> PrintBatch:
    """One print batch of the person's school; otherwise 404."""
    try:
        return PrintBatch.objects.select_related("created_by").get(pk=pk, school=access.school)
    except PrintBatch.DoesNotExist:
        raise Http404("Not found") from None


def batch_letters(*, batch: PrintBatch) -> QuerySet[Letter]:
    """A batch's letters in the order they come out of the printer."""
    return (
        batch.letters.select_related("pupil__registration_group", "template", "contact")
        .prefetch_related(_carers())
        .order_by(*PRINT_ORDER)
    )


def letters_for_render(letters: QuerySet[Letter]) -> list[Letter]:
    """Letters with everything their facts need, in print order (by class, then surname)."""
    return list(
        letters.select_related(
            "school",
            "pupil__registration_group",
            "pupil__year_group",
            "template",
            "stage_change__to_stage",
        )
        .prefetch_related(_carers())
        .order_by(*PRINT_ORDER)
    )


def queue_counts(*, access: Access) -> dict[str, int]:
    counts = dict.fromkeys(Letter.Status.values, 0)
    for row in _letters(access).values("status").order_by().annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


# --- attendance figures for letters ----------------------------------------------------


def attendance_summaries(
    *, school: School, pupils: Sequence[Pupil], windows: Iterable[tuple[date, date]]
) -> dict[tuple[date, date], dict[int, AttendanceSummary]]:
    """Each pupil's summary for each window: one query for the marks, counted by `pupils.statistics`.

    The same rules as the DfE summary (`summarise`), so a letter quotes the
    figures staff see everywhere else. Windows that end before they start
    count nothing.
    """
    windows = sorted(set(windows))
    empty = AttendanceSummary(session_minutes=school.session_minutes)
    result: dict[tuple[date, date], dict[int, AttendanceSummary]] = {w: {} for w in windows}
    real = [(s, e) for s, e in windows if s <= e]
    if not pupils or not real:
        return {w: {p.pk: empty for p in pupils} for w in windows}
    first, last = min(s for s, _ in real), max(e for _, e in real)
    marks: dict[int, list[MarkFact]] = defaultdict(list)
    rows = AttendanceMark.objects.filter(
        pupil_id__in=[p.pk for p in pupils], date__gte=first, date__lte=last
    ).values_list("pupil_id", "date", "session", "code")
    for pupil_id, day, session, code in rows.iterator(chunk_size=20_000):
        marks[pupil_id].append(MarkFact(day, session, code))
    for start, end in windows:
        for pupil in pupils:
            result[(start, end)][pupil.pk] = (
                summarise(
                    marks.get(pupil.pk, ()),
                    start=start,
                    end=end,
                    on_roll_from=pupil.start_on,
                    on_roll_to=pupil.leaving_on,
                    born=pupil.date_of_birth,
                    session_minutes=school.session_minutes,
                )
                if start <= end
                else empty
            )
    return result


def wording_problem(*, school: School, pupil: Pupil, key: str, on: date) -> str:
    """`rules.wording_problem` for this pupil, with the figures a letter queued on `on` would print."""
    if key not in (rules.FULL_ATTENDANCE, rules.IMPROVING):
        return ""
    calendar = school_calendar(school)
    windows = _windows(calendar, calendar.register_day(on))
    (year_start, _), (half_start, _) = windows.pop("year"), windows["half_term"]
    windows["before_half_term"] = (year_start, half_start - timedelta(days=1))  # empty in the first half-term
    figures = attendance_summaries(school=school, pupils=[pupil], windows=windows.values())
    return rules.wording_problem(
        key, forename=pupil.forename, **{name: figures[window][pupil.pk] for name, window in windows.items()}
    )


def _windows(calendar: SchoolCalendar, as_of: date) -> dict[str, tuple[date, date]]:
    return {
        "year": calendar.academic_year_window(as_of),
        "term": calendar.term_window(as_of),
        "half_term": calendar.half_term_window(as_of),
    }


def _term_name(calendar: SchoolCalendar, as_of: date) -> str:
    current = calendar.current_half_term(as_of)
    if current is None:
        return "this school year"
    return f"the {current.term.capitalize()} term"


def school_facts(school: School) -> merge.SchoolFacts:
    return merge.SchoolFacts(
        name=school.name,
        address_lines=tuple(line.strip() for line in school.address.splitlines() if line.strip()),
        phone=school.phone,
        email=school.email,
        signatory_name=school.signatory_name,
        signatory_role=school.signatory_role,
    )


#: How long the person who marked letters posted may take it back: a click on the wrong batch, say.
UNPOST_MINUTES = 10


def marked_posted_lately(letters: QuerySet[Letter], *, user: Any) -> QuerySet[Letter]:
    """Of these letters, those this person marked posted in the last UNPOST_MINUTES."""
    since = timezone.now() - timedelta(minutes=UNPOST_MINUTES)
    return letters.filter(status=Letter.Status.POSTED, posted_by=user, posted_at__gte=since)


def unpostable(letters: QuerySet[Letter], *, user: Any) -> QuerySet[Letter]:
    """Of these letters, those this person may take back marking posted (`marked_posted_lately`).

    Not a letter whose record of posting someone has corrected since: that record stays, and so does the
    letter's posting (`services.letters_unpost`).
    """
    return marked_posted_lately(letters, user=user).exclude(posting_record__corrections__isnull=False)


def batch_unpostable(*, batch: PrintBatch, user: Any) -> QuerySet[Letter]:
    """The batch's letters this person may take back marking posted (`unpostable`)."""
    return unpostable(batch.letters.all(), user=user)


def carers_of(pupil: Pupil) -> list[rules.Carer]:
    """The pupil's carers as plain data (uses prefetched contacts when there are some)."""
    return carers_from(pupil.contacts.all())


def carers_from(contacts: Iterable[Contact]) -> list[rules.Carer]:
    """Contacts (one pupil's, already read) as plain data."""
    return [
        rules.Carer(c.pk, c.name, tuple(c.address_lines), c.receives_letters, c.priority, c.salutation)
        for c in contacts
    ]


def recipient_of(letter: Letter, *, carers: Sequence[rules.Carer] | None = None) -> rules.Recipient:
    """Who the letter is addressed to: as it printed, once it has; until then, from the pupil's carers now
    (`carers`, if already read: `carers_from`)."""
    by_hand = letter.template.layout == LetterTemplate.Layout.CERTIFICATE
    if letter.printed_at and letter.sent_to_name:
        lines = tuple(line for line in letter.sent_to_address.splitlines() if line)
        return rules.Recipient(letter.contact_id, (letter.sent_to_name,), lines, by_hand=by_hand)
    if by_hand:
        return rules.Recipient(None, (letter.pupil.full_name,), (), by_hand=True)
    return rules.recipient_for(
        carers_of(letter.pupil) if carers is None else carers,
        addressing=letter.addressing,
        contact_id=letter.contact_id,
    )


def _registers_up_to(pupils: Sequence[Pupil], *, days: Iterable[date]) -> dict[date, date]:
    """For each day, the last day on or before it with a register mark for any of these pupils: what a
    letter's "up to" may truthfully say. The day itself if none is found in the four weeks before it. One query."""
    days = sorted(set(days))
    if not days:
        return {}
    marked = sorted(
        AttendanceMark.objects.filter(
            pupil_id__in=[pupil.pk for pupil in pupils], date__lte=days[-1], date__gt=days[0] - timedelta(weeks=4)
        )
        .order_by()
        .values_list("date", flat=True)
        .distinct()
    )
    found = {}
    for day in days:
        at = bisect.bisect_right(marked, day)
        found[day] = marked[at - 1] if at and marked[at - 1] > day - timedelta(weeks=4) else day
    return found


#: How many earlier wordings of a letter its page lists (every one is kept: Django admin shows them all).
VERSIONS_SHOWN = 20


def template_versions(*, school: School, text: TemplateText) -> list[LetterTemplateRevision]:
    """The school's saved wordings of a letter, newest first, each with `in_use`: whether it is the wording
    the letter has now (the newest saved one, unless the letter was changed since without a revision)."""
    versions = list(
        LetterTemplateRevision.objects.filter(template__school=school, template__key=text.key)
        .select_related("saved_by")
        .order_by("-saved_at", "-pk")[:VERSIONS_SHOWN]
    )
    now = (text.subject, text.body, text.layout)
    for i, version in enumerate(versions):
        version.in_use = i == 0 and (version.subject, version.body, version.layout) == now
    return versions


def template_version(*, school: School, key: str, version: str) -> Any:
    """An earlier wording to put back in the editor: a revision of this school's letter by its id, or
    "shipped" for the wording the product ships (a DefaultTemplate). None for anything else."""
    if version == "shipped":
        return DEFAULT_TEMPLATES.get(key)
    if not version.isdigit():
        return None
    return LetterTemplateRevision.objects.filter(template__school=school, template__key=key, pk=int(version)).first()


def letter_facts(
    letters: Sequence[Letter], *, school: School, settings: LetterSettings, dated: date
) -> list[merge.LetterFacts]:
    """The facts for each letter, in order, with a fixed number of queries however many letters there are.

    Figures count the register up to the day each letter was queued (the day
    the night decided, or the day staff wrote it), or the school day before
    it if that was not one, so the preview, the print and a reprint all say
    the same thing.
    """
    calendar = school_calendar(school)
    pupils = list({letter.pupil_id: letter.pupil for letter in letters}.values())
    windows_of: dict[int, dict[str, tuple[date, date]]] = {}
    for letter in letters:
        windows = _windows(calendar, calendar.register_day(letter.queued_on))
        if letter.period_start and letter.period_end:
            windows["period"] = (letter.period_start, letter.period_end)
        else:
            windows["period"] = windows["term"]
        windows_of[letter.pk or id(letter)] = windows
    summaries = attendance_summaries(
        school=school, pupils=pupils, windows=[w for ws in windows_of.values() for w in ws.values()]
    )
    counted_to = _registers_up_to(pupils, days={calendar.register_day(letter.queued_on) for letter in letters})
    placements = {
        p.pupil_id: p
        for p in Placement.objects.filter(
            pupil_id__in=[p.pk for p in pupils], ladder__school=school, ladder__is_active=True
        ).select_related("stage")
    }
    school_fact = school_facts(school)
    printed = _printed_letters(pupils)
    facts = []
    for letter in letters:
        windows = windows_of[letter.pk or id(letter)]
        figures = {name: summaries[window][letter.pupil_id] for name, window in windows.items()}
        pupil = letter.pupil
        period_start, period_end = windows["period"]
        # A pupil's own period: "every single day from 2 September" is untrue of one who joined in October.
        period_start = max(period_start, pupil.start_on)
        period_end = min(period_end, pupil.leaving_on or period_end)
        facts.append(
            merge.LetterFacts(
                reference=letter.reference,
                dated=dated,
                # The last day counted: Saturday's night says Friday, and so does Monday morning's
                # approval, before Monday's register is taken.
                as_of=counted_to[calendar.register_day(letter.queued_on)],
                school=school_fact,
                recipient=recipient_of(letter),
                pupil=merge.PupilFacts(
                    pupil.forename, pupil.surname, pupil.registration_group.name, pupil.year_group.name
                ),
                year=figures["year"],
                term=figures["term"],
                half_term=figures["half_term"],
                period=merge.Period(
                    letter.period_name or _term_name(calendar, letter.queued_on),
                    period_start,
                    period_end,
                    figures["period"],
                ),
                stage=_stage_facts(letter, placements.get(letter.pupil_id)),
                details={k: str(v) for k, v in (letter.details or {}).items() if v not in (None, "")},
                earlier_letters=_earlier_letters(letter, printed.get(letter.pupil_id, ()), windows["year"][0]),
                joined=_joined(pupil, year_start=windows["year"][0]),
                rag_green_from=settings.rag_green_from,
                rag_amber_from=settings.rag_amber_from,
            )
        )
    return facts


def _joined(pupil: Pupil, *, year_start: date) -> date | None:
    """The day the pupil came on roll, if it was after the school year's first week: their year's figures
    start there, and a letter says so. Within the first week (the year's first day may be an INSET day,
    and a school may record pupils from the first day they came), the figures are the year's."""
    return pupil.start_on if pupil.start_on > year_start + timedelta(days=7) else None


def _printed_letters(pupils: Sequence[Pupil]) -> dict[int, list[tuple[int, int | None, date]]]:
    """Each pupil's printed letters about attendance: (letter id, print batch id, day printed).

    Letters, not reports or certificates, and not the congratulations a pupil's
    improving stages send: what a family would call "a letter about attendance".
    """
    found: dict[int, list[tuple[int, int | None, date]]] = defaultdict(list)
    rows = (
        Letter.objects.filter(
            pupil_id__in=[p.pk for p in pupils],
            status__in=[Letter.Status.PRINTED, Letter.Status.POSTED],
            template__layout=LetterTemplate.Layout.LETTER,
            printed_at__isnull=False,
        )
        .exclude(stage_change__to_stage__track="improving")
        .values_list("pk", "pupil_id", "print_batch_id", "printed_at")
    )
    for pk, pupil_id, batch_id, printed_at in rows:
        found[pupil_id].append((pk, batch_id, timezone.localdate(printed_at)))
    return found


def _earlier_letters(
    letter: Letter, printed: Sequence[tuple[int, int | None, date]], year_start: date
) -> tuple[date, ...]:
    """The days the pupil's earlier letters were printed: this school year, by the day this one was queued.

    Not this letter, and not the others printed in the same batch as it: so
    its preview, its print and a reprint say the same.
    """
    return tuple(
        sorted(
            day
            for pk, batch_id, day in printed
            if pk != letter.pk
            and (batch_id is None or batch_id != letter.print_batch_id)
            and year_start <= day <= letter.queued_on
        )
    )


def _stage_facts(letter: Letter, placement: Placement | None) -> merge.StageFacts | None:
    if letter.stage_change_id is not None:
        stage = letter.stage_change.to_stage
        return merge.StageFacts(stage.name, stage.label, stage.description, letter.stage_change.on)
    if placement is not None:
        return merge.StageFacts(
            placement.stage.name, placement.stage.label, placement.stage.description, placement.since
        )
    return None
