"""Letters pages: the print queue, print batches, a letter, composing, bulk letters, templates, settings.

Every view loads its school through `pupils.access.school_access` and every
letter, batch and pupil through `letters.selectors` / `pupils.access`: anything
outside a person's reach is a 404. Views check the method, load, bind a form,
call one service, then render or redirect.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from interventions.models import ActionCorrection
from pupils.access import Access, pupil_for, school_access
from pupils.calendar import long_date
from pupils.models import AuditEvent
from pupils.services import audit_record, school_calendar

from . import merge, pdf, sandbox, selectors, services
from .defaults import NEW_TEMPLATE_BODY
from .forms import (
    BulkForm,
    ComposeForm,
    DetailsForm,
    LetterIdsForm,
    NewTemplateForm,
    QueueFilterForm,
    SettingsForm,
    TemplateForm,
)
from .models import Letter, PrintBatch

QUEUE_PAGE_SIZE = 100


def _access(request: HttpRequest, urn: str, *permissions: str) -> Access:
    """The person's access at the school, if they hold any of `permissions`; otherwise 404."""
    access = school_access(request.user, urn)
    if not any(access.can(p) for p in permissions):
        raise Http404("Not found")
    return access


def _pdf(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _form_errors(form: Any, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


# --- the queue --------------------------------------------------------------------------


@login_required
@require_GET
def queue(request: HttpRequest, urn: str) -> HttpResponse:
    access = _access(request, urn, "print_letters")
    templates = selectors.template_text_list(school=access.school)
    form = QueueFilterForm(request.GET or None, school=access.school, templates=templates)
    letters = selectors.letter_list(access=access, **form.filters())
    page = Paginator(letters, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(letter, selectors.recipient_of(letter)) for letter in page]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "access": access,
        "form": form,
        "page": page,
        "rows": rows,
        "counts": selectors.queue_counts(access=access),
        "query": query.urlencode(),
        "filters": form.filters(),
        "recent_batches": PrintBatch.objects.filter(school=access.school)
        .select_related("created_by")
        .annotate(posted=Count("letters", filter=Q(letters__status=Letter.Status.POSTED)))[:5],
        "letterhead_missing": selectors.letterhead_missing(school=access.school),
    }
    template = "letters/letter_queue.html#queue-table" if request.htmx else "letters/letter_queue.html"
    return render(request, template, context)


def _back_to_queue(request: HttpRequest, urn: str) -> HttpResponse:
    """The print queue as it was filtered when the form was sent (the filters ride along as hidden fields)."""
    # An empty filter is kept too: "Any status" (status=) is not the bare queue's "waiting to print".
    kept = {name: request.POST[name] for name in QueueFilterForm.base_fields if name in request.POST}
    url = reverse("letters:queue", kwargs={"urn": urn})
    return redirect(f"{url}?{urlencode(kept)}" if kept else url)


def _chosen_ids(request: HttpRequest, access: Access, form: LetterIdsForm) -> list[int]:
    if form.cleaned_data.get("scope") == "all":
        filters = QueueFilterForm(
            request.POST, school=access.school, templates=selectors.template_text_list(school=access.school)
        ).filters()
        filters["status"] = Letter.Status.QUEUED
        return list(selectors.letter_list(access=access, **filters).values_list("pk", flat=True))
    return form.cleaned_data["letter"]


@login_required
@require_POST
def print_letters(request: HttpRequest, urn: str) -> HttpResponse:
    access = _access(request, urn, "print_letters")
    form = LetterIdsForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.non_field_errors()) or "Choose the letters to print.")
        return _back_to_queue(request, urn)
    ids = _chosen_ids(request, access, form)
    withdrawn = services.letters_withdraw_for_leavers(school=access.school, letter_ids=ids, user=request.user)
    if withdrawn:
        messages.warning(
            request,
            f"Withdrawn, not printed, as the pupil{pluralize(len(withdrawn))} {pluralize(len(withdrawn), 'has,have')}"
            " left the school: "
            + "; ".join(f"{letter.pupil.full_name} ({letter.template.name})" for letter in withdrawn)
            + ".",
        )
    try:
        batch = services.letters_print(school=access.school, letter_ids=ids, user=request.user)
    except ValidationError as error:
        if {letter.pk for letter in withdrawn} != set(ids):  # else the warning has said what became of each
            messages.error(request, " ".join(error.messages))
        return _back_to_queue(request, urn)
    return redirect("letters:batch", urn=urn, pk=batch.pk)


@login_required
@require_POST
def post_letters(request: HttpRequest, urn: str) -> HttpResponse:
    access = _access(request, urn, "print_letters")
    form = LetterIdsForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.non_field_errors()) or "Choose the letters to mark as posted.")
        return _back_to_queue(request, urn)
    ids = form.cleaned_data["letter"]
    try:
        posted = services.letters_mark_posted(school=access.school, letter_ids=ids, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{posted} letter{'s' if posted != 1 else ''} marked as posted.")
    return _back_to_queue(request, urn)


# --- print batches ----------------------------------------------------------------------


@login_required
@require_GET
def batch_detail(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    access = _access(request, urn, "print_letters")
    batch = selectors.print_batch_for(access, pk)
    context = {"access": access, "batch": batch}
    if request.htmx:
        response = render(request, "letters/batch_detail.html#batch-progress", context)
        if batch.status in (PrintBatch.Status.DONE, PrintBatch.Status.FAILED):
            response["HX-Refresh"] = "true"  # finished: reload to show the letters and the posting button
        return response
    letters = selectors.batch_letters(batch=batch)
    context["rows"] = [(letter, selectors.recipient_of(letter)) for letter in letters]
    context["printed_ids"] = [letter.pk for letter, _ in context["rows"] if letter.status == Letter.Status.PRINTED]
    context["no_address"] = [letter for letter, to in context["rows"] if to.lacks_address]
    context["unpostable"] = selectors.batch_unpostable(batch=batch, user=request.user).count()
    context["kept_posted"] = _kept_posted(batch, user=request.user)
    context["unpost_minutes"] = selectors.UNPOST_MINUTES
    posted = [letter for letter, _ in context["rows"] if letter.status == Letter.Status.POSTED]
    context["posted"] = posted
    # The latest day a letter went in the post (a corrected record may have moved one earlier).
    context["last_posted"] = max(posted, key=lambda letter: (letter.posted_on, letter.posted_at), default=None)
    return render(request, "letters/batch_detail.html", context)


@login_required
@require_GET
def batch_pdf(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    access = _access(request, urn, "print_letters")
    batch = selectors.print_batch_for(access, pk)
    try:
        data = services.print_batch_pdf(batch=batch, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("letters:batch", urn=urn, pk=pk)
    return _pdf(data, f"letters-{access.school.urn}-batch-{batch.pk}.pdf")


@login_required
@require_POST
def batch_post(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    access = _access(request, urn, "print_letters")
    batch = selectors.print_batch_for(access, pk)
    ids = list(batch.letters.filter(status=Letter.Status.PRINTED).values_list("pk", flat=True))
    posted = services.letters_mark_posted(school=access.school, letter_ids=ids, user=request.user)
    messages.success(request, f"{posted} letter{'s' if posted != 1 else ''} marked as posted.")
    return redirect("letters:batch", urn=urn, pk=pk)


def _kept_posted(batch: PrintBatch, *, user: Any) -> str:
    """What to say of the batch's letters this person marked posted lately whose record of posting someone
    has corrected since: they stay posted (`selectors.unpostable`). "" if there are none."""
    recent = selectors.marked_posted_lately(batch.letters.all(), user=user)
    kept = sorted(
        letter.reference for letter in recent.exclude(pk__in=selectors.batch_unpostable(batch=batch, user=user))
    )
    if not kept:
        return ""
    if len(kept) == 1:
        return f"{kept[0]} stays posted: its record of posting has been corrected since."
    return f"{', '.join(kept)} stay posted: their records of posting have been corrected since."


@login_required
@require_POST
def batch_unpost(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    """Take back marking the batch's letters posted (`services.letters_unpost`): pressed by mistake."""
    access = _access(request, urn, "print_letters")
    batch = selectors.print_batch_for(access, pk)
    ids = list(selectors.batch_unpostable(batch=batch, user=request.user).values_list("pk", flat=True))
    kept = _kept_posted(batch, user=request.user)
    if not ids:
        messages.error(
            request,
            f"Nothing to take back: {kept}"
            if kept
            else f"Nothing to take back: you have marked none of these letters posted in the last "
            f"{selectors.UNPOST_MINUTES} minutes, so they stay as they are.",
        )
        return redirect("letters:batch", urn=urn, pk=pk)
    try:
        taken_back = services.letters_unpost(school=access.school, letter_ids=ids, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            f"{taken_back} letter{'s' if taken_back != 1 else ''} no longer marked posted: printed, waiting to post."
            + (f" {kept}" if kept else ""),
        )
    return redirect("letters:batch", urn=urn, pk=pk)


# --- one letter ----------------------------------------------------------------------------


@login_required
@require_GET
def letter_detail(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    access = _access(request, urn, "print_letters", "queue_letters")
    letter = selectors.letter_for(access, pk)
    audit_record(
        school=access.school,
        user=request.user,
        verb=AuditEvent.Verb.VIEW,
        what=f"letter {letter.reference}",
        pupil=letter.pupil,
        path=request.path,
    )
    is_queued = letter.status == Letter.Status.QUEUED and not letter.print_batch_id
    context = {
        "access": access,
        "letter": letter,
        "recipient": selectors.recipient_of(letter),
        "sheet": services.letter_preview_html(letter=letter) if is_queued else "",
        "details_form": _details_form(letter, initial=letter.details, school=access.school) if is_queued else None,
        "is_queued": is_queued,
        # Its record of posting corrected since: the letter page says so, and where to read why.
        "posting_corrected": bool(letter.posting_record_id)
        and ActionCorrection.objects.filter(action_id=letter.posting_record_id).exists(),
    }
    return render(request, "letters/letter_detail.html", context)


@login_required
@require_GET
def letter_pdf(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    access = _access(request, urn, "print_letters", "queue_letters")
    letter = selectors.letter_for(access, pk)
    if letter.status in (Letter.Status.PRINTED, Letter.Status.POSTED):
        data = services.letter_reprint(letter=letter, user=request.user)
        return _pdf(data, f"{letter.reference}.pdf")
    audit_record(
        school=access.school,
        user=request.user,
        verb=AuditEvent.Verb.EXPORT,
        what=f"letter {letter.reference} preview PDF",
        pupil=letter.pupil,
        path=request.path,
    )
    return _pdf(services.letter_preview_pdf(letter=letter), f"{letter.reference}-preview.pdf")


def _details_form(letter: Letter, *args: Any, **kwargs: Any) -> DetailsForm | None:
    """The form for the details this letter's template prints, or None if it prints none."""
    form = DetailsForm(*args, asked=services.letter_details_asked(letter.template), **kwargs)
    return form if form.fields else None


@login_required
@require_POST
def letter_details(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    access = _access(request, urn, "print_letters", "queue_letters")
    letter = selectors.letter_for(access, pk)
    form = _details_form(letter, request.POST, initial=letter.details, school=access.school)
    if form is None:
        raise Http404("This letter prints no details")
    if form.is_valid():
        try:
            services.letter_details_update(letter=letter, details=form.details(), user=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "The letter's details are saved.")
        return redirect("letters:letter", urn=urn, pk=pk)
    context = {
        "access": access,
        "letter": letter,
        "recipient": selectors.recipient_of(letter),
        "sheet": services.letter_preview_html(letter=letter),
        "details_form": form,
        "is_queued": True,
    }
    return render(request, "letters/letter_detail.html", context, status=422)


@login_required
@require_POST
def letter_cancel(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    access = _access(request, urn, "print_letters", "queue_letters")
    letter = selectors.letter_for(access, pk)
    try:
        if services.letter_cancel(letter=letter, user=request.user):
            messages.success(request, f"Letter {letter.reference} was taken out of the queue.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("letters:letter", urn=urn, pk=pk)


# --- composing and bulk letters --------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def compose(request: HttpRequest, urn: str, pupil_pk: int) -> HttpResponse:
    access = _access(request, urn, "queue_letters")
    pupil = pupil_for(access, pupil_pk)
    if request.method == "GET":
        audit_record(
            school=access.school,
            user=request.user,
            verb=AuditEvent.Verb.VIEW,
            what=f"letter for pupil {pupil.upn}",
            pupil=pupil,
            path=request.path,
        )
    form = ComposeForm(
        request.POST or None, templates=selectors.template_text_list(school=access.school), school=access.school
    )
    context: dict[str, Any] = {"access": access, "pupil": pupil, "form": form}
    # The figures count the register up to the last school day, as the night's letters do.
    as_of = school_calendar(access.school).register_day(timezone.localdate())
    if request.method == "POST" and form.is_valid():
        untrue = selectors.wording_problem(
            school=access.school, pupil=pupil, key=form.cleaned_data["template"], on=as_of
        )
        dedupe = f"compose:{form.cleaned_data['token']}"
        already = selectors.letters_waiting(pupil=pupil, key=form.cleaned_data["template"], dedupe=dedupe)
        context["waiting"] = already.others
        twice = bool(already.others) and not already.resent and request.POST.get("queue") != "again"
        context["not_again"] = "queue" in request.POST and twice
        if "queue" in request.POST and not untrue and not twice:
            queued = services.letter_queue(
                school=access.school,
                pupil=pupil,
                key=form.cleaned_data["template"],
                on=as_of,
                user=request.user,
                details=form.details(),
                dedupe=dedupe,
            )
            count = len(queued.letters)
            if queued.created:
                references = ", ".join(letter.reference for letter in queued.letters)
                audit_record(
                    school=access.school,
                    user=request.user,
                    verb=AuditEvent.Verb.CHANGE,
                    what=f"queued {queued.letters[0].template.name} for pupil {pupil.upn} ({references})",
                    pupil=pupil,
                    path=request.path,
                )
            messages.success(request, f"{count} letter{'s' if count != 1 else ''} added to the print queue.")
            url = reverse("letters:letter", kwargs={"urn": urn, "pk": queued.letters[0].pk})
            if request.htmx:  # leave the form for the letter's own page, as a full page load
                response = HttpResponse()
                response["HX-Redirect"] = url
                return response
            return redirect(url)
        context["untrue"] = untrue
        context["sheet"], context["recipients"] = services.letter_draft_html(
            school=access.school, pupil=pupil, text=form.text(), details=form.details(), on=as_of
        )
        if "queue" in request.POST and untrue:  # refused: the letter would say something untrue of the pupil
            form.add_error("template", untrue)
    status = 422 if request.method == "POST" and not form.is_valid() else 200
    template = "letters/letter_compose.html#letter-preview" if request.htmx else "letters/letter_compose.html"
    return render(request, template, context, status=status)


def _were_already_there(n: int) -> str:
    return f"{n} {'was' if n == 1 else 'were'} already there"


def _bulk_note(form: BulkForm, queued: services.Queued) -> str:
    """What the office should know about a bulk run: a period not over yet, or why nobody got a letter."""
    data = form.cleaned_data
    span = f"{long_date(data['start'])} to {long_date(data['end'])}"
    notes = []
    if data.get("cut_short"):
        notes.append(f"{data['period_running']} is not over: these count attendance from {span}.")
    if not queued.letters:
        if form.is_certificate:
            notes.append(f"No pupil on roll attended every possible session from {span} (with at least one marked).")
        else:
            notes.append(f"No pupil on roll at the end of {span} has a register taken in it.")
    return "".join(f" {note}" for note in notes)


@login_required
@require_http_methods(["GET", "POST"])
def bulk(request: HttpRequest, urn: str) -> HttpResponse:
    access = _access(request, urn, "queue_letters")
    templates = selectors.template_text_list(school=access.school)
    form = BulkForm(request.POST or None, school=access.school, templates=templates)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        queued = services.letters_bulk_queue(
            school=access.school,
            key=data["template"],
            start=data["start"],
            end=data["end"],
            period_name=data["period_name"],
            on=timezone.localdate(),
            user=request.user,
            full_attendance_only=form.is_certificate,
        )
        messages.success(
            request,
            f"{queued.created} letter{'s' if queued.created != 1 else ''} added to the print queue "
            f"({_were_already_there(len(queued.letters) - queued.created)}).{_bulk_note(form, queued)}",
        )
        if access.can("print_letters"):
            return redirect(
                f"{reverse('letters:queue', kwargs={'urn': urn})}?status=queued&template={data['template']}"
            )
        return redirect("letters:bulk", urn=urn)
    settings = selectors.letter_settings_get(school=access.school)
    context = {"access": access, "form": form, "settings": settings}
    return render(request, "letters/letters_bulk.html", context, status=422 if form.errors else 200)


# --- templates and settings -------------------------------------------------------------------


@login_required
@require_GET
def template_list(request: HttpRequest, urn: str) -> HttpResponse:
    access = _access(request, urn, "edit_ladder")
    texts = selectors.template_text_list(school=access.school)
    return render(request, "letters/template_list.html", {"access": access, "texts": texts})


def _template_page(
    request: HttpRequest,
    access: Access,
    form: TemplateForm,
    *,
    key: str | None,
    text: selectors.TemplateText | None,
    restoring: Any = None,
) -> HttpResponse:
    """Save the template, or (with "preview" in the POST) only show it filled in for a made-up pupil."""
    sheet = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if "preview" not in request.POST:
            try:
                template = services.letter_template_save(
                    school=access.school,
                    key=key or data["key"],
                    user=request.user,
                    **{k: v for k, v in data.items() if k != "key"},
                )
            except ValidationError as error:
                _form_errors(form, error)
            else:
                messages.success(request, f"'{template.name}' is saved.")
                return redirect("letters:template_edit", urn=access.school.urn, key=template.key)
        if not form.errors:
            sheet = services.template_sample_html(
                school=access.school, subject=data["subject"], body=data["body"], layout=data["layout"]
            )
    elif text is not None:
        shown = restoring or text
        sheet = services.template_sample_html(
            school=access.school, subject=shown.subject, body=shown.body, layout=shown.layout
        )
    context = {
        "access": access,
        "form": form,
        "key": key,
        "text": text,
        "restoring": restoring,
        "versions": selectors.template_versions(school=access.school, text=text) if text else [],
        "sheet": sheet,
        "field_groups": merge.FIELD_GROUPS,
        "filters": sandbox.ALLOWED_FILTERS,
    }
    status = 422 if form.errors else 200
    if request.htmx:
        return render(request, "letters/template_edit.html#template-preview", context, status=status)
    return render(request, "letters/template_edit.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, urn: str, key: str) -> HttpResponse:
    """Edit a letter; `?version=ID` (an earlier saved wording) or `?version=shipped` puts that wording in the
    editor to look at and, if wanted, save again: nothing changes until it is saved."""
    access = _access(request, urn, "edit_ladder")
    text = selectors.template_text_get(school=access.school, key=key)
    initial = {"name": text.name, "subject": text.subject, "body": text.body, "layout": text.layout}
    restoring = selectors.template_version(school=access.school, key=key, version=request.GET.get("version", ""))
    if restoring is not None:
        initial = {field: getattr(restoring, field) for field in ("name", "subject", "body", "layout")}
    form = TemplateForm(request.POST or None, initial={**initial, "is_active": text.is_active})
    return _template_page(request, access, form, key=key, text=text, restoring=restoring)


@login_required
@require_http_methods(["GET", "POST"])
def template_new(request: HttpRequest, urn: str) -> HttpResponse:
    access = _access(request, urn, "edit_ladder")
    form = NewTemplateForm(
        request.POST or None,
        existing=set(services.letter_template_names(school=access.school)),
        initial={"body": NEW_TEMPLATE_BODY, "layout": "letter", "is_active": True},
    )
    return _template_page(request, access, form, key=None, text=None)


@login_required
@require_GET
def template_pdf(request: HttpRequest, urn: str, key: str) -> HttpResponse:
    access = _access(request, urn, "edit_ladder")
    text = selectors.template_text_get(school=access.school, key=key)
    sheet = services.template_sample_html(
        school=access.school, subject=text.subject, body=text.body, layout=text.layout
    )
    return _pdf(pdf.pdf_one(sheet), f"{key}-sample.pdf")


@login_required
@require_http_methods(["GET", "POST"])
def settings_edit(request: HttpRequest, urn: str) -> HttpResponse:
    access = _access(request, urn, "edit_ladder")
    current = selectors.letter_settings_get(school=access.school)
    form = SettingsForm(
        request.POST or None,
        request.FILES or None,
        initial=SettingsForm.initial_from(current),
        has_logo=bool(current.logo),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.letter_settings_save(school=access.school, user=request.user, **form.cleaned_data)
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(request, "Letter settings are saved.")
            return redirect("letters:settings", urn=urn)
    context = {
        "access": access,
        "form": form,
        "current": current,
        "letterhead_missing": selectors.letterhead_missing(school=access.school),
    }
    return render(request, "letters/settings_edit.html", context, status=422 if form.errors else 200)
