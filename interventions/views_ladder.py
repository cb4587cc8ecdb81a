"""Ladder pages: the active ladder as a picture, copy, edit with validation, simulate, activate, export.

Seeing ladders needs `view_dashboard`; copying, editing and activating need `edit_ladder`.
A school's ladders are found by key within the school only, so another school's key is a 404.
Shipped ladders (interventions/ladders/*.yaml) can be seen and copied, never edited in place.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import markdown
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pupils.access import Access, school_access, visible_pupils
from pupils.models import AuditEvent, Flag
from pupils.services import audit_record, school_calendar

from . import selectors, selectors_ladder, services
from .forms_ladder import LadderYamlForm
from .ladder_format import Problem, problems_located
from .ladder_words import ladder_picture
from .models import Ladder


def _audit(request: HttpRequest, access: Access, verb: str, what: str) -> None:
    audit_record(school=access.school, user=request.user, verb=verb, what=what, path=request.path)


def _school_ladder(access: Access, key: str) -> Ladder:
    return get_object_or_404(Ladder.objects.select_related("school"), school=access.school, key=key)


@cache
def _shipped_document(name: str) -> dict[str, Any]:
    # Shipped files change only with a release, so each process reads each one once.
    return services.ladder_file_read(name)


def shipped_ladders() -> list[dict[str, Any]]:
    return [
        {
            "key": name,
            "name": _shipped_document(name)["name"],
            "source": _shipped_document(name).get("source", ""),
            "stages": len(_shipped_document(name)["stages"]),
        }
        for name in services.SHIPPED
    ]


def _flag_names(access: Access) -> dict[str, str]:
    return dict(Flag.objects.filter(school=access.school).values_list("key", "name"))


def _ladder_page(
    request: HttpRequest, access: Access, *, ladder: Ladder | None, document: dict[str, Any] | None, shipped: str = ""
) -> HttpResponse:
    counts = (
        selectors_ladder.stage_counts_by_key(ladder=ladder, pupils=visible_pupils(access))
        if ladder is not None
        else None
    )
    school_ladders = list(
        Ladder.objects.filter(school=access.school).annotate(stage_count=Count("stages")).order_by("-is_active", "name")
    )
    context = {
        "access": access,
        "ladder": ladder,
        "shipped": shipped,
        "document": document,
        "picture": ladder_picture(
            document,
            counts,
            _flag_names(access),
            services.letter_names(access.school),
            task_role=services.stage_action_role,
        )
        if document
        else None,
        "pupils_placed": sum(counts.values()) if counts else 0,
        "school_ladders": school_ladders,
        "shipped_ladders": shipped_ladders(),
        "school_keys": {services.ladder_copied_from(item.key) for item in school_ladders},
    }
    return render(request, "interventions/ladder_detail.html", context)


@login_required
@require_GET
def ladder_active(request: HttpRequest, urn: str) -> HttpResponse:
    access = school_access(request.user, urn)
    access.require("view_dashboard")
    ladder = services.active_ladder(access.school)
    document = services.ladder_document(ladder) if ladder else None
    return _ladder_page(request, access, ladder=ladder, document=document)


@login_required
@require_GET
def ladder_detail(request: HttpRequest, urn: str, key: str) -> HttpResponse:
    """One of the school's ladders; or, with ?shipped=1 (or no school ladder of that key), a shipped one."""
    access = school_access(request.user, urn)
    access.require("view_dashboard")
    ladder = Ladder.objects.filter(school=access.school, key=key).first()
    if ladder is not None and not request.GET.get("shipped"):
        return _ladder_page(request, access, ladder=ladder, document=services.ladder_document(ladder))
    if key not in services.SHIPPED:
        raise Http404("No such ladder")
    return _ladder_page(request, access, ladder=None, document=_shipped_document(key), shipped=key)


@login_required
@require_POST
def ladder_copy(request: HttpRequest, urn: str, key: str) -> HttpResponse:
    access = school_access(request.user, urn)
    access.require("edit_ladder")
    if request.POST.get("from") == "shipped":
        if key not in services.SHIPPED:
            raise Http404("No such ladder")
        document = _shipped_document(key)
    else:
        document = services.ladder_document(_school_ladder(access, key))
    try:
        copy, _ = services.ladder_copy(school=access.school, document=document)
    except services.LadderError as exc:
        # A shipped ladder can fail only if the school lacks one of its letter templates.
        for problem in exc.problems:
            messages.error(request, f"Could not copy: {problem}")
        return redirect("interventions:ladder", urn=urn)
    _audit(request, access, AuditEvent.Verb.CHANGE, f"copied ladder {key} to {copy.key}")
    messages.success(request, f"Copied to “{copy.name}” ({copy.key}). Edit it, simulate it, then activate it.")
    return redirect("interventions:ladder_edit", urn=urn, key=copy.key)


@login_required
@require_http_methods(["GET", "POST"])
def ladder_edit(request: HttpRequest, urn: str, key: str) -> HttpResponse:
    """Edit a ladder's YAML. "Check and save" saves it; "Simulate without saving" checks it as saving
    would and shows what it would change on last night's register, beside the saved version."""
    access = school_access(request.user, urn)
    access.require("edit_ladder")
    ladder = _school_ladder(access, key)
    form = LadderYamlForm(request.POST or None, initial={"text": services.ladder_export(ladder)})
    previewing = "preview" in request.POST
    context: dict[str, Any] = {"access": access, "ladder": ladder, "form": form, "problems": [], "warnings": []}
    if request.method == "POST" and form.is_valid():
        text, document = form.cleaned_data["text"], form.cleaned_data["document"]
        try:
            if previewing:
                edited, check = services.ladder_edit_check(ladder=ladder, document=document)
            else:
                ladder, check = services.ladder_edit(ladder=ladder, document=document)
        except services.LadderError as exc:
            context["problems"] = problems_located(exc.problems, text)
            warnings = services.ladder_check(school=access.school, document=document).warnings
            context["warnings"] = problems_located(warnings, text)
        else:
            if not previewing:
                _audit(request, access, AuditEvent.Verb.CHANGE, f"edited ladder {ladder.key}")
                saved = f"Saved “{ladder.name}”."
                if ladder.is_active:  # pupils stay where they are until the night reads the new ladder
                    saved += (
                        " Pupils move by it from the next nightly run; until then they stand where last night"
                        " put them. Simulate it to see what that run will do."
                    )
                messages.success(request, saved)
                for warning in problems_located(check.warnings, text):
                    messages.warning(request, f"Warning: {warning}")
                return redirect("interventions:ladder_detail", urn=urn, key=ladder.key)
            context["warnings"] = problems_located(check.warnings, text)
            context.update(_edit_preview(access, ladder, edited))
            return render(request, "interventions/ladder_edit.html", context)
    if request.method == "POST" and not form.is_valid():
        context["problems"] = form.problems or [Problem("", error) for error in form.errors.get("text", [])]
    status = 422 if request.method == "POST" else 200
    return render(request, "interventions/ladder_edit.html", context, status=status)


def _edit_preview(access: Access, ladder: Ladder, edited: dict[str, Any]) -> dict[str, Any]:
    """The ladder as saved and as edited, simulated on the register as last night read it (`ladder_simulate`)."""
    school = access.school
    as_of = selectors.simulation_day(school=school, night=selectors.last_good_run(school=school))
    saved = services.ladder_simulate(school=school, document=services.ladder_document(ladder), as_of=as_of)
    preview = selectors_ladder.edit_preview(
        saved=saved,
        edited=services.ladder_simulate(school=school, document=edited, as_of=as_of),
        pupils=visible_pupils(access),
    )
    return {"preview": preview, "register_day": school_calendar(school).register_day(as_of)}


@login_required
@require_GET
def ladder_format_help(request: HttpRequest, urn: str) -> HttpResponse:
    """The ladder file's full reference (docs/ladder-format.md), as a page beside the editor."""
    access = school_access(request.user, urn)
    access.require("view_dashboard")
    return render(request, "interventions/ladder_format.html", {"access": access, "reference": _format_reference()})


@cache
def _format_reference() -> str:
    """docs/ladder-format.md as HTML: our own file, read once a process."""
    text = (settings.BASE_DIR / "docs" / "ladder-format.md").read_text(encoding="utf-8")
    return markdown.markdown(text, extensions=["tables", "fenced_code", "toc"])


#: The simulation page lists this many moves; the rest are counted.
MOVES_SHOWN = 300


@login_required
@require_GET
def ladder_simulate(request: HttpRequest, urn: str, key: str) -> HttpResponse:
    """What this ladder would have done last night, on the register the night read. Changes nothing.

    As `ladder_detail`, ?shipped=1 (or no school ladder of that key) simulates a shipped ladder, before copying it.
    """
    access = school_access(request.user, urn)
    access.require("view_dashboard")
    ladder = Ladder.objects.filter(school=access.school, key=key).first()
    shipped = ""
    if ladder is None or request.GET.get("shipped"):
        if key not in services.SHIPPED:
            raise Http404("No such ladder")
        ladder, shipped, document = None, key, _shipped_document(key)
    else:
        document = services.ladder_document(ladder)
    today = timezone.localdate()
    night = selectors.last_good_run(school=access.school)
    as_of = selectors.simulation_day(school=access.school, night=night)
    try:
        stages = services.document_stages(school=access.school, document=document) if shipped else None
        simulation = services.ladder_simulate(
            school=access.school, document=document, as_of=as_of, shipped=bool(shipped)
        )
    except services.LadderError as exc:
        # A ladder naming a letter template the school lacks (or has since removed).
        for problem in exc.problems:
            messages.error(request, f"Could not simulate: {problem}")
        detail = reverse("interventions:ladder_detail", args=[urn, key])
        return redirect(f"{detail}?shipped=1" if shipped else detail)
    names = services.letter_names(access.school)
    page = selectors_ladder.simulation_page(
        school=access.school, ladder=ladder, stages=stages, pupils=visible_pupils(access), simulation=simulation
    )
    context = {
        "access": access,
        "ladder": ladder,
        "shipped": shipped,
        "name": document["name"],
        "simulation": simulation,
        "page": page,
        "moves": page.moves[:MOVES_SHOWN],
        "more_moves": max(len(page.moves) - MOVES_SHOWN, 0),
        "today": today,
        "register_day": school_calendar(access.school).register_day(as_of),  # the last school day counted
        "night": night,
        "rest_days": selectors.DECLINE_RESTS_SCHOOL_DAYS,
        "letters": [{"name": names.get(row["key"], row["key"]), "count": row["count"]} for row in simulation.letters],
    }
    return render(request, "interventions/ladder_simulate.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def ladder_activate(request: HttpRequest, urn: str, key: str) -> HttpResponse:
    """GET asks for confirmation; POST makes this the school's active ladder. Idempotent."""
    access = school_access(request.user, urn)
    access.require("edit_ladder")
    ladder = _school_ladder(access, key)
    if request.method == "POST":
        if not ladder.is_active:
            done = services.ladder_activate(ladder=ladder, user=request.user)
            _audit(request, access, AuditEvent.Verb.CHANGE, f"activated ladder {ladder.key}")
            message = f"“{ladder.name}” is now the active ladder."
            if done.kept:
                message += (
                    f" {done.kept} pupil{pluralize(done.kept)} kept {pluralize(done.kept, 'its,their')} stage,"
                    " with nothing sent or given again."
                )
            if done.left_to_place or not done.kept:
                message += " Tonight's run places everyone else and moves whoever the ladder says should move."
            else:
                message += " Tonight's run moves whoever this ladder says should move."
            if done.proposals_kept:
                message += (
                    f" {done.proposals_kept} move{pluralize(done.proposals_kept)} awaiting approval"
                    f" {pluralize(done.proposals_kept, 'waits,wait')} on this ladder."
                )
            if done.withdrawn:
                message += (
                    f" {done.withdrawn} move{pluralize(done.withdrawn)} proposed on the ladder it replaces "
                    f"{pluralize(done.withdrawn, 'was,were')} withdrawn."
                )
            messages.success(request, message)
        else:
            messages.info(request, f"“{ladder.name}” was already the active ladder.")
        return redirect("interventions:ladder", urn=urn)
    context = {
        "access": access,
        "ladder": ladder,
        "active": services.active_ladder(access.school),
        "preview": services.activation_plan(ladder=ladder),
    }
    return render(request, "interventions/ladder_activate.html", context)


@login_required
@require_GET
def ladder_export(request: HttpRequest, urn: str, key: str) -> HttpResponse:
    access = school_access(request.user, urn)
    access.require("view_dashboard")
    ladder = _school_ladder(access, key)
    _audit(request, access, AuditEvent.Verb.EXPORT, f"ladder {ladder.key} as YAML")
    response = HttpResponse(services.ladder_export(ladder), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{ladder.key}.yaml"'
    return response
