"""Every write to letter templates, letter settings, letters and print batches.

`grep "def letter"` lists everything the code can do to a letter. Nothing is
sent twice by accident: queueing is keyed (`Letter.dedupe_key`, with a unique
constraint behind it), printing claims letters with a conditional update and
keeps each PDF as printed, and posting only moves printed letters on.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, prefetch_related_objects
from django.utils import timezone

from interventions.models import ActionLog, StageChange
from pupils.models import AuditEvent, Pupil, School
from pupils.selectors import pupils_on_roll_between
from pupils.services import audit_record

from . import merge, pdf, rendering, rules, sandbox, selectors
from .defaults import DEFAULT_TEMPLATES, NEW_TEMPLATE_BODY
from .models import Letter, LetterSettings, LetterTemplate, LetterTemplateRevision, PrintBatch

logger = logging.getLogger(__name__)

#: Batches bigger than this are printed by a Celery worker, with progress on the page
#: (settings.LETTERS_BACKGROUND_FROM overrides it).
BACKGROUND_FROM = 50


# --- templates ---------------------------------------------------------------------------


def letter_template_names(*, school: School | None) -> dict[str, str]:
    """Key -> name of the templates a school's ladders may name: the shipped defaults and the school's own."""
    names = {key: default.name for key, default in DEFAULT_TEMPLATES.items()}
    if school is not None and school.pk:
        names.update(LetterTemplate.objects.filter(school=school).values_list("key", "name"))
    return names


def letter_template_get_or_create(*, school: School, key: str) -> LetterTemplate:
    """The school's template for `key`, made from the shipped default on first use. Idempotent."""
    default = DEFAULT_TEMPLATES.get(key)
    defaults = (
        {"name": default.name, "subject": default.subject, "body": default.body, "layout": default.layout}
        if default
        else {"name": key.replace("_", " ").capitalize(), "subject": "", "body": NEW_TEMPLATE_BODY}
    )
    template, _ = LetterTemplate.objects.get_or_create(school=school, key=key, defaults=defaults)
    return template


def template_problems(*, subject: str, body: str) -> dict[str, list[str]]:
    """What is wrong with a template's subject and body, by field, each message naming its line."""
    problems = {
        name: [str(p) for p in sandbox.check(source, fields=merge.FIELD_NAMES)]
        for name, source in (("subject", subject), ("body", body))
    }
    if "\n" in subject.strip():
        problems["subject"].append("The subject must be one line.")
    return {name: messages for name, messages in problems.items() if messages}


@transaction.atomic
def letter_template_save(
    *,
    school: School,
    key: str,
    name: str,
    subject: str,
    body: str,
    layout: str,
    is_active: bool = True,
    user: Any = None,
) -> LetterTemplate:
    """Save a school's template (creating its copy of a default on first save), keeping the old wording.

    Raises ValidationError, saving nothing, if the subject or body has a
    syntax error or a field that is not a merge field: the message names the
    line. Not idempotent in the history: each save keeps a revision.
    """
    problems = template_problems(subject=subject, body=body)
    if problems:
        raise ValidationError(problems)
    template = LetterTemplate.objects.select_for_update().filter(school=school, key=key).first()
    creating = template is None
    if template is None:
        template = LetterTemplate(school=school, key=key)
    template.name, template.subject, template.body = name.strip(), subject.strip(), body.replace("\r\n", "\n")
    template.layout, template.is_active = layout, is_active
    template.updated_by = user if getattr(user, "is_authenticated", False) else None
    template.full_clean()
    if creating:
        template.save()
    else:
        template.save(update_fields=["name", "subject", "body", "layout", "is_active", "updated_by", "updated_at"])
    LetterTemplateRevision.objects.create(
        template=template,
        name=template.name,
        subject=template.subject,
        body=template.body,
        layout=template.layout,
        saved_by=template.updated_by,
    )
    audit_record(school=school, user=user, verb=AuditEvent.Verb.CHANGE, what=f"letter template '{template.name}' saved")
    return template


@transaction.atomic
def letter_settings_save(
    *,
    school: School,
    user: Any,
    addressing: str,
    rag_green_from: Decimal,
    rag_amber_from: Decimal,
    footer: str,
    logo: Any = None,
    remove_logo: bool = False,
    **school_details: str,
) -> LetterSettings:
    """Save the school's letterhead and letter choices. Raises ValidationError if amber starts above green.

    `school_details` (any of `selectors.LETTERHEAD_DETAILS`: address, phone, e-mail, who
    signs) are saved on the school itself; those not given are left alone.
    """
    if rag_amber_from > rag_green_from:
        raise ValidationError({"rag_amber_from": "Amber must start at or below green."})
    unknown = set(school_details) - set(selectors.LETTERHEAD_DETAILS)
    if unknown:
        raise TypeError(f"not a school detail: {', '.join(sorted(unknown))}")
    letterhead = None  # a copy of the school's row: `school` changes only once everything is saved
    if school_details:
        letterhead = School.objects.select_for_update().get(pk=school.pk)
        for name, value in school_details.items():
            setattr(letterhead, name, value.strip())
        letterhead.full_clean(exclude=[f.name for f in School._meta.fields if f.name not in school_details])
    found = LetterSettings.objects.select_for_update().filter(school=school).first()
    settings = found or LetterSettings(school=school)
    settings.addressing, settings.footer = addressing, footer.strip()
    settings.rag_green_from, settings.rag_amber_from = rag_green_from, rag_amber_from
    settings.updated_by = user if getattr(user, "is_authenticated", False) else None
    if remove_logo:
        settings.logo = ""
    if logo is not None:
        data = logo.read()
        if rendering.image_type(data) is None:
            raise ValidationError({"logo": "The logo must be a PNG or JPEG image."})
        if len(data) > rendering.LOGO_MAX_BYTES:
            raise ValidationError({"logo": "The logo must be 500 KB or smaller."})
        settings.logo.save(f"{school.urn}-logo", ContentFile(data), save=False)
    settings.full_clean()
    settings.save()
    what = "letter settings saved"
    if letterhead is not None:
        changed = [name for name in school_details if getattr(letterhead, name) != getattr(school, name)]
        letterhead.save(update_fields=list(school_details))
        for name in school_details:
            setattr(school, name, getattr(letterhead, name))
        if changed:
            what = f"letter settings saved; letterhead changed: {', '.join(_LETTERHEAD_WORDS[n] for n in changed)}"
    audit_record(school=school, user=user, verb=AuditEvent.Verb.CHANGE, what=what)
    return settings


_LETTERHEAD_WORDS = {
    "address": "address",
    "phone": "phone number",
    "email": "e-mail",
    "signatory_name": "who signs",
    "signatory_role": "their role",
}


# --- queueing ------------------------------------------------------------------------------


@dataclass
class Queued:
    letters: list[Letter] = field(default_factory=list)
    created: int = 0


def letter_details_asked(template: LetterTemplate | selectors.TemplateText) -> set[str]:
    """The details (`merge.DETAIL_KEYS`) a template prints: a letter's form asks only for those.

    A meeting's date, time and place go together (a time is checked against its date)."""
    used = sandbox.fields_used(template.subject) | sandbox.fields_used(template.body)
    asked = {key for key, field in merge.DETAIL_FIELDS.items() if field in used}
    meeting = {"meeting_on", "meeting_time", "meeting_place"}
    return asked | meeting if asked & meeting else asked


def _details(details: Mapping[str, Any] | None) -> dict[str, str]:
    return {k: str(v) for k, v in (details or {}).items() if k in merge.DETAIL_KEYS and v not in (None, "")}


def _contact_ids(template: LetterTemplate, pupil: Pupil, addressing: str) -> list[int | None]:
    """Whom a pupil's letter goes to: one contact id a letter; a certificate goes to the pupil (None)."""
    if template.layout == LetterTemplate.Layout.CERTIFICATE:
        return [None]
    return [r.contact_id for r in rules.recipients(selectors.carers_of(pupil), addressing=addressing)]


@transaction.atomic
def letter_queue(
    *,
    school: School,
    pupil: Pupil,
    key: str,
    on: date,
    user: Any = None,
    stage_change: StageChange | None = None,
    details: Mapping[str, Any] | None = None,
    period: tuple[date, date, str] | None = None,
    dedupe: str = "",
) -> Queued:
    """Queue a letter for a pupil: one per household, per carer or jointly, as the school chose.

    Certificates go to the pupil (one, no address). With `dedupe`, asking
    again for the same letter returns the letters already queued (the
    unique constraint on `dedupe_key` backs this up under concurrency).
    Raises ValidationError if the pupil is not at the school.
    """
    if pupil.school_id != school.pk:
        raise ValidationError("This pupil is not at this school.")
    template = letter_template_get_or_create(school=school, key=key)
    addressing = selectors.letter_settings_get(school=school).addressing
    result = Queued()
    user = user if getattr(user, "is_authenticated", False) else None
    for contact_id in _contact_ids(template, pupil, addressing):
        fields = {
            "school": school,
            "pupil": pupil,
            "template": template,
            "contact_id": contact_id,
            "addressing": addressing,
            "stage_change": stage_change,
            "queued_on": on,
            "queued_by": user,
            "details": _details(details),
            "period_start": period[0] if period else None,
            "period_end": period[1] if period else None,
            "period_name": period[2] if period else "",
        }
        letter, created = _letter_create(fields, dedupe_key=f"{dedupe}:{contact_id or 'none'}" if dedupe else "")
        result.letters.append(letter)
        result.created += created
    return result


def _letter_create(fields: dict[str, Any], *, dedupe_key: str) -> tuple[Letter, bool]:
    """The letter with this key if there is one, otherwise a new one, checked before it is saved."""
    if dedupe_key:
        existing = Letter.objects.filter(school=fields["school"], dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing, False
    letter = Letter(dedupe_key=dedupe_key, **fields)
    # The related rows were loaded by the caller; the unique key is left to the database below.
    letter.full_clean(
        exclude=["school", "pupil", "template", "contact", "stage_change", "queued_by"], validate_constraints=False
    )
    try:
        with transaction.atomic():
            letter.save()
    except IntegrityError:
        # Another request queued the same letter between the check and the save.
        if not dedupe_key:
            raise
        return Letter.objects.get(school=fields["school"], dedupe_key=dedupe_key), False
    return letter, True


def letters_queue_for_stage_changes(
    *, entries: Sequence[tuple[StageChange, Sequence[str]]], on: date, user: Any = None
) -> int:
    """Queue the letters of stages pupils entered (the night's movers, or a person's move).

    Idempotent per stage change and template: a letter already queued for it
    (by any addressing) is not queued again. A fixed number of queries however
    many stage changes, so a night with many movers stays quick; every change
    must be at one school. Unprinted letters from a moved pupil's earlier
    stages are withdrawn, except on a move up to a stage that sends no
    letter of its own: the family would then get nothing in writing, so the
    earlier letter still goes. Returns how many letters were new.
    """
    superseding = {change for change, keys in entries if keys or not _up_the_ladder(change)}
    if superseding:
        _letters_supersede(changes=superseding, user=user)
    wanted = [(change, key) for change, keys in entries for key in dict.fromkeys(keys)]
    if not wanted:
        return 0
    pupils = [change.pupil for change, _ in wanted]
    if len({pupil.school_id for pupil in pupils}) > 1:
        raise ValueError("letters_queue_for_stage_changes takes one school's stage changes at a time")
    school = pupils[0].school
    already = set(
        Letter.objects.filter(stage_change__in={change for change, _ in wanted}).values_list(
            "stage_change_id", "template__key"
        )
    )
    wanted = [(change, key) for change, key in wanted if (change.pk, key) not in already]
    templates = {key: letter_template_get_or_create(school=school, key=key) for key in sorted({k for _, k in wanted})}
    addressing = selectors.letter_settings_get(school=school).addressing
    prefetch_related_objects(pupils, "contacts")
    user = user if getattr(user, "is_authenticated", False) else None
    letters = []
    for change, key in wanted:
        template = templates[key]
        letters += [
            Letter(
                school=school,
                pupil=change.pupil,
                template=template,
                contact_id=contact_id,
                addressing=addressing,
                stage_change=change,
                queued_on=on,
                queued_by=user,
                dedupe_key=f"stage:{change.pk}:{key}:{contact_id or 'none'}",
            )
            for contact_id in _contact_ids(template, change.pupil, addressing)
        ]
    # The unique (school, dedupe key) backs up the check above against a racing request.
    Letter.objects.bulk_create(letters, ignore_conflicts=True)
    return len(letters)


def _up_the_ladder(change: Any) -> bool:
    """Whether the change moves a pupil to a more serious stage (further along the falling track)."""
    before, after = change.from_stage, change.to_stage
    return before is not None and before.track == after.track == "falling" and after.position > before.position


def _letters_supersede(*, changes: Collection[StageChange], user: Any) -> None:
    """Withdraw a moved pupil's unprinted letters from earlier stages: they speak of a stage the pupil has left.

    Only a move from one stage to another on the same ladder withdraws: a first
    placement (a new ladder's first night, a pupil back on roll) leaves letters
    alone. A letter queued by a person (no stage change) stays, and so does one
    whose details someone filled in (a meeting arranged): someone chose to send
    it. One query when there is nothing to withdraw.
    """
    latest: dict[int, StageChange] = {}
    for change in changes:
        if change.from_stage_id is None:
            continue
        if change.pupil_id not in latest or (change.on, change.pk) > (
            latest[change.pupil_id].on,
            latest[change.pupil_id].pk,
        ):
            latest[change.pupil_id] = change
    stale = list(
        Letter.objects.filter(
            pupil_id__in=latest,
            status=Letter.Status.QUEUED,
            print_batch__isnull=True,
            stage_change__ladder_id__in={change.ladder_id for change in latest.values()},
            details={},
        )
        .exclude(stage_change__in=[change.pk for change in latest.values()])
        .select_related("pupil", "school", "template", "stage_change")
    )
    stale = [letter for letter in stale if letter.stage_change.ladder_id == latest[letter.pupil_id].ladder_id]
    if not stale:
        return
    now = timezone.now()
    user = user if getattr(user, "is_authenticated", False) else None
    for letter in stale:
        letter.status, letter.cancelled_at, letter.cancelled_by = Letter.Status.CANCELLED, now, user
        letter.superseded_by = latest[letter.pupil_id]
    Letter.objects.bulk_update(stale, ["status", "cancelled_at", "cancelled_by", "superseded_by"])
    for letter in stale:
        audit_record(
            school=letter.school,
            user=user,
            verb=AuditEvent.Verb.CHANGE,
            what=f"letter {letter.reference} ({letter.template.name}) withdrawn unprinted:"
            f" the pupil moved to {letter.superseded_by.to_stage.name}",
            pupil=letter.pupil,
        )


@transaction.atomic
def letters_withdraw_for_leavers(*, school: School, letter_ids: Collection[int] | None, user: Any) -> list[Letter]:
    """Withdraw the ladder's unprinted letters to pupils who have left the school: they speak of
    attendance at a school the child no longer attends. Returns the letters withdrawn.

    Among `letter_ids` (None: every letter waiting). A pupil has left once
    their leaving day has passed. As with a move (`_letters_supersede`), a
    letter a person queued, or whose details someone filled in, stays:
    someone chose to send it; the queue shows the pupil has left.
    """
    today = timezone.localdate()
    letters = Letter.objects.filter(
        school=school,
        status=Letter.Status.QUEUED,
        print_batch__isnull=True,
        stage_change__isnull=False,
        details={},
        pupil__leaving_on__lt=today,  # as Pupil.has_left
    )
    if letter_ids is not None:
        letters = letters.filter(pk__in=list(letter_ids))
    # Locked, so a print claiming the same letters waits and then finds them withdrawn.
    withdrawn = list(
        letters.select_for_update(of=("self",)).select_related("pupil", "template").order_by(*selectors.PRINT_ORDER)
    )
    if not withdrawn:
        return []
    now, user = timezone.now(), user if getattr(user, "is_authenticated", False) else None
    for letter in withdrawn:
        letter.status, letter.cancelled_at, letter.cancelled_by = Letter.Status.CANCELLED, now, user
        letter.withdrawn_because = f"{letter.pupil.forename} left the school on {letter.pupil.leaving_on:%-d %b %Y}"
    Letter.objects.bulk_update(withdrawn, ["status", "cancelled_at", "cancelled_by", "withdrawn_because"])
    for letter in withdrawn:
        audit_record(
            school=school,
            user=user,
            verb=AuditEvent.Verb.CHANGE,
            what=f"letter {letter.reference} ({letter.template.name}) withdrawn unprinted: {letter.withdrawn_because}",
            pupil=letter.pupil,
        )
    return withdrawn


def letters_queue_for_stage_change(*, stage_change: Any, letter_keys: list[str], on: date, user: Any = None) -> int:
    """One stage change's letters (`letters_queue_for_stage_changes` for a list of one)."""
    return letters_queue_for_stage_changes(entries=[(stage_change, letter_keys)], on=on, user=user)


@transaction.atomic
def letters_bulk_queue(
    *,
    school: School,
    key: str,
    start: date,
    end: date,
    period_name: str,
    on: date,
    user: Any = None,
    full_attendance_only: bool = False,
) -> Queued:
    """Queue a letter for every pupil on roll at the end of [start, end], and still on `on`, with a register in it:
    termly reports, or certificates. Not for a pupil who left during the period (their family is no longer
    ours to report to), nor for one with no possible session in it (there is nothing to say).

    With `full_attendance_only`, only pupils who attended every possible
    session of the period get one: the 100% certificates. Idempotent: asking
    again for the same template and period queues only what is missing.
    Raises ValidationError if the period ends before it starts.
    """
    if end < start:
        raise ValidationError("The period must end on or after the day it starts.")
    pupils = list(
        pupils_on_roll_between(school=school, start=start, end=end)
        .filter(Q(leaving_on__isnull=True) | Q(leaving_on__gte=max(end, on)))  # and still ours the day they go
        .select_related("registration_group")
        .prefetch_related("contacts")
        .order_by("registration_group__name", "surname", "forename")
    )
    figures = selectors.attendance_summaries(school=school, pupils=pupils, windows=[(start, end)])[(start, end)]
    pupils = [p for p in pupils if figures[p.pk].possible]
    if full_attendance_only:
        pupils = [p for p in pupils if rules.full_attendance(figures[p.pk])]
    template = letter_template_get_or_create(school=school, key=key)
    addressing = selectors.letter_settings_get(school=school).addressing
    user = user if getattr(user, "is_authenticated", False) else None
    prefix = f"bulk:{key}:{start.isoformat()}:{end.isoformat()}"
    wanted: dict[str, Letter] = {}
    for pupil in pupils:
        for contact_id in _contact_ids(template, pupil, addressing):
            dedupe_key = f"{prefix}:{pupil.pk}:{contact_id or 'none'}"
            wanted[dedupe_key] = Letter(
                school=school,
                pupil=pupil,
                template=template,
                contact_id=contact_id,
                addressing=addressing,
                dedupe_key=dedupe_key,
                queued_on=on,
                queued_by=user,
                period_start=start,
                period_end=end,
                period_name=period_name,
            )
    existing = set(
        Letter.objects.filter(school=school, dedupe_key__startswith=f"{prefix}:").values_list("dedupe_key", flat=True)
    )
    missing = [letter for k, letter in wanted.items() if k not in existing]
    # ignore_conflicts: a second request racing this one cannot make duplicates (the unique key refuses them).
    Letter.objects.bulk_create(missing, batch_size=500, ignore_conflicts=True)
    letters = list(Letter.objects.filter(school=school, dedupe_key__in=list(wanted)))
    if missing:
        audit_record(
            school=school,
            user=user,
            verb=AuditEvent.Verb.CHANGE,
            what=f"queued {len(missing)} '{template.name}' letters for {period_name}",
        )
    return Queued(letters=letters, created=len(missing))


@transaction.atomic
def letter_details_update(*, letter: Letter, details: Mapping[str, Any], user: Any) -> Letter:
    """Set a queued letter's meeting, review and note details. Raises ValidationError once it has printed."""
    letter = Letter.objects.select_for_update().get(pk=letter.pk)
    if letter.status != Letter.Status.QUEUED or letter.print_batch_id:
        raise ValidationError("This letter has been printed (or is printing): its details can no longer change.")
    letter.details = _details(details)
    letter.save(update_fields=["details"])
    audit_record(
        school=letter.school,
        user=user,
        verb=AuditEvent.Verb.CHANGE,
        what=f"letter {letter.reference} details changed",
        pupil=letter.pupil,
    )
    return letter


@transaction.atomic
def letter_cancel(*, letter: Letter, user: Any) -> bool:
    """Take a letter out of the queue. Idempotent: False if it was already cancelled.

    Raises ValidationError for a letter that is printing, printed or posted:
    those are records of what was sent.
    """
    letter = Letter.objects.select_for_update().get(pk=letter.pk)
    if letter.status == Letter.Status.CANCELLED:
        return False
    if letter.status != Letter.Status.QUEUED or letter.print_batch_id:
        raise ValidationError("Only a letter waiting to print can be cancelled.")
    letter.status = Letter.Status.CANCELLED
    letter.cancelled_at = timezone.now()
    letter.cancelled_by = user if getattr(user, "is_authenticated", False) else None
    letter.save(update_fields=["status", "cancelled_at", "cancelled_by"])
    audit_record(
        school=letter.school,
        user=user,
        verb=AuditEvent.Verb.CHANGE,
        what=f"letter {letter.reference} cancelled",
        pupil=letter.pupil,
    )
    return True


# --- rendering -------------------------------------------------------------------------------


def letter_sheets(letters: list[Letter], *, school: School, dated: date) -> list[tuple[str, str]]:
    """(anchor, html) for letters loaded with `selectors.letters_for_render`."""
    settings = selectors.letter_settings_get(school=school)
    facts = selectors.letter_facts(letters, school=school, settings=settings, dated=dated)
    texts = [selectors.TemplateText.of(letter.template) for letter in letters]
    head = rendering.letterhead(
        school_facts=facts[0].school if facts else selectors.school_facts(school), settings=settings
    )
    return rendering.sheets_html(facts, texts, head=head)


def letter_preview_html(*, letter: Letter) -> str:
    """A letter's HTML as it would print today (the date on it is today's). Reads only."""
    letters = selectors.letters_for_render(Letter.objects.filter(pk=letter.pk))
    return letter_sheets(letters, school=letter.school, dated=timezone.localdate())[0][1]


def letter_preview_pdf(*, letter: Letter) -> bytes:
    """A queued letter as a PDF, not stored and not marked printed: for checking before printing."""
    return pdf.pdf_one(letter_preview_html(letter=letter))


def letter_draft_html(
    *, school: School, pupil: Pupil, text: selectors.TemplateText, details: Mapping[str, Any], on: date
) -> tuple[str, list[rules.Recipient]]:
    """A letter not yet queued, as it would print, and everyone it would go to. Reads only."""
    template = text.saved or LetterTemplate(
        school=school, key=text.key, name=text.name, subject=text.subject, body=text.body, layout=text.layout
    )
    addressing = selectors.letter_settings_get(school=school).addressing
    letter = Letter(
        school=school, pupil=pupil, template=template, addressing=addressing, queued_on=on, details=_details(details)
    )
    if template.layout == LetterTemplate.Layout.CERTIFICATE:
        to = [selectors.recipient_of(letter)]
    else:
        to = rules.recipients(selectors.carers_of(pupil), addressing=addressing)
    letter.contact_id = to[0].contact_id
    return letter_sheets([letter], school=school, dated=timezone.localdate())[0][1], to


def template_sample_html(*, school: School, subject: str, body: str, layout: str) -> str:
    """A template filled in for a made-up pupil (nobody's real record), for the editor's preview."""
    settings = selectors.letter_settings_get(school=school)
    facts = merge.sample_facts(
        school=selectors.school_facts(school),
        today=timezone.localdate(),
        green_from=settings.rag_green_from,
        amber_from=settings.rag_amber_from,
    )
    text = selectors.TemplateText(key="preview", name="Preview", subject=subject, body=body, layout=layout)
    head = rendering.letterhead(school_facts=facts.school, settings=settings)
    return rendering.sheet_html(facts=facts, text=text, head=head)


# --- printing --------------------------------------------------------------------------------


def letters_print(
    *, school: School, letter_ids: Collection[int] | None, user: Any, background_from: int | None = None
) -> PrintBatch:
    """Print letters waiting in the queue as one PDF, one letter per page, and keep each letter's PDF.

    `letter_ids=None` prints every letter waiting. Letters are claimed for a
    new PrintBatch with a conditional update, so two clicks (or two offices)
    never print a letter twice. Batches bigger than `background_from` (50)
    are rendered by a Celery task after commit, with progress on the batch;
    smaller ones are rendered now. Idempotent: printing letters that are all
    already in one batch returns that batch and its stored PDF. Raises
    ValidationError if none of the letters is waiting to print.
    """
    if background_from is None:
        background_from = getattr(django_settings, "LETTERS_BACKGROUND_FROM", BACKGROUND_FROM)
    with transaction.atomic():
        letters_withdraw_for_leavers(school=school, letter_ids=letter_ids, user=user)
        letters = Letter.objects.select_for_update().filter(school=school)
        letters = letters.filter(pk__in=letter_ids) if letter_ids is not None else letters.filter(status="queued")
        rows = list(letters.values_list("pk", "status", "print_batch_id"))
        waiting = [pk for pk, status, batch_id in rows if status == Letter.Status.QUEUED and batch_id is None]
        if not waiting:
            batch_ids = {batch_id for _, status, batch_id in rows if status != Letter.Status.CANCELLED}
            if len(batch_ids) == 1 and None not in batch_ids:
                return PrintBatch.objects.get(pk=batch_ids.pop())
            raise ValidationError(
                "None of these letters is waiting to print. To print a letter again, open it and choose Reprint."
            )
        batch = PrintBatch.objects.create(
            school=school,
            created_by=user if getattr(user, "is_authenticated", False) else None,
            total=len(waiting),
            phase="Waiting to start",
        )
        claimed = Letter.objects.filter(pk__in=waiting, status=Letter.Status.QUEUED, print_batch__isnull=True).update(
            print_batch=batch
        )
        if claimed != batch.total:
            batch.total = claimed
            batch.save(update_fields=["total"])
        background = claimed > background_from
        if background:
            from .tasks import print_batch_render as print_batch_render_task

            batch_id = batch.pk
            transaction.on_commit(lambda: print_batch_render_task.delay(batch_id))
    if background:
        return batch
    return print_batch_render(batch_id=batch.pk)


def _progress(batch_id: int, phase: str) -> Any:
    def report(done: int, total: int) -> None:
        PrintBatch.objects.filter(pk=batch_id).update(done=done, phase=f"{phase}: {done} of {total}")

    return report


def print_batch_render(*, batch_id: int) -> PrintBatch:
    """Render a claimed batch: one PDF for the lot, one per letter; then mark the letters printed.

    Safe to run twice (the task is acked late): a finished batch is returned
    as it is, and a re-run after a crash starts the rendering again; the
    final write happens in one transaction, under a lock on the batch, only
    if nobody finished it first. On failure the letters go back to the queue
    and the batch says why; nothing is raised.
    """
    claimed = PrintBatch.objects.filter(
        pk=batch_id, status__in=[PrintBatch.Status.PENDING, PrintBatch.Status.RUNNING]
    ).update(status=PrintBatch.Status.RUNNING, started_at=timezone.now(), done=0, phase="Preparing letters")
    batch = PrintBatch.objects.select_related("school").get(pk=batch_id)
    if not claimed:
        return batch
    try:
        return _render_batch(batch)
    except Exception as error:
        logger.exception("print batch %s failed", batch_id)
        with transaction.atomic():
            Letter.objects.filter(print_batch=batch, status=Letter.Status.QUEUED).update(print_batch=None)
            PrintBatch.objects.filter(pk=batch_id).exclude(status=PrintBatch.Status.DONE).update(
                status=PrintBatch.Status.FAILED, error=str(error)[:2000], phase="", finished_at=timezone.now()
            )
        batch.refresh_from_db()
        return batch


def _render_batch(batch: PrintBatch) -> PrintBatch:
    school = batch.school
    letters = selectors.letters_for_render(Letter.objects.filter(print_batch=batch, status=Letter.Status.QUEUED))
    if not letters:
        raise ValueError("No letters left to print in this batch.")
    # Who each letter goes to, read with the carers the sheets are made from, kept as printed.
    sent_to = {
        letter.pk: (recipient.name, "\n".join(recipient.address_lines))
        for letter in letters
        for recipient in [selectors.recipient_of(letter)]
    }
    sheets = letter_sheets(letters, school=school, dated=timezone.localdate())
    rendered = pdf.pdf_render(sheets, progress=_progress(batch.pk, "Laying out letters"))
    # Files first, then the database in one transaction: a crash in between leaves only unused files.
    folder = f"letters/{school.urn}/batch-{batch.pk}"
    batch_name = default_storage.save(f"{folder}/letters-{batch.pk}.pdf", ContentFile(rendered.pdf))
    now = timezone.now()
    for letter, (piece, pages) in zip(letters, rendered.letters, strict=True):
        letter.pdf.name = default_storage.save(f"{folder}/{letter.reference}.pdf", ContentFile(piece))
        letter.pdf_sha256 = hashlib.sha256(piece).hexdigest()
        letter.pages = pages
        letter.status = Letter.Status.PRINTED
        letter.printed_at = now
        letter.printed_by_id = batch.created_by_id
        letter.sent_to_name, letter.sent_to_address = sent_to[letter.pk]
    with transaction.atomic():
        locked = PrintBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status == PrintBatch.Status.DONE:
            return locked
        still_ours = set(
            Letter.objects.filter(print_batch=batch, status=Letter.Status.QUEUED).values_list("pk", flat=True)
        )
        if still_ours != {letter.pk for letter in letters}:
            raise ValueError("The letters in this batch changed while it printed.")
        Letter.objects.bulk_update(
            letters,
            ["pdf", "pdf_sha256", "pages", "status", "printed_at", "printed_by", "sent_to_name", "sent_to_address"],
            batch_size=500,
        )
        locked.pdf.name = batch_name
        locked.pdf_sha256 = hashlib.sha256(rendered.pdf).hexdigest()
        locked.pages = rendered.pages
        locked.status = PrintBatch.Status.DONE
        locked.done = len(letters)
        locked.phase = ""
        locked.finished_at = timezone.now()
        locked.save(update_fields=["pdf", "pdf_sha256", "pages", "status", "done", "phase", "finished_at"])
        audit_record(
            school=school,
            user=batch.created_by,
            verb=AuditEvent.Verb.EXPORT,
            what=f"printed {len(letters)} letters as one PDF (batch {batch.pk})",
        )
    return locked


def _stored(file: Any, sha256: str) -> bytes:
    with file.open("rb") as handle:
        data = handle.read()
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise ValidationError("The stored PDF does not match the one printed. Please tell your administrator.")
    return data


def letter_reprint(*, letter: Letter, user: Any) -> bytes:
    """The letter's PDF exactly as it was printed. Never re-queues and never renders again.

    Raises ValidationError if the letter has not been printed.
    """
    if letter.status not in (Letter.Status.PRINTED, Letter.Status.POSTED) or not letter.pdf:
        raise ValidationError("This letter has not been printed yet: print it from the queue.")
    data = _stored(letter.pdf, letter.pdf_sha256)
    audit_record(
        school=letter.school,
        user=user,
        verb=AuditEvent.Verb.EXPORT,
        what=f"letter {letter.reference} reprinted",
        pupil=letter.pupil,
    )
    return data


def print_batch_pdf(*, batch: PrintBatch, user: Any) -> bytes:
    """A finished batch's PDF, the same bytes every time. Raises ValidationError until it has printed."""
    if batch.status != PrintBatch.Status.DONE or not batch.pdf:
        raise ValidationError("This batch has not finished printing.")
    data = _stored(batch.pdf, batch.pdf_sha256)
    audit_record(school=batch.school, user=user, verb=AuditEvent.Verb.EXPORT, what=f"downloaded print batch {batch.pk}")
    return data


# --- posting ---------------------------------------------------------------------------------


@transaction.atomic
def letters_mark_posted(*, school: School, letter_ids: Collection[int], user: Any, on: date | None = None) -> int:
    """Mark printed letters posted and log each on the pupil's record. Returns how many were posted now.

    Idempotent: a letter already posted is left alone and not logged again.
    Raises ValidationError, changing nothing, if any of the letters has not
    been printed (or was cancelled).
    """
    on = on or timezone.localdate()
    letters = list(
        Letter.objects.select_for_update(of=("self",))
        .filter(school=school, pk__in=letter_ids)
        .select_related("template", "pupil")
        .prefetch_related("pupil__contacts")
        .order_by("pk")
    )
    not_printed = [letter for letter in letters if letter.status in (Letter.Status.QUEUED, Letter.Status.CANCELLED)]
    if not_printed:
        raise ValidationError(
            f"{len(not_printed)} of these letters {'has' if len(not_printed) == 1 else 'have'} not been printed, "
            "so nothing was marked posted. Print them first."
        )
    to_post = [letter for letter in letters if letter.status == Letter.Status.PRINTED]
    if not to_post:
        return 0
    user = user if getattr(user, "is_authenticated", False) else None
    now = timezone.now()
    posted = Letter.objects.filter(pk__in=[letter.pk for letter in to_post], status=Letter.Status.PRINTED).update(
        status=Letter.Status.POSTED, posted_at=now, posted_on=on, posted_by=user
    )
    if posted != len(to_post):  # pragma: no cover - the rows are locked above
        raise ValidationError("Some of these letters changed while being marked posted: please try again.")
    entries = [
        ActionLog(
            school=school,
            pupil=letter.pupil,
            kind=ActionLog.Kind.LETTER,
            title=f"Letter posted: {letter.template.name}"[:300],
            occurred_on=on,
            by=user,
            outcome="Posted",
            notes=(
                f"To {selectors.recipient_of(letter).name}. "
                f"Reference {letter.reference}, printed {timezone.localtime(letter.printed_at):%-d %b %Y}."
            ),
        )
        for letter in to_post
    ]
    if connection.features.can_return_rows_from_bulk_insert:
        records = ActionLog.objects.bulk_create(entries)
    else:  # SQLite before 3.35 gives no ids back from a bulk insert: each is saved on its own
        for entry in entries:
            entry.save()
        records = entries
    for letter, record in zip(to_post, records, strict=True):
        letter.posting_record = record
    Letter.objects.bulk_update(to_post, ["posting_record"], batch_size=500)
    audit_record(school=school, user=user, verb=AuditEvent.Verb.CHANGE, what=f"marked {posted} letters posted")
    return posted


def letter_posted_on_follow(*, action: ActionLog) -> int:
    """If `action`, just corrected, is the record of posting a letter (`Letter.posting_record`), the letter's
    posting day follows it. Returns how many letters changed (0 or 1). Raises ValidationError, naming the
    date, for a day before the letter was printed: the correction is refused.
    """
    letter = Letter.objects.filter(posting_record=action, status=Letter.Status.POSTED).first()
    if letter is None or letter.posted_on == action.occurred_on:
        return 0
    printed = timezone.localdate(letter.printed_at) if letter.printed_at else None
    if printed is not None and action.occurred_on < printed:
        raise ValidationError(
            {
                "occurred_on": f"This is the record of posting letter {letter.reference}, printed on "
                f"{printed:%-d %B %Y}: it cannot have been posted before then."
            }
        )
    letter.posted_on = action.occurred_on
    letter.save(update_fields=["posted_on"])
    return 1


@transaction.atomic
def letters_unpost(*, school: School, letter_ids: Collection[int], user: Any) -> int:
    """Take back marking these letters posted: the person who did it, within `selectors.UNPOST_MINUTES`.

    They are printed again, waiting to be posted, and the record of posting each
    on the pupil's history goes. Returns how many. Raises ValidationError,
    changing nothing, if any of them was not posted by this person in time.
    """
    # Their records first, then the letters: the order a correction of a record takes them in
    # (`action_correct`, then `letter_posted_on_follow`), so the two wait for each other, never deadlock.
    list(
        ActionLog.objects.select_for_update(of=("self",))
        .filter(posted_letter__school=school, posted_letter__pk__in=letter_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    posted = Letter.objects.select_for_update(of=("self",)).filter(
        school=school, pk__in=letter_ids, status=Letter.Status.POSTED
    )
    letters = list(posted.select_related("pupil").order_by("pk"))
    if len(selectors.marked_posted_lately(posted, user=user)) != len(letters):
        raise ValidationError(
            f"Only the person who marked letters posted can take it back, and only for "
            f"{selectors.UNPOST_MINUTES} minutes: nothing was changed."
        )
    if not letters:
        return 0
    records = {letter.pk: ActionLog.objects.filter(pk=letter.posting_record_id) for letter in letters}
    for letter in letters:
        if records[letter.pk].filter(corrections__isnull=False).exists():
            raise ValidationError(
                f"The record of posting {letter.pupil.full_name}'s {letter.reference} has been corrected since, "
                "so it stays on their record, and the letter stays posted: nothing was changed."
            )
    for letter in letters:
        records[letter.pk].delete()
    Letter.objects.filter(pk__in=[letter.pk for letter in letters]).update(
        status=Letter.Status.PRINTED, posted_at=None, posted_on=None, posted_by=None, posting_record=None
    )
    audit_record(
        school=school, user=user, verb=AuditEvent.Verb.CHANGE, what=f"took back marking {len(letters)} letters posted"
    )
    return len(letters)
