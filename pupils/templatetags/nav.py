"""`{% nav_item url "Text" %}`: a main-menu link that says when it is the page you are on."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.html import format_html

from pupils.access import memberships_for

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_item(context: Any, url: str, text: str, also: str = "") -> str:
    """A menu item, marked current (`aria-current="page"`) on its own pages.

    Its pages are those under `url`, and under `also` (a path below the school's, such as "lists/").
    """
    path = context["request"].path
    school = "/".join(url.split("/")[:3]) + "/"
    current = path.startswith(url) or bool(also and path.startswith(school + also))
    if current:
        return format_html(
            '<li class="nav-item"><a class="nav-link active" aria-current="page" href="{}">{}</a></li>', url, text
        )
    return format_html('<li class="nav-item"><a class="nav-link" href="{}">{}</a></li>', url, text)


@register.simple_tag(takes_context=True)
def same_page_at(context: Any, urn: str) -> str:
    """The page being shown, at the school with this URN: the same list or dashboard there, when the person
    holds the same roles at both (so may see the same pages). Otherwise, and for a page about one record (a
    pupil, a letter: any part of the path a number), that school's home."""
    request, access = context["request"], context.get("access")
    here = f"/school/{access.school.urn}/" if access is not None else ""
    rest = request.path[len(here) :] if here and request.path.startswith(here) else None
    roles = _roles_by_urn(request)
    if (
        rest is None
        or any(part.isdigit() for part in rest.split("/"))
        or roles.get(urn) != roles.get(access.school.urn)
    ):
        return reverse("school_home", args=[urn])
    return f"/school/{urn}/{rest}"


def _roles_by_urn(request: Any) -> dict[str, set[str]]:
    """The signed-in person's roles at each of their schools, read once a request."""
    if not hasattr(request, "_roles_by_urn"):
        roles: dict[str, set[str]] = {}
        for membership in memberships_for(request.user):
            roles.setdefault(membership.school.urn, set()).add(membership.role)
        request._roles_by_urn = roles
    return request._roles_by_urn
