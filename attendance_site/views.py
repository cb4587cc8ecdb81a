"""Sign-in (with throttling) and the front door that sends each person to their home page."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from pupils.access import school_access, schools_for


def _throttle_key(request: HttpRequest) -> str:
    username = (request.POST.get("username") or "").strip().lower()
    return f"login-failures:{username}:{request.META.get('REMOTE_ADDR', '')}"


class ThrottledLoginView(auth_views.LoginView):
    """After LOGIN_FAILURE_LIMIT failures for a username from one address, refuse for a while."""

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        key = _throttle_key(request)
        if cache.get(key, 0) >= settings.LOGIN_FAILURE_LIMIT:
            form = self.get_form()
            context = self.get_context_data(
                form=form, locked_out=True, lockout_minutes=settings.LOGIN_LOCKOUT_SECONDS // 60
            )
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):  # type: ignore[no-untyped-def]
        key = _throttle_key(self.request)
        cache.add(key, 0, settings.LOGIN_LOCKOUT_SECONDS)
        cache.incr(key)
        return super().form_invalid(form)

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        cache.delete(_throttle_key(self.request))
        return super().form_valid(form)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    schools = schools_for(request.user)
    if len(schools) == 1:
        return redirect("school_home", urn=schools[0].urn)
    return render(request, "school_picker.html", {"schools": schools})


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
