"""Ladder pages: the active ladder as a picture, copy, edit with validation, simulate, activate, export."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def _todo(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404("Not built yet")


ladder_active = ladder_detail = ladder_copy = ladder_edit = ladder_simulate = ladder_activate = ladder_export = _todo
