"""Security headers Django 5.2 does not set itself, signing in again from a page's HTMX request, and the
same polite refusal with DEBUG on as off."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.defaults import page_not_found
from django_htmx.http import HttpResponseClientRedirect

SIGNED_OUT = (
    "You were signed out, after a while without use or from another window. Sign in again to carry on where you "
    "were; anything typed but not saved needs typing again."
)


class ContentSecurityPolicyMiddleware:
    """Everything from our own origin only: no CDN, no inline scripts."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/admin/"):
            response.headers.setdefault("Content-Security-Policy", self.policy)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


class SignInAgainMiddleware:
    """A button pressed after signing out sends the whole page to sign in, and back to that page after.

    After the idle sign-out, a button on a page left open (Log conversation,
    Done) is answered with the redirect to the sign-in page, whose `next` is
    the button's URL. HTMX would follow it and swap the whole sign-in page
    into the row; and signing in would come back to that URL, which takes only
    a POST. Instead the browser goes to the sign-in page, which says why, and
    comes back to the page the person was on (a plain form's POST likewise).
    What was typed is not kept.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        htmx = bool(getattr(request, "htmx", False))
        if response.status_code != 302 or not (htmx or request.method != "GET"):
            return response
        login = resolve_url(settings.LOGIN_URL)
        if urlsplit(response["Location"]).path != login or request.path == resolve_url("logout"):
            return response  # signing out on purpose goes to the sign-in page as it is, with nothing to come back to
        messages.info(request, SIGNED_OUT)
        to_login = redirect_to_login(_page(request), login)
        return HttpResponseClientRedirect(to_login["Location"]) if htmx else to_login


def _page(request: HttpRequest) -> str:
    """The page a request was made from (path and query), if it is one of ours; else the home page."""
    page = (request.htmx.current_url if request.htmx else None) or request.headers.get("Referer") or ""
    if not url_has_allowed_host_and_scheme(page, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return "/"
    parts = urlsplit(page)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class PoliteNotFoundMiddleware:
    """A page a person may not see says so politely with DEBUG on too, as it does in production.

    Views refuse another class's pupil or another school's records with Http404.
    With DEBUG on (the demo `scripts/dev` runs), Django would answer with its
    technical page, listing every URL of the app. A path that matches no URL
    still gets that page: it is the developer's help.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if settings.DEBUG and isinstance(exception, Http404):
            return page_not_found(request, exception)
        return None
