"""Senior leaders' lists: escalations, referrals, persistent and severe absence by group. Each exports as CSV."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def _todo(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404("Not built yet")


escalations = referrals = referral_update = absence_groups = referral_create = _todo
