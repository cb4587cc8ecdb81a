"""Pupil-side pages: the audit trail (and, with the office pages, registers and imports)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .access import school_access
from .models import AuditEvent


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
