"""The school's staff: who signs in here and in which role, for the attendance lead and senior leaders to keep.

A person gives and takes away only roles whose rights they hold themselves, and never changes their own
(`Access.may_give`). A login is made here for someone new, or given a further role if they already work
here; someone who works only at another school is the system administrator's to add (`add_staff`), so
the page never says who holds a login elsewhere. A new login's password is shown once, on the page that
made it (never cached, stored or sent anywhere else).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services
from .access import Access, school_access
from .forms import StaffAddForm
from .models import AuditEvent, StaffMembership
from .people import name_parts, new_password, person_name

#: Why a username cannot be used here: it is someone's who does not work at this school.
USERNAME_TAKEN = (
    "That username is taken: choose another. Someone who already works at another school is given a role "
    "here by whoever runs the system."
)


def _staff_access(request: HttpRequest, urn: str) -> Access:
    access = school_access(request.user, urn)
    access.require("manage_staff")
    return access


@never_cache  # the page that shows a new password must not come back from the browser's history
@login_required
@require_http_methods(["GET", "POST"])
def staff(request: HttpRequest, urn: str) -> HttpResponse:
    """Everyone with a role at the school, and a form to give someone one (making their login if need be)."""
    access = _staff_access(request, urn)
    school = access.school
    classes = list(selectors.registration_group_list(school=school).values_list("name", flat=True))
    roles = [role for role in StaffMembership.Role.values if access.may_give(role)]
    form = StaffAddForm(request.POST or None, classes=classes, roles=roles)
    added = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        someone = get_user_model().objects.filter(username__iexact=data["username"]).first()
        if someone == request.user:
            form.add_error("username", "Your own roles are changed by another attendance lead or senior leader.")
        elif someone is not None and not _worked_here(someone, school):
            form.add_error("username", USERNAME_TAKEN)
        elif someone is None and not data["name"].strip():  # a mistyped colleague's username would make a login
            form.add_error(
                "name",
                f"Nobody signs in as {data['username']} yet, so this makes a new login: give their name. "
                "For a colleague who already signs in here, check their username.",
            )
        elif someone is not None and data["name"].strip() and not _same_person(someone, data["name"]):
            known = person_name(someone)
            form.add_error(
                "username",
                f"{someone.username} is {known}'s login here: choose another username for someone new, or leave "
                f"the name empty to give {known} this role.",
            )
        else:
            first_name, last_name = name_parts(data["name"])
            # A class teacher given another class here keeps the ones they have: taking one away is done by
            # taking the role away and giving it again.
            held = StaffMembership.objects.filter(user=someone, school=school, role=data["role"]).first()
            classes_wanted = list(data["classes"])
            if held is not None and data["classes"]:
                classes_wanted += [group.name for group in held.classes.all() if group.name not in classes_wanted]
            try:
                added = services.staff_add(
                    school=school,
                    username=data["username"],
                    role=data["role"],
                    classes=classes_wanted,
                    first_name=first_name,
                    last_name=last_name,
                    email=data["email"].strip(),
                    password=new_password(),
                )
            except ValidationError as error:
                for field, problems in error.message_dict.items():
                    for problem in problems:
                        form.add_error(field if field in form.fields else None, problem)
    if added is not None:
        membership = added.membership
        if added.changed:
            held = ", ".join(sorted(group.name for group in membership.classes.all()))
            services.audit_record(
                school=school,
                user=request.user,
                verb=AuditEvent.Verb.CHANGE,
                what=f"gave {membership.user.username} the role {services.role_words(membership.role)}"
                + (f" for {held}" if held else ""),
                path=request.path,
            )
        form = StaffAddForm(classes=classes, roles=roles)  # ready for the next person
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
    membership = get_object_or_404(StaffMembership.objects.select_related("user"), pk=pk, school=access.school)
    if not access.may_give(membership.role) or membership.user == request.user:
        raise Http404("Not a login this person may give a password")
    password = new_password()
    try:
        services.staff_password_renew(membership=membership, password=password)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("pupils:staff", urn=urn)
    services.audit_record(
        school=access.school,
        user=request.user,
        verb=AuditEvent.Verb.CHANGE,
        what=f"made a new password for {membership.user.username}, not yet used",
        path=request.path,
    )
    classes = list(selectors.registration_group_list(school=access.school).values_list("name", flat=True))
    roles = [role for role in StaffMembership.Role.values if access.may_give(role)]
    return _staff_page(request, access, StaffAddForm(classes=classes, roles=roles), renewed=(membership.user, password))


@login_required
@require_POST
def staff_remove(request: HttpRequest, urn: str, pk: int) -> HttpResponse:
    """Take one role at this school away from someone. Their login, and what they did, stay."""
    access = _staff_access(request, urn)
    membership = get_object_or_404(StaffMembership.objects.select_related("user"), pk=pk, school=access.school)
    if not access.may_give(membership.role) or membership.user == request.user:
        raise Http404("Not a role this person may take away")
    who, role = person_name(membership.user), membership.role
    try:
        released = services.staff_remove(membership=membership)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("pupils:staff", urn=urn)
    services.audit_record(
        school=access.school,
        user=request.user,
        verb=AuditEvent.Verb.CHANGE,
        what=f"took away {membership.user.username}'s role {services.role_words(role)}",
        path=request.path,
    )
    said = f"{who} is no longer {services.role_words(role, article=True)} here."
    if released:
        said += f" Their {released} open task{pluralize(released)} went back to the role's shared list."
    messages.success(request, said)
    return redirect("pupils:staff", urn=urn)


def _same_person(user: object, name: str) -> bool:
    """Is the name typed the one this login already has (spacing and case aside)?"""
    return " ".join(name.split()).casefold() == " ".join(person_name(user).split()).casefold()


def _worked_here(user: object, school: object) -> bool:
    """Does this login have a role at the school, or had it one (given and taken away here, or used here)?
    Only such a person may be given a role from this page: anyone else's login is not the school's to use."""
    if StaffMembership.objects.filter(user=user, school=school).exists():
        return True
    username = getattr(user, "username", "")
    return (
        AuditEvent.objects.filter(school=school)
        .filter(
            Q(user=user)
            | Q(what__startswith=f"gave {username} the role ")
            | Q(what__startswith=f"took away {username}'s role ")
        )
        .exists()
    )
