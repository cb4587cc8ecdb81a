"""Senior leaders' lists: escalations, referrals, persistent and severe absence by group. Each exports as CSV.

Like every page, these load the school through `school_access` and pupils through
`visible_pupils` / `pupil_for`; anything outside reach is a 404. Add `?format=csv`
to a list's URL (with its filters) for the same rows as a spreadsheet; every
export is kept in the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from pupils.access import Access, pupil_for, school_access, visible_pupils
from pupils.codes import PENALTY_CODES, PENALTY_SESSIONS, PENALTY_WEEKS
from pupils.models import AuditEvent, School
from pupils.people import person_name
from pupils.services import audit_record, school_calendar
from pupils.spreadsheets import cell, csv_download, pct_cell

from . import selectors, selectors_lists, services
from .forms_lists import EscalationFilterForm, ReferralFilterForm, ReferralForm, ReferralUpdateForm
from .models import Referral, Stage


def _wants_csv(request: HttpRequest) -> bool:
    return request.GET.get("format") == "csv"


def _csv(school: School, name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> HttpResponse:
    """A list as CSV. Each row starts with the school's URN: an LA officer puts several schools' files together."""
    response, writer = csv_download(name)
    writer.writerow(["School URN", *header])
    for row in rows:
        writer.writerow([school.urn, *(cell(v) for v in row)])
    return response


def _audit(request: HttpRequest, access: Access, verb: str, what: str, pupil: Any = None) -> None:
    audit_record(school=access.school, user=request.user, verb=verb, what=what, pupil=pupil, path=request.path)


def _query_without(request: HttpRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


# --- escalations ----------------------------------------------------------------------

ESCALATION_COLUMNS = (
    "Moved on",
    "UPN",
    "Pupil",
    "Class",
    "Year",
    "From stage",
    "To stage",
    "Kind",
    "Reasons",
    "Acted",
    "Actions since",
)


@login_required
@require_GET
def escalations(request: HttpRequest, urn: str) -> HttpResponse:
    access = school_access(request.user, urn)
    access.require("view_lists")
    ladder = services.active_ladder(access.school)
    today = timezone.localdate()
    stages = ladder.stages.all() if ladder else Stage.objects.none()
    form = EscalationFilterForm(request.GET, school=access.school, stages=stages, today=today)
    start, end = form.period()
    filters = {
        "pupils": visible_pupils(access),
        "start": start,
        "end": end,
        "stage": form.choice("stage"),
        "registration_group": form.choice("registration_group"),
        "year_group": form.choice("year_group"),
    }
    rows = selectors_lists.escalation_list(ladder=ladder, **filters) if ladder else []
    if _wants_csv(request):
        _audit(request, access, AuditEvent.Verb.EXPORT, f"escalations {start} to {end} as CSV ({len(rows)} rows)")
        return _csv(
            access.school,
            f"escalations-{access.school.urn}-{start}-to-{end}.csv",
            ESCALATION_COLUMNS,
            _escalation_rows(rows),
        )
    _audit(request, access, AuditEvent.Verb.VIEW, f"escalations list {start} to {end} ({len(rows)} rows)")
    context = {
        "access": access,
        "ladder": ladder,
        "form": form,
        "rows": rows,
        "start": start,
        "end": end,
        "first_night": selectors_lists.first_night_between(ladder=ladder, **filters) if ladder else None,
        # Moves a person has still to approve: nobody has moved yet, but the list should not look quiet.
        "waiting": selectors.pending_proposals(ladder=ladder, pupils=filters["pupils"]).count() if ladder else 0,
        "csv_query": _query_without(request, "format"),
        "tab": "escalations",
    }
    template = "interventions/lists_escalations.html"
    return render(request, f"{template}#escalation-list" if request.htmx else template, context)


def _escalation_rows(rows: list[selectors_lists.Escalation]) -> Iterable[list[Any]]:
    for row in rows:
        change, pupil = row.change, row.change.pupil
        yield [
            change.on.isoformat(),
            pupil.upn,
            pupil.full_name,
            pupil.registration_group.name,
            pupil.year_group.name,
            change.from_stage.name if change.from_stage else "",
            change.to_stage.name,
            change.get_kind_display(),
            "; ".join(change.reasons),
            row.acted,
            "; ".join(
                f"{a.occurred_on.isoformat()} {a.title or a.get_kind_display()}{f' ({person_name(a.by)})' if a.by else ''}"
                f"{' [corrected]' if a.corrected else ''}"
                for a in row.actions
            ),
        ]


# --- referrals ------------------------------------------------------------------------

REFERRAL_COLUMNS = ("Date", "UPN", "Pupil", "Class", "Referred to", "Status", "Outcome", "Recorded by", "Last updated")


def _require_refer(access: Access) -> None:
    """Recording and updating referrals: people who see the lists and log actions (not the read-only LA officer)."""
    access.require("view_lists")
    access.require("log_action")


def _row_form(referral: Referral, data: Any = None) -> ReferralUpdateForm:
    form = ReferralUpdateForm(
        data,
        referral=referral,
        initial={
            "made_on": referral.made_on,
            "made_on_shown": referral.made_on,
            "status": referral.status,
            "outcome": referral.outcome,
        },
        auto_id=f"referral-{referral.pk}-%s",
    )
    form.fields["made_on"].widget.attrs["form"] = f"referral-{referral.pk}-form"  # it sits in the Date column
    return form


def _referrals_page(
    request: HttpRequest, access: Access, *, bound: ReferralUpdateForm | None = None, bound_pk: int | None = None
) -> dict[str, Any]:
    form = ReferralFilterForm(request.GET or None)
    pupils = visible_pupils(access)
    referrals = list(
        selectors_lists.referral_list(
            school=access.school, pupils=pupils, status=form.choice("status"), to=form.choice("to")
        )
    )
    return {
        "access": access,
        "form": form,
        "rows": [(r, bound if r.pk == bound_pk and bound else _row_form(r)) for r in referrals],
        "counts": selectors_lists.referral_counts(school=access.school, pupils=pupils),
        "can_update": access.can("log_action"),
        "csv_query": _query_without(request, "format"),
        "tab": "referrals",
    }


@login_required
@require_GET
def referrals(request: HttpRequest, urn: str) -> HttpResponse:
    access = school_access(request.user, urn)
    access.require("view_lists")
    context = _referrals_page(request, access)
    if _wants_csv(request):
        rows = [r for r, _ in context["rows"]]
        _audit(request, access, AuditEvent.Verb.EXPORT, f"referrals list as CSV ({len(rows)} rows)")
        return _csv(
            access.school,
            f"referrals-{access.school.urn}-{timezone.localdate()}.csv",
            REFERRAL_COLUMNS,
            (
                [
                    r.made_on.isoformat(),
                    r.pupil.upn,
                    r.pupil.full_name,
                    r.pupil.registration_group.name,
                    r.get_to_display(),
                    r.get_status_display(),
                    r.outcome,
                    person_name(r.by),
                    timezone.localtime(r.updated_at).strftime("%Y-%m-%d %H:%M"),
                ]
                for r in rows
            ),
        )
    _audit(request, access, AuditEvent.Verb.VIEW, f"referrals list ({len(context['rows'])} rows)")
    template = "interventions/lists_referrals.html"
    return render(request, f"{template}#referral-list" if request.htmx else template, context)


@login_required
@require_POST
def referral_update(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    access = school_access(request.user, urn)
    _require_refer(access)
    referral = get_object_or_404(
        Referral.objects.select_related("pupil", "pupil__registration_group", "by", "school"),
        pk=pk,
        school=access.school,
        pupil__in=visible_pupils(access),
    )
    form = _row_form(referral, request.POST)
    saved = False
    if form.is_valid():
        before = (referral.made_on, referral.status, referral.outcome)
        try:
            services.referral_update(
                referral=referral,
                user=request.user,
                status=form.cleaned_data["status"],
                outcome=form.cleaned_data["outcome"].strip(),
                made_on=form.cleaned_data["made_on"],
                made_on_shown=form.cleaned_data["made_on_shown"],
            )
        except ValidationError as exc:
            if isinstance(exc, services.ReferralRedatedMeanwhile):  # shown as it now reads, to save again
                referral.refresh_from_db()
                data = request.POST.copy()
                data["made_on"] = data["made_on_shown"] = referral.made_on.isoformat()
                form = _row_form(referral, data)
                form.is_valid()
            form.add_error(None, exc)
            for name in getattr(exc, "error_dict", {}):
                form.mark_invalid(name)
        else:
            saved = True
            if (referral.made_on, referral.status, referral.outcome) != before:
                what = (
                    f"referral to {referral.get_to_display()} for {referral.pupil.upn}: {referral.get_status_display()}"
                    + (f", dated {referral.made_on}" if referral.made_on != before[0] else "")
                )
                _audit(request, access, AuditEvent.Verb.CHANGE, what, pupil=referral.pupil)
            form = _row_form(referral)
    status = 200 if saved else 422
    if request.htmx and saved and referral.made_on != before[0]:
        # A new date moves the referral in the list (newest first): the page comes again, as filtered.
        messages.success(
            request,
            f"Saved: {referral.pupil.full_name}'s referral to {referral.get_to_display()} is now dated "
            f"{referral.made_on:%-d %b %Y}, and listed in its place.",
        )
        return HttpResponseClientRefresh()
    if request.htmx:
        context = {"access": access, "referral": referral, "row_form": form, "can_update": True, "saved": saved}
        response = render(request, "interventions/lists_referrals.html#referral-row", context, status=status)
        if saved:  # the counts at the top of the page follow the new status, out of band
            counts = selectors_lists.referral_counts(school=access.school, pupils=visible_pupils(access))
            response.content += render_to_string(
                "interventions/lists_referrals.html#referral-counts", {"counts": counts, "oob": True}, request
            ).encode()
        return response
    if saved:
        messages.success(request, f"Referral for {referral.pupil.full_name} saved.")
        return redirect("interventions:referrals", urn=urn)
    context = _referrals_page(request, access, bound=form, bound_pk=referral.pk)
    return render(request, "interventions/lists_referrals.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def referral_create(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    access = school_access(request.user, urn)
    _require_refer(access)
    pupil = pupil_for(access, pk)
    form = ReferralForm(request.POST or None, pupil=pupil)
    saved = None
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.referral_record(
                pupil=pupil,
                user=request.user,
                to=form.cleaned_data["to"],
                made_on=form.cleaned_data["made_on"],
                status=form.cleaned_data["status"],
                outcome=form.cleaned_data["outcome"].strip(),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            what = f"recorded a referral to {saved.get_to_display()} for {pupil.upn}"
            _audit(request, access, AuditEvent.Verb.CHANGE, what, pupil=pupil)
            if not request.htmx:
                messages.success(request, f"Referral to {saved.get_to_display()} recorded for {pupil.full_name}.")
                return redirect("interventions:pupil", urn=urn, pk=pupil.pk)
            form = ReferralForm(pupil=pupil)
    context = {
        "access": access,
        "pupil": pupil,
        "form": form,
        "saved": saved,
        "referrals": pupil.referrals.select_related("by").order_by("-made_on", "-pk"),
        "tab": "referrals",
    }
    status = 422 if request.method == "POST" and saved is None else 200
    template = "interventions/lists_referral_form.html"
    return render(request, f"{template}#referral-form" if request.htmx else template, context, status=status)


# --- persistent and severe absence by group ----------------------------------------------

ABSENCE_COLUMNS = (
    "Grouping",
    "Group",
    "Pupils",
    "Persistently absent",
    "Persistent absence %",
    "Severely absent",
    "Severe absence %",
    "Compared with",
    "Their persistent absence %",
    "Note",
    "From",
    "To",
)


@login_required
@require_GET
def absence_groups(request: HttpRequest, urn: str) -> HttpResponse:
    access = school_access(request.user, urn)
    access.require("view_lists")
    calendar, today = school_calendar(access.school), timezone.localdate()
    start, end = calendar.academic_year_window(today)
    national = settings.NATIONAL_PERSISTENT_ABSENCE_PCT
    tables = selectors_lists.absence_by_group(
        school=access.school,
        pupils=visible_pupils(access),
        start=start,
        end=end,
        national_pct=Decimal(str(national)),
    )
    if request.GET.get("group"):
        return _absence_group(request, access, tables=tables, key=request.GET["group"], start=start, end=end)
    if _wants_csv(request):
        _audit(
            request, access, AuditEvent.Verb.EXPORT, f"persistent and severe absence by group {start} to {end} as CSV"
        )
        return _csv(
            access.school,
            f"absence-by-group-{access.school.urn}-{end}.csv",
            ABSENCE_COLUMNS,
            _absence_rows(
                tables, national=national, national_label=settings.NATIONAL_FIGURES_LABEL, start=start, end=end
            ),
        )
    context = {
        "access": access,
        "whole": tables[0].rows[0],
        "tables": tables[1:],
        "start": start,
        "end": end,
        "national": national,
        "national_label": settings.NATIONAL_FIGURES_LABEL,
        "small_group": selectors_lists.SMALL_GROUP,
        "tab": "absence",
        "registers_start": selectors.registers_start(school=access.school, calendar=calendar, today=today),
    }
    return render(request, "interventions/lists_absence.html", context)


ABSENT_PUPIL_COLUMNS = (
    "Group",
    "UPN",
    "Pupil",
    "Class",
    "Year",
    "Possible sessions",
    "Absent sessions",
    "Unauthorised sessions",
    "Attendance %",
    "Severe",
    "Stage",
    "Left on",
    "From",
    "To",
)


def _absence_group(
    request: HttpRequest,
    access: Access,
    *,
    tables: list[selectors_lists.GroupTable],
    key: str,
    start: date,
    end: date,
) -> HttpResponse:
    """The persistently absent pupils behind one row of the absence-by-group tables: who the rate is."""
    row = selectors_lists.group_row(tables, key)
    if row is None:
        raise Http404("No such group")
    found = selectors_lists.persistently_absent(row=row, pupils=visible_pupils(access))
    what = f"persistently absent pupils, {row.name}, {start} to {end}"
    if _wants_csv(request):
        _audit(request, access, AuditEvent.Verb.EXPORT, f"{what} as CSV ({len(found)} rows)")
        return _csv(
            access.school,
            f"persistently-absent-{access.school.urn}-{key}-{end}.csv",
            ABSENT_PUPIL_COLUMNS,
            (
                [
                    row.name,
                    absent.pupil.upn,
                    absent.pupil.full_name,
                    absent.pupil.registration_group.name,
                    absent.pupil.year_group.name,
                    absent.summary.possible,
                    absent.summary.absent,
                    absent.summary.unauthorised,
                    pct_cell(absent.summary.attendance_pct),
                    "yes" if absent.summary.severe else "no",
                    absent.stage.name if absent.stage else "",
                    absent.pupil.leaving_on.isoformat() if absent.pupil.leaving_on else "",
                    start.isoformat(),
                    end.isoformat(),
                ]
                for absent in found
            ),
        )
    _audit(request, access, AuditEvent.Verb.VIEW, f"{what} ({len(found)} rows)")
    context = {
        "access": access,
        "row": row,
        "found": found,
        "start": start,
        "end": end,
        "key": key,
        "tab": "absence",
    }
    return render(request, "interventions/lists_absence_group.html", context)


@login_required
@require_GET
def penalty_threshold(request: HttpRequest, urn: str) -> HttpResponse:
    """Pupils at the penalty-notice threshold: 10 unauthorised sessions in a rolling 10 school weeks."""
    access = school_access(request.user, urn)
    access.require("view_lists")
    found = selectors_lists.penalty_threshold_list(
        pupils=visible_pupils(access), calendar=school_calendar(access.school), today=timezone.localdate()
    )
    window = f"{found.start} to {found.end}"
    if _wants_csv(request):
        _audit(
            request,
            access,
            AuditEvent.Verb.EXPORT,
            f"penalty notice threshold {window} as CSV ({len(found.rows)} rows)",
        )
        return _csv(
            access.school,
            f"penalty-threshold-{access.school.urn}-{found.end}.csv",
            PENALTY_COLUMNS,
            _penalty_rows(found),
        )
    _audit(request, access, AuditEvent.Verb.VIEW, f"penalty notice threshold list {window} ({len(found.rows)} rows)")
    context = {
        "access": access,
        "found": found,
        "sessions": PENALTY_SESSIONS,
        "weeks": PENALTY_WEEKS,
        "codes": sorted(PENALTY_CODES),
        "tab": "penalty",
    }
    return render(request, "interventions/lists_penalty.html", context)


PENALTY_COLUMNS = (
    "UPN",
    "Pupil",
    "Class",
    "Stage",
    "Unauthorised sessions",
    "Penalty notice recorded",
    "Recorded on",
    "From",
    "To",
)


def _penalty_rows(found: selectors_lists.PenaltyList) -> Iterable[list[Any]]:
    for row in found.rows:
        referral = row.last_referral
        yield [
            row.pupil.upn,
            row.pupil.full_name,
            row.pupil.registration_group.name,
            row.stage.name if row.stage else "",
            row.sessions,
            referral.get_status_display() if referral else "",
            referral.made_on.isoformat() if referral else "",
            found.start.isoformat(),
            found.end.isoformat(),
        ]


SMALL_GROUP_NOTE = f"* fewer than {selectors_lists.SMALL_GROUP} pupils: one pupil moves their rates a lot"


def _absence_rows(
    tables: list[selectors_lists.GroupTable], *, national: float, national_label: str, start: date, end: date
) -> Iterable[list[Any]]:
    for table in tables:
        for row in table.rows:
            yield [
                table.heading,
                row.name,
                row.pupils,
                row.persistent,
                pct_cell(row.persistent_pct),
                row.severe,
                pct_cell(row.severe_pct),
                national_label if row.compared_with == "national" else row.compared_with,
                national if row.compared_with == "national" else pct_cell(row.compared_pct),
                # The page's * for a small group, in words.
                "; ".join(filter(None, [row.note, SMALL_GROUP_NOTE if row.small else ""])),
                start.isoformat(),
                end.isoformat(),
            ]
