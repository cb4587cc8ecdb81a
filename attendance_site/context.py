from __future__ import annotations

from django.http import HttpRequest

from pupils.access import schools_for


def navigation(request: HttpRequest) -> dict[str, object]:
    """The schools a signed-in person can switch between, for the navigation bar."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"schools": schools_for(request.user)}
