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
    """The page being shown, at the school with this URN: the same list or dashboard there, when the page is
    the school's as a whole (its URL names nothing but the school) and the person holds the same roles at
    both, so may see it there too. Otherwise, as for a page about one pupil, ladder or letter, that school's home."""
    request, access = context["request"], context.get("access")
    match = getattr(request, "resolver_match", None)
    roles = _roles_by_urn(request)
    if (
        access is None
        or match is None
        or set(match.kwargs) != {"urn"}
        or roles.get(urn) != roles.get(access.school.urn)
    ):
        return reverse("school_home", args=[urn])
    return reverse(match.view_name, kwargs={"urn": urn})


def _roles_by_urn(request: Any) -> dict[str, set[str]]:
    """The signed-in person's roles at each of their schools, read once a request."""
    if not hasattr(request, "_roles_by_urn"):
        roles: dict[str, set[str]] = {}
        for membership in memberships_for(request.user):
            roles.setdefault(membership.school.urn, set()).add(membership.role)
        request._roles_by_urn = roles
    return request._roles_by_urn
