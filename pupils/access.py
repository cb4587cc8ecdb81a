"""Who may see and do what: the one choke point for loading protected records.

Every view loads its school through `school_access` and its pupils through
`visible_pupils` / `pupil_for`, so that anything outside a person's reach is
a 404, never a peek. Roles are per school (StaffMembership).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404

from .models import Pupil, School, StaffMembership

Role = StaffMembership.Role

# What each permission needs: any one of these roles at the school.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view_dashboard": frozenset({Role.ATTENDANCE_LEAD, Role.SENIOR_LEADER, Role.DSL, Role.LA_OFFICER}),
    "view_pupils": frozenset(Role.values),
    "log_action": frozenset({Role.ATTENDANCE_LEAD, Role.CLASS_TEACHER, Role.SENIOR_LEADER, Role.DSL, Role.OFFICE}),
    "manage_stages": frozenset({Role.ATTENDANCE_LEAD, Role.SENIOR_LEADER, Role.DSL}),
    "edit_flags": frozenset({Role.ATTENDANCE_LEAD, Role.SENIOR_LEADER, Role.DSL, Role.OFFICE}),
    "edit_ladder": frozenset({Role.ATTENDANCE_LEAD, Role.SENIOR_LEADER}),
    # Start a night that has not run (a school's first, or one that failed or was missed) without waiting.
    "run_nights": frozenset({Role.ATTENDANCE_LEAD, Role.SENIOR_LEADER}),
    # Give and take away roles at the school (not the trust / LA officer's: the system's administrator adds them).
    "manage_staff": frozenset({Role.ATTENDANCE_LEAD, Role.SENIOR_LEADER}),
    "view_lists": frozenset({Role.ATTENDANCE_LEAD, Role.SENIOR_LEADER, Role.DSL, Role.LA_OFFICER}),
    "manage_registers": frozenset({Role.ATTENDANCE_LEAD, Role.OFFICE}),
    # Who is absent with no reason yet, today and on earlier days: the office rings home; the DSL and
    # senior leaders look for the children they worry about (the office records the reasons).
    "view_first_day": frozenset({Role.ATTENDANCE_LEAD, Role.OFFICE, Role.SENIOR_LEADER, Role.DSL}),
    "print_letters": frozenset({Role.ATTENDANCE_LEAD, Role.OFFICE}),
    "queue_letters": frozenset({Role.ATTENDANCE_LEAD, Role.SENIOR_LEADER, Role.DSL, Role.OFFICE}),
    "view_audit": frozenset({Role.ATTENDANCE_LEAD, Role.DSL}),
}
#: The permissions that change something (all but the view_ ones): a person with none of them is read only.
CHANGES = frozenset(permission for permission in PERMISSIONS if not permission.startswith("view_"))


@dataclass(frozen=True)
class Access:
    """A signed-in person's reach at one school."""

    user: AbstractBaseUser
    school: School
    roles: frozenset[str]
    # None: every class. Otherwise only pupils in these registration groups (class teachers).
    class_ids: frozenset[int] | None

    def can(self, permission: str) -> bool:
        return bool(self.roles & PERMISSIONS[permission])

    def require(self, permission: str) -> None:
        """404 rather than 403: a person without the right should not learn the page exists."""
        if not self.can(permission):
            raise Http404("Not found")

    def __getattr__(self, name: str) -> bool:
        # Templates ask `access.can_log_action`: the same question as `access.can("log_action")`.
        if name.startswith("can_") and name[4:] in PERMISSIONS:
            return self.can(name[4:])
        raise AttributeError(name)

    def may_give(self, role: str) -> bool:
        """May this person give `role` at this school, or take it away (the Staff page)?

        Only a role whose every right they hold themselves, so nobody reaches further by giving roles
        (a senior leader cannot make anyone the attendance lead, nor the DSL); never the trust / LA
        officer's, which whoever runs the system gives and takes away.
        """
        if role == Role.LA_OFFICER or not self.can("manage_staff"):
            return False
        return all(self.can(permission) for permission, roles in PERMISSIONS.items() if role in roles)

    @property
    def read_only(self) -> bool:
        """Sees, and changes nothing at this school (a trust or LA officer)."""
        return not any(self.can(permission) for permission in CHANGES)

    @property
    def is_teacher(self) -> bool:
        return Role.CLASS_TEACHER in self.roles

    @property
    def is_class_teacher_only(self) -> bool:
        return self.class_ids is not None

    def may_do(self, *, role: str, assigned_to_id: int | None) -> bool:
        """May this person mark done a piece of work meant for `role`, or for one person?

        Those who manage stages may do anyone's; others only their own
        (`owns`). So a class teacher cannot close the attendance lead's
        statutory checks.
        """
        if not self.can("log_action"):
            return False
        return self.can("manage_stages") or self.owns(role=role, assigned_to_id=assigned_to_id)

    def owns(self, *, role: str, assigned_to_id: int | None) -> bool:
        """Is this piece of work this person's own: assigned to them, or, when it is assigned to nobody,
        meant for one of their roles or for no role in particular? (`owned` says the same as a query.)"""
        if assigned_to_id is not None:
            return assigned_to_id == self.user.pk
        return not role or role in self.roles

    def owned(self) -> Q:
        """`owns` as a filter on rows with `assigned_to` and `role` (tasks)."""
        return Q(assigned_to=self.user) | Q(assigned_to__isnull=True, role__in=[*self.roles, ""])

    @property
    def home(self) -> str:
        if self.can("view_dashboard"):
            return "dashboard"
        if Role.CLASS_TEACHER in self.roles:
            return "classes"
        return "office"


def memberships_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[StaffMembership]:
    if not user.is_authenticated:
        return StaffMembership.objects.none()
    return StaffMembership.objects.filter(user=user).select_related("school")


def schools_for(user: AbstractBaseUser | AnonymousUser) -> list[School]:
    seen: dict[int, School] = {}
    for membership in memberships_for(user).order_by("school__name"):
        seen.setdefault(membership.school_id, membership.school)
    return list(seen.values())


def schools_where(user: AbstractBaseUser | AnonymousUser, permission: str) -> set[int]:
    """The ids of the person's schools where they hold `permission` (one query)."""
    memberships = memberships_for(user).filter(role__in=PERMISSIONS[permission])
    return set(memberships.values_list("school_id", flat=True))


def school_access(user: AbstractBaseUser | AnonymousUser, urn: str) -> Access:
    """The person's access at the school with this URN, or 404."""
    memberships = list(memberships_for(user).filter(school__urn=urn).prefetch_related("classes"))
    if not memberships:
        raise Http404("Not found")
    roles = frozenset(m.role for m in memberships)
    if roles == {Role.CLASS_TEACHER}:
        class_ids: frozenset[int] | None = frozenset(c.pk for m in memberships for c in m.classes.all())
    else:
        class_ids = None
    return Access(user=user, school=memberships[0].school, roles=roles, class_ids=class_ids)


def visible_pupils(access: Access) -> QuerySet[Pupil]:
    pupils = Pupil.objects.filter(school=access.school)
    if access.class_ids is not None:
        pupils = pupils.filter(registration_group_id__in=access.class_ids)
    return pupils


def pupil_for(access: Access, pk: int) -> Pupil:
    """One pupil the person may see, or 404 (another school's pupil, or another class's)."""
    try:
        return visible_pupils(access).select_related("school", "registration_group", "year_group").get(pk=pk)
    except Pupil.DoesNotExist:
        raise Http404("Not found") from None
