"""Pupil-side pages: the audit trail, and the office's imports, register grid and first-day calls."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from . import imports, selectors, services, uploads
from .access import Access, pupil_for, school_access, visible_pupils
from .calendar import monday_of
from .codes import code_table, x_mark_warning
from .forms import ImportForm, MarkForm, ReasonReceivedForm, codes_in_force
from .models import AttendanceMark, AuditEvent, Pupil


@login_required
@require_GET
def audit(request: HttpRequest, urn: str) -> HttpResponse:
    """Who looked at or changed what: for attendance leads and DSLs."""
    access = school_access(request.user, urn)
    access.require("view_audit")
    events = AuditEvent.objects.filter(school=access.school).select_related("user", "pupil")
    upn = request.GET.get("upn", "").strip().upper()
    username = request.GET.get("user", "").strip()
    if upn:
        events = events.filter(pupil__upn=upn)
    if username:
        events = events.filter(user__username=username)
    page = Paginator(events.order_by("-at", "-pk"), 100).get_page(request.GET.get("page"))
    return render(request, "pupils/audit.html", {"access": access, "page": page, "upn": upn, "username": username})


# --- the office: imports ----------------------------------------------------------------

#: How many imports the office page lists.
RECENT_IMPORTS = 20


def _office_access(request: HttpRequest, urn: str) -> Access:
    """Office staff and the attendance lead only; anyone else gets a 404."""
    access = school_access(request.user, urn)
    access.require("manage_registers")
    return access


def _first_day_access(request: HttpRequest, urn: str) -> Access:
    """Those who may see who is absent with no reason yet (`view_first_day`); anyone else gets a 404."""
    access = school_access(request.user, urn)
    access.require("view_first_day")
    return access


@login_required
@csrf_exempt  # checked in _office, once the upload handlers are in place
@require_http_methods(["GET", "POST"])
def office(request: HttpRequest, urn: str) -> HttpResponse:
    """The office's home page: upload a file to import; the imports so far."""
    access = _office_access(request, urn)
    # Uploads go to a temporary file on disk, never whole into memory. Handlers can only change
    # before the body is read, and the CSRF check reads it: so access first, handlers, then CSRF.
    request.upload_handlers = [TemporaryFileUploadHandler(request)]
    return _office(request, access)


@csrf_protect
def _office(request: HttpRequest, access: Access) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
    if form.is_bound and form.is_valid():
        progress = uploads.upload_start(
            school=access.school, user=request.user, kind=form.cleaned_data["kind"], upload=form.cleaned_data["file"]
        )
        if progress.batch_id is not None:
            return redirect("pupils:import", urn=access.school.urn, pk=progress.batch_id)
        return redirect("pupils:upload", urn=access.school.urn, token=progress.token)
    today = timezone.localdate()
    on = services.school_calendar(access.school).register_day(today)
    context = {
        "access": access,
        "form": form,
        "running": uploads.progress_list(school=access.school),
        "batches": [
            (batch, _Problems.of(batch.errors).total, _Problems.of(batch.warnings).total)
            for batch in selectors.import_batch_list(school=access.school)[:RECENT_IMPORTS]
        ],
        "groups": selectors.registration_group_list(school=access.school),
        "unexplained": selectors.unexplained_count(pupils=visible_pupils(access), on=on),
        "taken": selectors.register_taken(pupils=visible_pupils(access), on=on),
        "progress": selectors.register_progress(pupils=visible_pupils(access), on=on),
        "unexplained_earlier": sum(
            d.pupils for d in selectors.unexplained_days(school=access.school, pupils=visible_pupils(access), before=on)
        ),
        "on": on,
        "today": today,
        "term_dates": selectors.term_dates(school=access.school, on=today),
    }
    return render(request, "pupils/office.html", context, status=422 if form.is_bound else 200)


_MORE_NOT_LISTED = re.compile(r"^(\d+) more not listed$")


@dataclass(frozen=True)
class _Problems:
    """An import's stored errors or warnings: at most `imports.KEEP` are kept, then one line counting the rest."""

    listed: list[dict[str, Any]]
    total: int

    @classmethod
    def of(cls, stored: list[dict[str, Any]]) -> _Problems:
        more = _MORE_NOT_LISTED.match(str(stored[-1].get("message", ""))) if stored else None
        if more and not stored[-1].get("row"):
            return cls(stored[:-1], len(stored) - 1 + int(more.group(1)))
        return cls(stored, len(stored))


@login_required
@require_GET
def upload(request: HttpRequest, urn: str, token: str) -> HttpResponse:
    """An uploaded file being imported in the background: its progress, until its import's page is ready."""
    access = _office_access(request, urn)
    progress = uploads.progress_get(school=access.school, token=token)
    if progress is None:
        raise Http404("No such upload (or it finished more than a day ago).")
    if progress.batch_id is not None:
        url = reverse("pupils:import", args=[urn, progress.batch_id])
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    template = "pupils/office_upload.html#upload-progress" if request.htmx else "pupils/office_upload.html"
    return render(request, template, {"access": access, "progress": progress})


@login_required
@require_GET
def import_detail(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    """One import: its counts and every problem by row and column."""
    access = _office_access(request, urn)
    batch = get_object_or_404(selectors.import_batch_list(school=access.school), pk=pk)
    context = {
        "access": access,
        "batch": batch,
        "errors": _Problems.of(batch.errors),
        "warnings": _Problems.of(batch.warnings),
        "notes": uploads.notes_for(batch.pk),
    }
    return render(request, "pupils/office_import.html", context)


# --- the office: the register grid ---------------------------------------------------------

SESSIONS = {"am": AttendanceMark.Session.AM, "pm": AttendanceMark.Session.PM}


def _date_or_404(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Http404("Not a date.") from None


def _register_url(urn: str, pupil: Pupil, day: date) -> str:
    return f"{reverse('pupils:register', args=[urn])}?class={pupil.registration_group_id}&week={monday_of(day)}"


@login_required
@require_GET
def register(request: HttpRequest, urn: str) -> HttpResponse:
    """A class's register for a week: every pupil and session, each cell a link to correct it."""
    access = _office_access(request, urn)
    groups = list(selectors.registration_group_list(school=access.school))
    chosen = request.GET.get("class", "")
    group = next((g for g in groups if str(g.pk) == chosen), None) if chosen else next(iter(groups), None)
    if chosen and group is None:
        raise Http404("No such class.")
    today = timezone.localdate()
    # This week; in a holiday, the last week with school.
    latest = monday_of(services.school_calendar(access.school).register_day(today))
    monday = monday_of(_date_or_404(request.GET["week"])) if request.GET.get("week") else latest
    week = None
    if group is not None:
        week = selectors.register_week(school=access.school, group=group, monday=monday, today=today)
        services.audit_record(
            school=access.school,
            user=request.user,
            verb=AuditEvent.Verb.VIEW,
            what=f"register of {group.name}, week of {monday:%-d %b %Y}",
            path=request.get_full_path(),
        )
    context = {
        "access": access,
        "groups": groups,
        "group": group,
        "week": week,
        "monday": monday,
        "previous": monday - timedelta(days=7),
        "next": monday + timedelta(days=7),
        "this_week": latest,
        "this_week_label": "This week" if latest == monday_of(today) else "Last school week",
    }
    template = "pupils/register.html#register-grid" if request.htmx else "pupils/register.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def register_mark(request: HttpRequest, urn: str, pk: int, day: str, session: str) -> HttpResponse:
    """Correct one session's mark with a reason: in place in the grid (HTMX), or on a page of its own."""
    access = _office_access(request, urn)
    pupil = pupil_for(access, pk)
    on, session_value = _date_or_404(day), SESSIONS.get(session)
    if session_value is None:
        raise Http404("The session is am or pm.")
    slot = f"{pupil.pk}-{on:%Y%m%d}-{session}"  # ids differ from cell to cell: several editors may be open
    form = MarkForm(request.POST or None, datalist=f"codes-{slot}", inline=request.htmx, auto_id=f"id_%s-{slot}")
    saved, warning = False, ""
    if form.is_bound and form.is_valid():
        try:
            mark = services.mark_correct(
                pupil=pupil,
                date=on,
                session=session_value,
                code=form.cleaned_data["code"],
                reason=form.cleaned_data["reason"],
                user=request.user,
                path=request.path,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # Saved all the same: the office may know better (a pupil's date of birth can be wrong too).
            warning = x_mark_warning(mark.code, pupil.date_of_birth, on)
            if not request.htmx:
                messages.success(
                    request, f"{pupil.full_name}, {on:%a} {on.day} {on:%b} {session.upper()}: {mark.code}."
                )
                if warning:
                    messages.warning(request, f"{pupil.full_name}: {warning}.")
                return redirect(_register_url(urn, pupil, on))
            saved = True
    context = _mark_context(
        access, pupil, on, session_value, form=form, saved=saved, warning=warning, inline=bool(request.htmx)
    )
    if saved or (request.htmx and request.GET.get("cancel")):
        template = "pupils/register.html#mark-cell"
    else:
        template = "pupils/register.html#mark-editor" if request.htmx else "pupils/register_mark.html"
    return render(request, template, context, status=422 if form.is_bound and not saved else 200)


def _mark_context(access: Access, pupil: Pupil, on: date, session: int, **extra: Any) -> dict[str, Any]:
    mark = selectors.mark_with_history(pupil=pupil, day=on, session=session)
    history = list(mark.history.all()) if mark else []
    cell = selectors.register_cell(
        pupil=pupil,
        day=on,
        session=session,
        code=mark.code if mark else "",
        corrected=bool(history),
        day_problem=services.school_calendar(access.school).register_day_problem(on, today=timezone.localdate()),
    )
    return {
        "access": access,
        "pupil": pupil,
        "mark": mark,
        "history": history,
        "cell": cell,
        "codes": codes_in_force(on),
        "meanings": code_table(),
        "register_url": _register_url(access.school.urn, pupil, on),
        **extra,
    }


# --- the office: this morning's first-day calls -----------------------------------------


@login_required
@require_GET
def first_day(request: HttpRequest, urn: str) -> HttpResponse:
    """Pupils marked N (no reason yet) today, with who to ring, and a quick form for the reason given
    (for the office and the lead; the DSL and senior leaders see the list)."""
    access = _first_day_access(request, urn)
    if request.GET.get("on"):
        try:
            on = date.fromisoformat(request.GET["on"])
        except ValueError:  # a mistyped address: say so, and show today's calls rather than "not found"
            messages.error(request, f"{request.GET['on']!r} is not a date (YYYY-MM-DD): showing today's calls.")
            return redirect("pupils:first_day", urn=urn)
    else:
        on = services.school_calendar(access.school).register_day(timezone.localdate())
    return _first_day_page(request, access, on)


def _first_day_page(
    request: HttpRequest, access: Access, on: date, *, bound: ReasonReceivedForm | None = None
) -> HttpResponse:
    calls = selectors.first_day_calls(pupils=visible_pupils(access), on=on)
    calendar = services.school_calendar(access.school)
    today = timezone.localdate()
    register_day = calendar.register_day(today)
    services.audit_record(
        school=access.school,
        user=request.user,
        verb=AuditEvent.Verb.VIEW,
        what=f"first-day calls for {on:%-d %b %Y} (contacts of {len(calls)} pupil{pluralize(len(calls))})",
        path=request.get_full_path(),
    )
    rows = [
        (call, bound if bound and bound.pupil == call.pupil else ReasonReceivedForm(on=on, pupil=call.pupil))
        for call in calls
    ]
    context = {
        "access": access,
        "rows": rows,
        "on": on,
        "today": today,
        "register_day": register_day,
        # A weekend, a holiday or a day to come has no register: say so rather than "not taken yet".
        "day_problem": calendar.register_day_problem(on, today=today),
        # This school year's backlog as it stands today, whichever day is shown (that day is in the table).
        "earlier": _backlog(access, on=on, register_day=register_day),
        "taken": selectors.register_taken(pupils=visible_pupils(access), on=on),
        "progress": selectors.register_progress(pupils=visible_pupils(access), on=on),
        # A day from a school year with no term dates here: older than anything the school keeps.
        "year_unknown": not calendar.knows_year_of(on),
        "reason_days": selectors.N_REASON_SCHOOL_DAYS,
    }
    return render(request, "pupils/office_today.html", context, status=422 if bound else 200)


def _backlog(access: Access, *, on: date, register_day: date) -> list[selectors.UnexplainedDay]:
    """The days with an N still waiting, latest first, as they stand today: today's own too when an
    earlier day is on view (today's are in the table only when today is shown). Not the day shown."""
    pupils = visible_pupils(access)
    days = selectors.unexplained_days(school=access.school, pupils=pupils, before=register_day)
    if on != register_day and (today := selectors.unexplained_count(pupils=pupils, on=register_day)):
        days.insert(0, selectors.UnexplainedDay(register_day, today, 0))
    return [waiting for waiting in days if waiting.day != on]


#: The files the office can start from: every column an import reads, required ones first.
BLANK_CSV_COLUMNS = {
    "marks": (*imports.MARK_REQUIRED, *imports.MARK_OPTIONAL),
    "pupils": (*imports.PUPIL_REQUIRED, *imports.PUPIL_OPTIONAL),
}


@login_required
@require_GET
def blank_csv(request: HttpRequest, urn: str, kind: str) -> HttpResponse:
    """A CSV with only the header row an import reads: the columns, spelt as it wants them, to fill in."""
    access = _office_access(request, urn)
    if kind not in BLANK_CSV_COLUMNS:
        raise Http404("Not found")
    response = HttpResponse(",".join(BLANK_CSV_COLUMNS[kind]) + "\r\n", content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{kind}-{access.school.urn}.csv"'
    return response


@login_required
@require_GET
def first_day_waiting(request: HttpRequest, urn: str) -> HttpResponse:
    """Every absence this school year still without a reason, oldest first, on one page to work through."""
    access = _first_day_access(request, urn)
    register_day = services.school_calendar(access.school).register_day(timezone.localdate())
    waiting = selectors.waiting_calls(school=access.school, pupils=visible_pupils(access), up_to=register_day)
    pupils = len({call.pupil.pk for call in waiting.calls})
    services.audit_record(
        school=access.school,
        user=request.user,
        verb=AuditEvent.Verb.VIEW,
        what=f"absences still without a reason (contacts of {pupils} pupil{pluralize(pupils)})",
        path=request.get_full_path(),
    )
    context = {
        "access": access,
        "waiting": waiting,
        "rows": [(call, ReasonReceivedForm(on=call.day, pupil=call.pupil)) for call in waiting.calls],
        "register_day": register_day,
        "reason_days": selectors.N_REASON_SCHOOL_DAYS,
    }
    return render(request, "pupils/office_waiting.html", context)


@login_required
@require_POST
def first_day_reason(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    """A parent gave a reason: the pupil's N marks that day become the chosen code, with the reason kept."""
    access = _office_access(request, urn)
    pupil = pupil_for(access, pk)
    on = _date_or_404(request.POST.get("on", ""))
    form = ReasonReceivedForm(request.POST, on=on, pupil=pupil)
    if form.is_valid():
        code = form.cleaned_data["code"]
        try:
            explained = services.mark_explain(
                pupil=pupil,
                date=on,
                code=code,
                reason=form.cleaned_data["reason"],
                user=request.user,
                path=request.path,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            call = selectors.FirstDayCall(
                pupil=pupil, day=on, sessions=[m.session for m in explained.marks], contacts=[]
            )
            done = " ".join([_explained(call, code), *explained.also])
            if not request.htmx:
                messages.success(request, done)
                if request.POST.get("back") == "waiting":
                    return redirect("pupils:first_day_waiting", urn=urn)
                return redirect(f"{reverse('pupils:first_day', args=[urn])}?on={on}")
            context = {"access": access, "call": call, "done": done}
            return render(request, "pupils/office_today.html#call-row", context)
    if not request.htmx:
        return _first_day_page(request, access, on, bound=form)
    found = selectors.first_day_calls(pupils=visible_pupils(access).filter(pk=pupil.pk), on=on)
    call = found[0] if found else selectors.FirstDayCall(pupil=pupil, day=on, sessions=[], contacts=[])
    back = "waiting" if request.POST.get("back") == "waiting" else ""
    context = {"access": access, "call": call, "form": form, "back": back}
    return render(request, "pupils/office_today.html#call-row", context, status=422)


def _explained(call: selectors.FirstDayCall, code: str) -> str:
    if not call.sessions:
        return f"{call.pupil.full_name} has no N left that day: someone has already recorded the reason."
    return f"{call.pupil.full_name}: {call.session_names} now {code} ({code_table()[code].description})."
