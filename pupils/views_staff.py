"""The school's staff: who signs in here and in which role, for the attendance lead and senior leaders to keep.

A new login's password is shown once, on the page that made it, and never stored or sent anywhere else.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services
from .access import Access, school_access
from .forms import StaffAddForm
from .models import AuditEvent, StaffMembership
from .people import new_password, person_name


def _staff_access(request: HttpRequest, urn: str) -> Access:
    access = school_access(request.user, urn)
    access.require("manage_staff")
    return access


@login_required
@require_http_methods(["GET", "POST"])
def staff(request: HttpRequest, urn: str) -> HttpResponse:
    """Everyone with a role at the school, and a form to give someone one (making their login if need be)."""
    access = _staff_access(request, urn)
    school = access.school
    classes = list(selectors.registration_group_list(school=school).values_list("name", flat=True))
    form = StaffAddForm(request.POST or None, classes=classes)
    added = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        first_name, _, last_name = data["name"].strip().partition(" ")
        try:
            added = services.staff_add(
                school=school,
                username=data["username"],
                role=data["role"],
                classes=data["classes"],
                first_name=first_name,
                last_name=last_name.strip(),
                email=data["email"].strip(),
                password=new_password(),
            )
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
        else:
            role = services.role_words(added.membership.role)
            if added.changed:
                services.audit_record(
                    school=school,
                    user=request.user,
                    verb=AuditEvent.Verb.CHANGE,
                    what=f"gave {added.membership.user.username} the role {role}",
                    path=request.path,
                )
            form = StaffAddForm(classes=classes)  # ready for the next person
    context = {
        "access": access,
        "form": form,
        "added": added,
        "memberships": selectors.staff_of(school=school),
    }
    return render(request, "pupils/staff.html", context, status=422 if form.errors else 200)


@login_required
@require_POST
def staff_remove(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    """Take one role at this school away from someone. Their login, and what they did, stay."""
    access = _staff_access(request, urn)
    membership = get_object_or_404(StaffMembership.objects.select_related("user"), pk=pk, school=access.school)
    who, role = person_name(membership.user), services.role_words(membership.role)
    try:
        released = services.staff_remove(membership=membership)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("pupils:staff", urn=urn)
    services.audit_record(
        school=access.school,
        user=request.user,
        verb=AuditEvent.Verb.CHANGE,
        what=f"took away {membership.user.username}'s role {role}",
        path=request.path,
    )
    said = f"{who} is no longer {services.role_words(membership.role, article=True)} here."
    if released:
        said += f" Their {released} open task{pluralize(released)} went back to the {role}s' shared list."
    messages.success(request, said)
    return redirect("pupils:staff", urn=urn)
