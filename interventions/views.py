"""Staff pages: the lead's dashboard, the pupil page, logging actions, the class teacher's view.

Every view loads its school through `pupils.access.school_access` and its pupils
through `visible_pupils` / `pupil_for`: anything outside reach is a 404.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from kombu.exceptions import OperationalError as BrokerError

from pupils.access import Access, pupil_for, school_access, visible_pupils
from pupils.models import AuditEvent, Pupil, StaffMembership
from pupils.selectors import register_taken, unexplained_days
from pupils.services import audit_record, school_calendar

from . import charts, selectors, services
from .forms import (
    ActionCorrectionForm,
    ActionForm,
    FlagsForm,
    MoveForm,
    PlacementFilter,
    ReasonForm,
    TaskDoneForm,
    name_matches,
)
from .models import ActionLog, Ladder, NightlyRun, Proposal, Stage, Task
from .tasks import night_run, nightly_run_task

logger = logging.getLogger(__name__)

#: How many proposals and tasks the dashboard shows at once (oldest and most overdue first).
DASHBOARD_ITEMS = 10
#: Nights on the run-history page: a month, enough to see a pattern of failures.
NIGHTS_SHOWN = 30


def _ladder(access: Access) -> Ladder:
    ladder = services.active_ladder(access.school)
    if ladder is None:
        raise Http404("This school has no active ladder yet.")
    return ladder


@login_required
@require_GET
def dashboard(request: HttpRequest, urn: str) -> HttpResponse:
    access = school_access(request.user, urn)
    access.require("view_dashboard")
    ladder = services.active_ladder(access.school)
    if ladder is None:  # a school just starting: what to do first, rather than an empty dashboard
        context = {
            "access": access,
            "start": selectors.school_start(school=access.school, on=timezone.localdate()),
            "nightly_time": selectors.nightly_local_time(),
        }
        return render(request, "interventions/dashboard_start.html", context)
    pupils = visible_pupils(access)
    today = timezone.localdate()
    calendar = school_calendar(access.school)
    on = calendar.register_day(today)  # on a weekend or in a holiday, the last school day
    placements = selectors.placements_for(ladder=ladder, pupils=pupils)
    filtered = PlacementFilter(request.GET or None, queryset=placements, school=access.school, ladder=ladder)
    # Lazy: read only when the cached list below has expired.
    page = SimpleLazyObject(lambda: Paginator(filtered.qs, 50).get_page(request.GET.get("page")))
    run = selectors.last_run(school=access.school)
    moves = selectors.overnight_moves(ladder=ladder, pupils=pupils, on=run.run_on if run else None)
    proposals = selectors.pending_proposals(ladder=ladder, pupils=pupils)
    due = selectors.tasks_due(school=access.school, pupils=pupils, on=today)
    # A read-only officer has no tasks of their own here: the school's are all "others'".
    tasks = due.none() if access.read_only else due.filter(access.owned())
    context = {
        "access": access,
        "ladder": ladder,
        # Both lazy: read only when their cached blocks have expired.
        "stage_counts": SimpleLazyObject(lambda: selectors.stage_counts(ladder=ladder, placements=placements)),
        "chart": SimpleLazyObject(lambda: _attendance_chart(access.school, today)),
        "chart_phone": SimpleLazyObject(lambda: _attendance_chart(access.school, today, width=360)),
        "filter": filtered,
        "page": page,
        "query": _query_without_page(request),
        "moves": moves[:DASHBOARD_ITEMS],
        "move_count": moves.count(),
        "placed_count": selectors.first_placements(
            ladder=ladder, pupils=pupils, on=run.run_on if run else None
        ).count(),
        "version": selectors.placements_version(ladder=ladder),
        "list_key": request.GET.urlencode(),
        # A name typed into the search is one of many as it is typed: not worth keeping for an hour each.
        "list_cache": "none" if request.GET.get("name") else "default",
        "pupil_prefix": pupil_url_prefix(urn),
        # A name looked for among pupils no night has placed yet (imported today): said beside the list.
        "not_placed": _not_placed_named(filtered, ladder=ladder, pupils=pupils, on=today),
        "night": selectors.nightly_status(school=access.school),
        "nightly_time": selectors.nightly_local_time(),
        # ?proposals=all: every move waiting, for a senior leader going through a night's many at once.
        "proposals": selectors.for_deciding(
            school=access.school,
            proposals=proposals if request.GET.get("proposals") == "all" else proposals[:DASHBOARD_ITEMS],
            today=today,
        ),
        "proposal_count": proposals.count(),
        "tasks": tasks[:DASHBOARD_ITEMS],
        "task_count": tasks.count(),
        "overdue_count": tasks.filter(Task.overdue_on(today)).count(),
        "others_tasks": selectors.tasks_by_whom(due if access.read_only else due.exclude(access.owned()), on=today),
        "absences": selectors.first_day_absences(pupils=pupils, on=on),
        "taken": register_taken(pupils=pupils, on=on),
        # The office's backlog: earlier days this school year with an N still waiting for its reason.
        "waiting": unexplained_days(school=access.school, pupils=pupils, before=on),
        "on": on,
        "today": today,
        "national_label": settings.NATIONAL_FIGURES_LABEL,
        "registers_start": selectors.registers_start(school=access.school, calendar=calendar, today=today),
    }
    template = (
        "interventions/dashboard.html#pupil-list"
        if request.htmx and request.htmx.target == "pupil-list"
        else "interventions/dashboard.html"
    )
    return render(request, template, context)


def _attendance_chart(school: Any, today: Any, *, width: int = 640) -> charts.Chart:
    """Whole-school attendance and persistent absence by week, beside the national figures."""
    shown = selectors.chart_weeks(school=school, since=today - timedelta(weeks=44))
    weeks = shown.weeks
    chart = charts.weekly_chart(
        [w.week_start.strftime("%-d %b") for w in weeks],
        [
            ("Attendance", [w.attendance_pct for w in weeks], "line-attendance"),
            ("Persistent absence", [w.persistent_absence_pct for w in weeks], "line-pa"),
        ],
        [
            (
                f"National attendance {settings.NATIONAL_ATTENDANCE_PCT}%",
                settings.NATIONAL_ATTENDANCE_PCT,
                "ref-attendance",
            ),
            (
                f"National PA {settings.NATIONAL_PERSISTENT_ABSENCE_PCT}%",
                settings.NATIONAL_PERSISTENT_ABSENCE_PCT,
                "ref-pa",
            ),
        ],
        width=width,
    )
    return replace(chart, note=shown.note)


def _not_placed_named(filtered: PlacementFilter, *, ladder: Ladder, pupils: Any, on: date) -> list[Any]:
    """Pupils no night has placed yet whose name the list's search gives, as the filter checked it (a name
    the filter refuses, too long say, looks for nobody)."""
    if not filtered.form.is_valid() or not (name := filtered.form.cleaned_data.get("name", "").strip()):
        return []
    return selectors.not_placed_yet(ladder=ladder, pupils=pupils.filter(name_matches(name)), on=on)


def _query_without_page(request: HttpRequest) -> str:
    """The pupil list's filters, for its page links: not its page, nor how many moves waiting are shown."""
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("proposals", None)
    return query.urlencode()


@login_required
@require_GET
def pupil_detail(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    access = school_access(request.user, urn)
    pupil = pupil_for(access, pk)
    audit_record(
        school=access.school,
        user=request.user,
        verb=AuditEvent.Verb.VIEW,
        what=f"pupil record {pupil.upn}",
        pupil=pupil,
        path=request.path,
    )
    ladder = services.active_ladder(access.school)
    record = selectors.pupil_record(pupil=pupil, ladder=ladder, on=timezone.localdate())
    if access.can_manage_stages:  # deciding here as on the dashboard: with what the absence was
        selectors.for_deciding(school=access.school, proposals=record.proposals, today=timezone.localdate())
    context = {
        "access": access,
        "pupil": pupil,
        "record": record,
        "ladder": ladder,
        "action_form": _action_form(access, pupil, record.placement.stage if record.placement else None),
        "summaries": [("This year", record.year), ("This half-term", record.half_term)],
        "undoable": selectors.actions_undoable(user=request.user, pupils=Pupil.objects.filter(pk=pupil.pk))
        if access.can_log_action
        else [],
        **_actions_context(access, record.actions),
        # For those who see the referrals list, and no one else: who a child was referred to is sensitive.
        "referrals": list(pupil.referrals.select_related("by").order_by("-made_on", "-pk"))
        if access.can_view_lists
        else [],
        "day_names": ("Mon", "Tue", "Wed", "Thu", "Fri"),
        "today": timezone.localdate(),
    }
    return render(request, "interventions/pupil_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def action_create(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    access = school_access(request.user, urn)
    access.require("log_action")
    pupil = pupil_for(access, pk)
    ladder = services.active_ladder(access.school)
    placement = pupil.placements.filter(ladder=ladder).select_related("stage").first() if ladder else None
    form = _action_form(access, pupil, placement.stage if placement else None, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        kind, title, stage_action_key = form.action_kind_and_title()
        closes = (
            selectors.open_stage_action_task(pupil=pupil, stage=form.stage, key=stage_action_key)
            if stage_action_key
            else selectors.open_task_logged_as(
                pupil=pupil, kind=kind, access=access, occurred_on=form.cleaned_data["occurred_on"]
            )
        )
        if closes is not None and not access.may_do(role=closes.role, assigned_to_id=closes.assigned_to_id):
            closes = None  # assigned to someone else: the action is logged, their task stays open for them
        try:
            action = services.action_log(
                pupil=pupil,
                user=request.user,
                kind=kind,
                title=title,
                occurred_on=form.cleaned_data["occurred_on"],
                outcome=form.cleaned_data["outcome"],
                notes=form.cleaned_data["notes"],
                next_step=form.cleaned_data["next_step"],
                next_step_due=form.cleaned_data["next_step_due"],
                closes=closes,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            _audit_change(request, access, f"logged {title} for {pupil.upn}", pupil=pupil)
            # A task done by the kind of action (its `logged_as`) is worth saying; one chosen by name is not.
            saved = (
                f"{title}; their task “{action.task.title}” is done" if action.task and not stage_action_key else title
            )
            if request.htmx:
                actions = selectors.pupil_actions(pupil=pupil)
                return render(
                    request,
                    "interventions/action_form.html",
                    {
                        "access": access,
                        "pupil": pupil,
                        "form": _action_form(access, pupil, form.stage),  # what was just done says so
                        "saved": saved,
                        # The pupil page's lists, refreshed out of band beside the form.
                        "record": {"actions": actions, "tasks": selectors.pupil_open_tasks(pupil=pupil)},
                        **_actions_context(access, actions),
                        "undoable": selectors.actions_undoable(
                            user=request.user, pupils=Pupil.objects.filter(pk=pupil.pk)
                        ),
                        "today": timezone.localdate(),
                    },
                )
            messages.success(request, f"Logged: {saved}.")
            return redirect("interventions:pupil", urn=urn, pk=pupil.pk)
    status = 422 if request.method == "POST" else 200
    return render(
        request, "interventions/action_form.html", {"access": access, "pupil": pupil, "form": form}, status=status
    )


def _action_form(access: Access, pupil: Pupil, stage: Stage | None, data: Any = None) -> ActionForm:
    """The pupil's "What happened" form at `stage`: the stage's actions theirs to do, those done saying when."""
    done = selectors.stage_actions_done(pupil=pupil, stage=stage)
    return ActionForm(data, stage=stage, joined=pupil.start_on, access=access, done=done)


def _task_for(request: HttpRequest, urn: str, pk: int) -> tuple[Access, Task]:
    """A task this person may mark done (or take back): in their school, a pupil they see, their role's."""
    access = school_access(request.user, urn)
    access.require("log_action")
    task = get_object_or_404(Task.objects.select_related("pupil", "school"), pk=pk, pupil__in=visible_pupils(access))
    if not access.may_do(role=task.role, assigned_to_id=task.assigned_to_id):
        raise Http404("Not found")
    return access, task


@login_required
@require_POST
def task_done(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    access, task = _task_for(request, urn, pk)
    form = TaskDoneForm(request.POST)
    if not form.is_valid():
        return _task_row_or_back(request, access, task, error=_too_long_or(form, "outcome", "how it went"))
    if services.task_complete(task=task, user=request.user, outcome=form.cleaned_data["outcome"]):
        _audit_change(request, access, f"completed task {task.title}", pupil=task.pupil)
    task.refresh_from_db()
    selectors.follow_ups_note_waiting([task])  # done, but an N may still wait for its reason: the row says so
    if task.unexplained_days and not request.htmx:
        messages.warning(request, _still_waiting(task))
    return _task_row_or_back(request, access, task)


def _still_waiting(task: Task) -> str:
    days = ", ".join(f"{day:%a %-d %b}" for day in task.unexplained_days)
    return f"{task.pupil.full_name} still has no reason recorded for {days}: it stays on the office's list."


@login_required
@require_POST
def task_reopen(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    """Take back pressing Done: the person who pressed it, within `selectors.UNDO_MINUTES`."""
    access, task = _task_for(request, urn, pk)
    logged = selectors.task_done_log(task=task)
    try:
        services.task_reopen(task=task, user=request.user)
    except ValidationError as exc:
        return _task_row_or_back(request, access, task, error=" ".join(exc.messages))
    _audit_change(request, access, f"took back marking task {task.title} done", pupil=task.pupil)
    task.refresh_from_db()
    if not request.htmx:
        messages.success(request, f"{task.title}, for {task.pupil.full_name}: open again.")
    # What they had typed comes back with the box: pressed by mistake, it is wanted again.
    return _task_row_or_back(request, access, task, focus=True, outcome=logged.outcome if logged else "")


def _too_long_or(form: Any, name: str, what: str) -> str:
    """A text box's error in words: how long it may be when it is too long, else the form's own message."""
    value, limit = form.data.get(name, "").strip(), form.fields[name].max_length
    if len(value) > limit:
        return f"Keep {what} to {limit} characters: this has {len(value)}."
    return " ".join(form.errors[name])


def _task_row_or_back(
    request: HttpRequest, access: Access, task: Task, *, error: str = "", focus: bool = False, outcome: str = ""
) -> HttpResponse:
    """The task's row again (HTMX), or back to the page the person came from, with any error said."""
    if request.htmx:
        context = {
            "access": access,
            "task": task,
            "compact": request.POST.get("compact") == "1",
            "on_pupil": request.POST.get("on_pupil") == "1",  # the pupil's own page: their name is the heading
            "error": error,
            "outcome": request.POST.get("outcome", "") if error else outcome,
            "focus": focus,
            "today": timezone.localdate(),
        }
        response = render(request, "interventions/task_row.html", context, status=422 if error else 200)
        if not error:  # My tasks fetches its counts and its undo box again
            response["HX-Trigger"] = "tasks-changed"
        return response
    if error:
        messages.error(request, error)
    return redirect(_next_or(request, reverse("interventions:pupil", args=[access.school.urn, task.pupil_id])))


@login_required
@require_POST
def proposal_decide(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    access = school_access(request.user, urn)
    access.require("manage_stages")
    proposal = get_object_or_404(
        Proposal.objects.select_related("pupil", "to_stage", "from_stage", "ladder"),
        pk=pk,
        pupil__in=visible_pupils(access),
    )
    form = ReasonForm(request.POST)
    decision = request.POST.get("decision")
    error = None
    if decision not in ("approve", "decline"):
        error = "Choose approve or decline."
    elif not form.is_valid():
        error = (
            _too_long_or(form, "reason", "the reason")
            if form.data.get("reason", "").strip()
            else "Give a reason: it is kept on the pupil's record."
        )
    else:
        try:
            if decision == "approve":
                services.proposal_approve(proposal=proposal, user=request.user, reason=form.cleaned_data["reason"])
            else:
                services.proposal_decline(proposal=proposal, user=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            _audit_change(
                request,
                access,
                f"{decision}d move of {proposal.pupil.upn} to {proposal.to_stage.name}: {form.cleaned_data['reason']}",
                pupil=proposal.pupil,
            )
    proposal.refresh_from_db()
    if proposal.status == Proposal.Status.PENDING:  # shown again to decide: with what the absence was
        selectors.for_deciding(school=access.school, proposals=[proposal], today=timezone.localdate())
    elif proposal.status == Proposal.Status.DECLINED and not error:  # just declined: says how long it stands
        proposal.back_on = selectors.decline_back_on(
            calendar=school_calendar(access.school), declined_on=timezone.localdate(proposal.decided_at)
        )
    context: dict[str, Any] = {
        "access": access,
        "proposal": proposal,
        "error": error,
        "reason": request.POST.get("reason", "") if error else "",  # given back to correct, not lost
        "on_pupil": bool(request.POST.get("on_pupil")),
    }
    if context["on_pupil"] and not error:
        # Decided on the pupil page: the whole page changes (the stage, its history, the tasks), so it comes again.
        name, stage = proposal.pupil.full_name, proposal.to_stage.name
        approved = proposal.status == Proposal.Status.APPROVED
        messages.success(request, f"{name} moved to {stage}." if approved else f"Move of {name} to {stage} declined.")
        return _back_to_pupil(request, urn, proposal.pupil)
    if request.htmx:
        if not error:
            # The dashboard's stage counts and waiting count change with the decision: sent out of band.
            pupils = visible_pupils(access)
            context["stage_counts"] = selectors.stage_counts(
                ladder=proposal.ladder, placements=selectors.placements_for(ladder=proposal.ladder, pupils=pupils)
            )
            context["proposal_count"] = selectors.pending_proposals(ladder=proposal.ladder, pupils=pupils).count()
        return render(request, "interventions/proposal_decided.html", context, status=422 if error else 200)
    if error:
        messages.error(request, error)
    if context["on_pupil"]:
        return redirect("interventions:pupil", urn=urn, pk=proposal.pupil_id)
    return redirect(_next_or(request, reverse("interventions:dashboard", args=[urn])))


def _audit_change(request: HttpRequest, access: Access, what: str, *, pupil: Any) -> None:
    """Every change a person makes here goes in the audit trail, with the page it was made from."""
    audit_record(
        school=access.school, user=request.user, verb=AuditEvent.Verb.CHANGE, what=what, pupil=pupil, path=request.path
    )


def _pupil_form(
    request: HttpRequest, access: Access, pupil: Any, form: Any, *, title: str, action: str, status: int = 200
) -> HttpResponse:
    """A form the pupil page loads only when opened: the partial for HTMX, a page of its own without JS.

    Sent back with what was chosen and the errors beside their fields when it does not save (422).
    """
    context = {"access": access, "pupil": pupil, "form": form, "title": title, "action": action}
    template = "interventions/pupil_form.html#form-body" if request.htmx else "interventions/pupil_form.html"
    return render(request, template, context, status=status)


def _back_to_pupil(request: HttpRequest, urn: str, pupil: Any, *, anchor: str = "") -> HttpResponse:
    """Saved: the whole pupil page again, as it now stands, with what happened said at the top
    (and scrolled to `anchor`, an element's id, if given)."""
    url = reverse("interventions:pupil", args=[urn, pupil.pk]) + (f"#{anchor}" if anchor else "")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@login_required
@require_http_methods(["GET", "POST"])
def pupil_move(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    access = school_access(request.user, urn)
    access.require("manage_stages")
    pupil = pupil_for(access, pk)
    ladder = _ladder(access)
    action = reverse("interventions:pupil_move", args=[urn, pupil.pk])
    if request.method == "GET":
        return _pupil_form(request, access, pupil, MoveForm(ladder=ladder), title="Move to a stage", action=action)
    form = MoveForm(request.POST, ladder=ladder)
    if form.is_valid():
        try:
            change = services.pupil_move(
                pupil=pupil, stage=form.cleaned_data["stage"], user=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if change:
                _audit_change(request, access, f"moved {pupil.upn} to {change.to_stage.name}", pupil=pupil)
                messages.success(request, f"{pupil.full_name} moved to {change.to_stage.name}.")
            else:
                messages.info(request, f"{pupil.full_name} is already at that stage.")
            return _back_to_pupil(request, urn, pupil)
    return _pupil_form(request, access, pupil, form, title="Move to a stage", action=action, status=422)


@login_required
@require_http_methods(["GET", "POST"])
def pupil_flags(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    access = school_access(request.user, urn)
    access.require("edit_flags")
    pupil = pupil_for(access, pk)
    action = reverse("interventions:pupil_flags", args=[urn, pupil.pk])
    if request.method == "GET":
        form = FlagsForm(school=access.school, initial={"flags": list(pupil.flags.all())})
        return _pupil_form(request, access, pupil, form, title="Flags", action=action)
    form = FlagsForm(request.POST, school=access.school)
    if not form.is_valid():
        return _pupil_form(request, access, pupil, form, title="Flags", action=action, status=422)
    added, removed = services.pupil_flags_set(pupil=pupil, flags=form.cleaned_data["flags"], user=request.user)
    if added or removed:
        what = f"flags for {pupil.upn}: +{','.join(sorted(added)) or '-'} -{','.join(sorted(removed)) or '-'}"
        _audit_change(request, access, what, pupil=pupil)
    messages.success(request, "Flags saved.")
    return _back_to_pupil(request, urn, pupil)


@login_required
@require_POST
def quick_log(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    """The class teacher's one click: a conversation with the pupil, today."""
    access = school_access(request.user, urn)
    access.require("log_action")
    pupil = pupil_for(access, pk)
    kind, today = ActionLog.Kind.PUPIL_CONVERSATION, timezone.localdate()
    action = services.action_log(
        pupil=pupil,
        user=request.user,
        kind=kind,
        title="Conversation with pupil",
        occurred_on=today,
        closes=selectors.open_task_logged_as(pupil=pupil, kind=kind, access=access, occurred_on=today),
        one_click=True,
    )
    _audit_change(request, access, f"logged a conversation with {pupil.upn}", pupil=pupil)
    if request.htmx:
        return render(
            request, "interventions/quick_log_done.html", {"access": access, "pupil": pupil, "action": action}
        )
    done = f" Their task “{action.task.title}” is done." if action.task else ""
    messages.success(request, f"Logged a conversation with {pupil.full_name}.{done}")
    return redirect(_back_from_quick_log(request, access, pupil))


@login_required
@require_POST
def action_undo(request: HttpRequest, urn: str, pk: int, action_pk: int) -> HttpResponse:
    """Take back a one-click log: the person who logged it, within `selectors.UNDO_MINUTES`."""
    access = school_access(request.user, urn)
    access.require("log_action")
    pupil = pupil_for(access, pk)
    action = get_object_or_404(ActionLog, pk=action_pk, pupil=pupil)
    reopens = action.task_id is not None  # the task it did may open again: the count of their tasks is sent again
    try:
        services.action_undo(action=action, user=request.user)
    except ValidationError as exc:
        if request.htmx:
            return HttpResponse(
                f'<span class="text-danger" role="alert">{escape(" ".join(exc.messages))}</span>', status=422
            )
        messages.error(request, " ".join(exc.messages))
    else:
        _audit_change(request, access, f"took back the conversation logged with {pupil.upn}", pupil=pupil)
        if request.htmx:
            return render(
                request,
                "interventions/quick_log_undone.html",
                # Focus back on the button the person pressed Undo in place of.
                {
                    "access": access,
                    "pupil": pupil,
                    "pupil_prefix": pupil_url_prefix(urn),
                    "focus": True,
                    "reopened": reopens,
                },
            )
        messages.success(request, f"Took back the conversation logged with {pupil.full_name}.")
    return redirect(_back_from_quick_log(request, access, pupil))


def _actions_context(access: Access, actions: list[ActionLog]) -> dict[str, set[int]]:
    """For the pupil page's list of logged actions: the ids of those this person may correct
    (`selectors.may_correct`), and of those whose details are kept from them (`selectors.details_withheld`)."""
    return {
        "correctable": {action.pk for action in actions if selectors.may_correct(access=access, action=action)},
        "withheld": {action.pk for action in actions if selectors.details_withheld(access=access, action=action)},
    }


@login_required
@require_http_methods(["GET", "POST"])
def action_correct(request: HttpRequest, urn: str, pk: int, action_pk: int) -> HttpResponse:
    """Correct a logged action, keeping what it said before and why (`services.action_correct`).

    For whoever logged it, and for those who manage stages; a 404 for anyone else.
    """
    access = school_access(request.user, urn)
    access.require("log_action")
    pupil = pupil_for(access, pk)
    action = get_object_or_404(ActionLog, pk=action_pk, pupil=pupil)
    if not selectors.may_correct(access=access, action=action):
        raise Http404("Not found")
    named = f"“{action.title or action.get_kind_display()}”, {action.occurred_on:%-d %b %Y}"
    url = reverse("interventions:action_correct", args=[urn, pupil.pk, action.pk])
    form = ActionCorrectionForm(request.POST or None, action=action, joined=pupil.start_on)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            corrected = services.action_correct(
                action=action,
                user=request.user,
                reason=data["reason"],
                kind=data.get("kind", ""),
                occurred_on=data["occurred_on"],
                outcome=data["outcome"],
                notes=data["notes"],
                seen=data["seen"],
            )
        except services.CorrectedMeanwhile as exc:
            messages.warning(request, " ".join(exc.messages))
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            _audit_change(request, access, f"corrected {named} logged for {pupil.upn}", pupil=pupil)
            said = "Corrected. What the entry said before is kept beside it, with your reason."
            if task := corrected.task_reopened:
                said += f" The task “{task.title}” is open again: the entry, as corrected, does not do it."
            messages.success(request, said)
            return _back_to_pupil(request, urn, pupil, anchor=f"action-{action.pk}")
    status = 422 if request.method == "POST" else 200
    return _pupil_form(request, access, pupil, form, title=f"Correct {named}", action=url, status=status)


def _back_from_quick_log(request: HttpRequest, access: Access, pupil: Pupil) -> str:
    """Where a one-click log or its Undo returns without JavaScript: the page asked for, else the person's classes."""
    if access.is_teacher or access.can("view_dashboard"):
        default = reverse("interventions:classes", args=[access.school.urn])
    else:
        default = reverse("interventions:pupil", args=[access.school.urn, pupil.pk])
    return _next_or(request, default)


@login_required
@require_GET
def nights(request: HttpRequest, urn: str) -> HttpResponse:
    """The school's last 30 nights: when each ran, how long it took, what it did, and which failed or never ran."""
    access = school_access(request.user, urn)
    access.require("view_dashboard")
    context = {
        "access": access,
        "night": selectors.nightly_status(school=access.school),
        "rows": selectors.night_history(school=access.school, nights=NIGHTS_SHOWN),
        "nights_shown": NIGHTS_SHOWN,
        "max_attempts": settings.NIGHTLY_MAX_ATTEMPTS,
        "nightly_time": selectors.nightly_local_time(),
    }
    return render(request, "interventions/nights.html", context)


@login_required
@require_POST
def night_run_now(request: HttpRequest, urn: str) -> HttpResponse:
    """Run the school's latest night now, if it has not run: a school's first, or one that failed or was missed.

    With a worker, the task the schedule queues, in the background. Without one (the embedded default),
    the same night here, once, before this returns: not the task, whose retries would run it again and
    again inside the request. A night that ran or is running is left alone.
    """
    access = school_access(request.user, urn)
    access.require("run_nights")
    night = selectors.nightly_status(school=access.school)
    back = _next_or(request, reverse("interventions:dashboard", args=[urn]))
    called = f"The night of {night.night_of:%a} {night.night_of.day} {night.night_of:%b}"
    if not night.may_run_now:
        already = {"ok": "has run already", "running": "is running already"}
        messages.info(request, f"{called} {already[night.state]}." if night.state in already else NO_NIGHTS)
        return redirect(back)
    school, as_of = access.school, night.night_of.isoformat()
    if not current_app.conf.task_always_eager:
        try:
            nightly_run_task.delay(school.pk, as_of, by_hand=True)
        except BrokerError:
            messages.error(request, f"{called} could not be started: the task queue is not answering. Ask IT.")
            return redirect(back)
        _audit_change(request, access, f"started the night of {as_of} by hand", pupil=None)
        messages.success(request, f"{called} has started. It takes a minute or two: refresh to see it done.")
        return redirect(back)
    _audit_change(request, access, f"started the night of {as_of} by hand", pupil=None)
    try:
        status = night_run(school.pk, as_of, by_hand=True)["status"]
    except Exception:  # the night's own failure is kept on its run; anything else is only in the log
        logger.exception("the night of %s for %s, started by hand, failed", as_of, urn)
        failed = selectors.nightly_status(school=school).state == "failed"
        where = ". Nightly runs shows the error:" if failed else ":"
        messages.error(request, f"{called} failed{where} ask IT to look at it.")
        return redirect(back)
    if status == NightlyRun.Status.DONE:
        messages.success(request, f"{called} has run: the dashboard shows what it did.")
    else:
        messages.info(request, f"{called} did not run here: {status}.")
    return redirect(back)


#: Why no night can be run: there is nothing for it to run.
NO_NIGHTS = "The school has no active ladder, so no night runs: activate one on the Ladder page first."


@login_required
@require_GET
def tasks(request: HttpRequest, urn: str) -> HttpResponse:
    """The signed-in person's own open tasks: overdue, due today, coming up."""
    access = school_access(request.user, urn)
    access.require("log_action")
    today = timezone.localdate()
    overdue, due_today, later = selectors.tasks_for(access, on=today)
    selectors.follow_ups_note_waiting(
        task for groups in (overdue, due_today, later) for g in groups for task in g.tasks
    )
    sections = [
        (heading, groups, sum(len(group.tasks) for group in groups))
        for heading, groups in (("Overdue", overdue), ("Due today", due_today), ("Coming up", later))
    ]
    roles = [label.lower() for value, label in StaffMembership.Role.choices if value in access.roles]
    context = {
        "access": access,
        "today": today,
        "sections": sections,
        "total": sum(count for _, _, count in sections),
        "folded": any(group.folded for _, groups, _ in sections for group in groups),
        "roles": roles,
        "reopenable": selectors.tasks_reopenable(user=request.user, school=access.school),
    }
    return render(request, "interventions/tasks.html", context)


@login_required
@require_GET
def classes(request: HttpRequest, urn: str) -> HttpResponse:
    access = school_access(request.user, urn)
    if not access.is_teacher and not access.can("view_dashboard"):
        raise Http404("Not found")
    ladder = services.active_ladder(access.school)
    pupils = visible_pupils(access)
    today = timezone.localdate()
    on = school_calendar(access.school).register_day(today)
    context: dict[str, Any] = {
        "access": access,
        "absences": selectors.first_day_absences(pupils=pupils, on=on),
        "taken": register_taken(pupils=pupils, on=on),
        "on": on,
        "today": today,
        "ladder": ladder,
        "pupil_prefix": pupil_url_prefix(urn),
        "class_key": ",".join(map(str, sorted(access.class_ids))) if access.class_ids is not None else "all",
        # Outside the cached class tables: whose logs may still be taken back is this person's alone.
        "undoable": selectors.actions_undoable(user=request.user, pupils=pupils) if access.can_log_action else [],
        "last_run": selectors.last_good_run(school=access.school),
        # A to Z, as the register; or most concern first (the stage furthest up, then the lowest attendance).
        "order": "concern" if request.GET.get("order") == "concern" else "name",
    }
    if ladder is not None:
        context["version"] = selectors.placements_version(ladder=ladder)
        # Only evaluated when the cached tables have expired: the template reads them lazily.
        placements = selectors.placements_for(ladder=ladder, pupils=pupils)
        context["groups"] = SimpleLazyObject(
            lambda: _by_class(
                placements,
                selectors.not_placed_yet(ladder=ladder, pupils=pupils, on=today),
                by_concern=context["order"] == "concern",
            )
        )
        context["stages"] = SimpleLazyObject(lambda: list(ladder.stages.order_by("position")))
    return render(request, "interventions/classes.html", context)


def _by_class(placements: Any, unplaced: list[Any], *, by_concern: bool = False) -> dict[Any, list[Any]]:
    """Each class's rows: its pupils' placements, and pupils no night has placed yet (by name among the
    rest; after them, most concern first, as nothing is known of them yet)."""
    groups: dict[Any, list[Any]] = {}
    within = ("-stage__position", "attendance_pct") if by_concern else ()
    ordered = placements.order_by("pupil__registration_group__name", *within, "pupil__surname", "pupil__forename")
    for placement in ordered.select_related("pupil__registration_group"):
        groups.setdefault(placement.pupil.registration_group, []).append(placement)
    if not unplaced:
        return groups
    for row in unplaced:
        groups.setdefault(row.pupil.registration_group, []).append(row)
    if not by_concern:
        for rows in groups.values():
            rows.sort(key=lambda row: (row.pupil.surname, row.pupil.forename, row.pupil.pk))
    return dict(sorted(groups.items(), key=lambda item: item[0].name))


def _next_or(request: HttpRequest, default: str) -> str:
    """Where a form asked to go back to (`next`), if it is a page of this site; otherwise `default`."""
    wanted = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return wanted if wanted and safe else default


def pupil_url_prefix(urn: str) -> str:
    """The pupil page's URL without the id, so list rows append ids instead of reversing a URL each."""
    return reverse("interventions:pupil", args=[urn, 0]).removesuffix("0/")
