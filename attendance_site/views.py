"""Sign-in and password changes (with throttling), and the front door that sends each person to their home page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from interventions.selectors import SCHOOL_ORDERS, SchoolRow, schools_compared
from pupils.access import school_access, schools_for, schools_where
from pupils.spreadsheets import cell, csv_download, pct_cell


class FailureThrottle:
    """For a form view: after LOGIN_FAILURE_LIMIT failures under one key, refuse (429) for a while."""

    request: HttpRequest

    def throttle_key(self) -> str:
        raise NotImplementedError

    def is_failure(self, form: Any) -> bool:
        return True

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if cache.get(self.throttle_key(), 0) >= settings.LOGIN_FAILURE_LIMIT:
            context = self.get_context_data(  # type: ignore[attr-defined]
                form=self.get_form(),  # type: ignore[attr-defined]
                locked_out=True,
                lockout_minutes=settings.LOGIN_LOCKOUT_SECONDS // 60,
            )
            return self.render_to_response(context, status=429)  # type: ignore[attr-defined]
        return super().post(request, *args, **kwargs)  # type: ignore[misc]

    def form_invalid(self, form: Any) -> HttpResponse:
        if self.is_failure(form):
            key = self.throttle_key()
            cache.add(key, 0, settings.LOGIN_LOCKOUT_SECONDS)
            cache.incr(key)
        return super().form_invalid(form)  # type: ignore[misc]

    def form_valid(self, form: Any) -> HttpResponse:
        cache.delete(self.throttle_key())
        return super().form_valid(form)  # type: ignore[misc]


class ThrottledLoginView(FailureThrottle, auth_views.LoginView):
    """After LOGIN_FAILURE_LIMIT failures for a username from one address, refuse for a while."""

    def throttle_key(self) -> str:
        username = (self.request.POST.get("username") or "").strip().lower()
        return f"login-failures:{username}:{self.request.META.get('REMOTE_ADDR', '')}"


class ThrottledPasswordChangeView(FailureThrottle, auth_views.PasswordChangeView):
    """Changing one's password: a wrong old password counts like a failed sign-in, so a screen left
    signed in cannot be used to guess it."""

    def throttle_key(self) -> str:
        return f"password-change-failures:{self.request.user.pk}"

    def is_failure(self, form: Any) -> bool:
        return "old_password" in form.errors


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """One school: its home page. Several (a trust or an LA): the schools side by side.

    How each school's last night went, so a night that failed is seen from
    here; and, for the schools whose whole-school figures the person may
    see, the year to date and the work waiting, ordered by name or worst
    first (`?order=`), and as CSV (`?format=csv`).
    """
    schools = schools_for(request.user)
    if len(schools) == 1:
        return redirect("school_home", urn=schools[0].urn)
    order = request.GET.get("order", "name")
    if order != "name" and order not in SCHOOL_ORDERS:
        known = ", ".join(["name", *SCHOOL_ORDERS])
        messages.warning(request, f"The schools cannot be ordered by “{order[:40]}” ({known}): listed by name.")
        order = "name"
    rows = schools_compared(
        schools=schools,
        shown=schools_where(request.user, "view_dashboard"),
        today=timezone.localdate(),
        order=order,
    )
    if request.GET.get("format") == "csv":
        return _schools_csv(rows)
    context = {
        "schools": schools,
        "rows": rows,
        "order": order,
        "any_shown": any(row.shown for row in rows),
        "national_attendance": settings.NATIONAL_ATTENDANCE_PCT,
        "national_persistent": settings.NATIONAL_PERSISTENT_ABSENCE_PCT,
        "national_label": settings.NATIONAL_FIGURES_LABEL,
    }
    return render(request, "school_picker.html", context)


SCHOOLS_CSV_COLUMNS = (
    "School URN",
    "School",
    "Week of",
    "Pupils counted",
    "Attendance, year to date (%)",
    "Persistently absent (%)",
    "Severely absent (%)",
    "Moves awaiting approval",
    "Overdue tasks",
    "Last night",
)


def _schools_csv(rows: list[SchoolRow]) -> HttpResponse:
    """The schools side by side, a row each (figures blank where the person may not see them)."""
    response, writer = csv_download(f"schools-{timezone.localdate():%Y-%m-%d}.csv")
    writer.writerow(SCHOOLS_CSV_COLUMNS)
    for row in rows:
        week = row.week
        figures = (
            [
                f"{week.week_start:%Y-%m-%d}",
                week.pupils,
                pct_cell(week.year_attendance_pct),
                pct_cell(week.persistent_absence_pct),
                pct_cell(week.severe_absence_pct),
            ]
            if week
            else [""] * 5
        )
        work = [row.awaiting_approval, row.overdue_tasks] if row.shown else ["", ""]
        writer.writerow([cell(v) for v in (row.school.urn, row.school.name, *figures, *work, row.night.words)])
    return response


@login_required
@require_GET
def school_home(request: HttpRequest, urn: str) -> HttpResponse:
    access = school_access(request.user, urn)
    target = {
        "dashboard": "interventions:dashboard",
        "classes": "interventions:classes",
        "office": "pupils:office",
    }[access.home]
    return redirect(target, urn=urn)
