"""The school's staff: who signs in here and in which role, for the attendance lead and senior leaders to keep.

A person gives and takes away only roles whose rights they hold themselves, and never changes their own
(`Access.may_give`). What a role given here may do with logins is `services.staff_give`'s. A new login's password is shown once, on the page that
made it (never cached, stored or sent anywhere else).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.cache import never_cache
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


def _add_form(access: Access, data: object = None) -> StaffAddForm:
    """The form to give a role: the school's classes, and the roles this person may give."""
    classes = list(selectors.registration_group_list(school=access.school).values_list("name", flat=True))
    roles = [role for role in StaffMembership.Role.values if access.may_give(role)]
    return StaffAddForm(data, classes=classes, roles=roles)


def _in_reach(request: HttpRequest, access: Access, pk: int) -> StaffMembership:
    """A role at this school that this person may change: one they could give, and not their own. Else 404."""
    membership = get_object_or_404(StaffMembership.objects.select_related("user"), pk=pk, school=access.school)
    if not access.may_give(membership.role) or membership.user == request.user:
        raise Http404("Not a role this person may change")
    return membership


def _audit(request: HttpRequest, access: Access, what: str) -> None:
    services.audit_record(
        school=access.school, user=request.user, verb=AuditEvent.Verb.CHANGE, what=what, path=request.path
    )


@never_cache  # the page that shows a new password must not come back from the browser's history
@login_required
@require_http_methods(["GET", "POST"])
def staff(request: HttpRequest, urn: str) -> HttpResponse:
    """Everyone with a role at the school, and a form to give someone one (making their login if need be)."""
    access = _staff_access(request, urn)
    form = _add_form(access, request.POST or None)
    added = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            added = services.staff_give(
                school=access.school,
                giver=request.user,
                username=data["username"],
                role=data["role"],
                classes=data["classes"],
                name=data["name"],
                email=data["email"],
                password=new_password(),
            )
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
        else:
            if added.changed:
                _audit(request, access, services.staff_given_words(added.membership))
            form = _add_form(access)  # ready for the next person
    return _staff_page(request, access, form, added=added)


def _staff_page(
    request: HttpRequest, access: Access, form: StaffAddForm, *, added: object = None, renewed: object = None
) -> HttpResponse:
    memberships = list(selectors.staff_of(school=access.school))
    mine = {m.pk for m in memberships if access.may_give(m.role) and m.user_id != request.user.pk}
    context = {
        "access": access,
        "form": form,
        "added": added,
        "renewed": renewed,
        "memberships": memberships,
        "removable": mine,
        # A login not yet used: its password can be made again, if the first was missed.
        "renewable": {m.pk for m in memberships if m.pk in mine and m.user.last_login is None},
    }
    return render(request, "pupils/staff.html", context, status=422 if form.errors else 200)


@never_cache
@login_required
@require_POST
def staff_password(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    """A new password for a login made here that has never been used: its first password was missed."""
    access = _staff_access(request, urn)
    membership = _in_reach(request, access, pk)
    password = new_password()
    try:
        services.staff_password_renew(membership=membership, password=password)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("pupils:staff", urn=urn)
    _audit(request, access, f"made a new password for {membership.user.username}, not yet used")
    return _staff_page(request, access, _add_form(access), renewed=(membership.user, password))


@login_required
@require_POST
def staff_remove(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    """Take one role at this school away from someone. Their login, and what they did, stay."""
    access = _staff_access(request, urn)
    membership = _in_reach(request, access, pk)
    who, role = person_name(membership.user), membership.role
    try:
        released = services.staff_remove(membership=membership)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("pupils:staff", urn=urn)
    _audit(request, access, services.staff_taken_words(username=membership.user.username, role=role))
    said = f"{who} is no longer {services.role_words(role, article=True)} here."
    if released:
        said += f" Their {released} open task{pluralize(released)} went back to the role's shared list."
    messages.success(request, said)
    return redirect("pupils:staff", urn=urn)
