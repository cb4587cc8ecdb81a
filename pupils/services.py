"""Every write to schools, calendars and the code table."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import calendar as cal
from . import imports, staging
from .codes import UNEXPLAINED, YEAR_GROUP_NAMES, CodeError, UnknownCode, code_table, for_session, normalise_code
from .models import (
    AcademicYear,
    AttendanceCode,
    AttendanceMark,
    AuditEvent,
    Contact,
    Flag,
    HalfTerm,
    ImportBatch,
    MarkChange,
    Pupil,
    RegistrationGroup,
    School,
    StaffMembership,
    YearGroup,
)
from .people import name_parts, person_name, person_with_email
from .signals import marks_explained, staff_role_removed
from .words import did_you_mean, row_spans

PRIMARY_YEAR_GROUPS = list(YEAR_GROUP_NAMES.items())


def attendance_codes_sync(*, using: str = "default") -> None:
    """Make the AttendanceCode table equal to `pupils/data/codes.csv`. Idempotent."""
    table = code_table()
    for code in table.values():
        AttendanceCode.objects.using(using).update_or_create(
            code=code.code,
            defaults={
                "category": code.category.value,
                "description": code.description,
                "valid_from": code.valid_from,
                "valid_to": code.valid_to,
            },
        )
    AttendanceCode.objects.using(using).exclude(code__in=table).delete()


@transaction.atomic
def school_create(
    *,
    urn: str,
    name: str,
    half_terms: Iterable[cal.HalfTermDates] | None = None,
    today: date,
    **fields: object,
) -> School:
    """Create a school with its standard flags, year groups and calendar.

    With no half-terms, the England default calendar is used for the previous,
    current and next academic years. Raises ValidationError if the URN is taken.
    """
    if School.objects.filter(urn=urn).exists():
        raise ValidationError(f"A school with URN {urn} already exists.")
    school = School(urn=urn, name=name, **fields)
    school.full_clean()
    school.save()
    Flag.objects.bulk_create([Flag(school=school, key=k, name=v, is_standard=True) for k, v in Flag.STANDARD.items()])
    YearGroup.objects.bulk_create(
        [
            YearGroup(school=school, code=code, name=label, position=i)
            for i, (code, label) in enumerate(PRIMARY_YEAR_GROUPS)
        ]
    )
    if half_terms is None:
        year = cal.academic_year_start(today)
        half_terms = [h for y in (year - 1, year, year + 1) for h in cal.england_default_half_terms(y)]
    calendar_replace(school=school, half_terms=half_terms)
    return school


@dataclass(frozen=True)
class StaffAdded:
    """What `staff_add` did: the membership, the new account's password (None for an existing account), and
    whether anything changed (a second run with the same role and classes changes nothing)."""

    membership: StaffMembership
    password: str | None
    changed: bool = True
    classes_before: tuple[str, ...] = ()  # a teacher's classes before, when they already held the role


@transaction.atomic
def staff_add(
    *,
    school: School,
    username: str,
    role: str,
    classes: Iterable[str] = (),
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    password: str,
) -> StaffAdded:
    """Give a member of staff a role at a school, creating their account (with `password`) if there is none.

    An existing account keeps its password and details: a person can hold
    roles at several schools. Class teachers see only their `classes` (names
    of this school's registration groups), so they need at least one; other
    roles see the whole school and take none. Giving a role held already
    changes nothing, except a teacher's classes when others are named: safe
    to run again from a script. Raises ValidationError naming the field at
    fault; nothing is saved then.
    """
    errors: dict[str, list[str]] = defaultdict(list)
    if role not in StaffMembership.Role.values:
        known = ", ".join(StaffMembership.Role.values)
        errors["role"].append(f"{role!r} is not a role (one of {known})")
    names = list(dict.fromkeys(name.strip() for name in classes if name.strip()))
    groups = {g.name: g for g in RegistrationGroup.objects.filter(school=school, name__in=names)}
    unknown = [name for name in names if name not in groups]
    if unknown:
        held = ", ".join(sorted(RegistrationGroup.objects.filter(school=school).values_list("name", flat=True)))
        errors["classes"].append(
            f"not a class at {school.name}: {', '.join(unknown)} (its classes: {held or 'none yet: import pupils first'})"
        )
    if role == StaffMembership.Role.CLASS_TEACHER and not names:
        errors["classes"].append("a class teacher sees only their own classes: name at least one")
    if names and role in StaffMembership.Role.values and role != StaffMembership.Role.CLASS_TEACHER:
        errors["classes"].append(
            f"only a class teacher is limited to classes: {role_words(role, article=True)} sees the whole school"
        )
    user_model = get_user_model()
    user = user_model.objects.filter(username__iexact=username).first()
    created = user is None
    if created:
        user = user_model(username=username, first_name=first_name, last_name=last_name, email=email)
        user.set_password(password)
        try:
            user.full_clean(exclude=["password"])
        except ValidationError as problem:
            for field_name, messages in problem.message_dict.items():
                errors[field_name].extend(messages)
    elif (
        role in _NOT_TOGETHER
        and StaffMembership.objects.filter(user=user, school=school, role=_NOT_TOGETHER[role]).exists()
    ):
        errors["role"].append(
            f"{user.username} is {role_words(_NOT_TOGETHER[role], article=True)} at {school.name}, and one login "
            "cannot be both there: their class teacher's right to log actions would reach every class"
        )
    elif _someone_else(user, first_name=first_name, last_name=last_name, email=email):
        held = ", ".join(f"{role_words(m.role)} at {m.school.name}" for m in user.memberships.select_related("school"))
        held = held or "no roles yet"
        errors["username"].append(
            f"{user.username} is already the login of {person_with_email(user)} ({held}): give another username for someone "
            "else, or leave out the name and e-mail to give this person the role"
        )
    if errors:
        raise ValidationError(dict(errors))
    user.save()
    membership, added = StaffMembership.objects.get_or_create(user=user, school=school, role=role)
    before = sorted(membership.classes.values_list("name", flat=True))
    changed = added or (bool(names) and before != sorted(groups))
    if added or names:  # run again with other classes, a teacher's classes become those
        membership.classes.set(groups.values())
    return StaffAdded(membership, password if created else None, changed=changed, classes_before=tuple(before))


#: Why a username cannot be used on the Staff page: it is the login of someone who does not work at the school.
USERNAME_TAKEN = (
    "That username is taken: choose another. Someone who already works at another school is given a role "
    "here by whoever runs the system."
)


def staff_given_words(membership: StaffMembership) -> str:
    """The audit trail's line for a role given on the Staff page (`_worked_here` reads it back)."""
    held = ", ".join(sorted(group.name for group in membership.classes.all()))
    return _given(membership.user.username) + role_words(membership.role) + (f" for {held}" if held else "")


def staff_taken_words(*, username: str, role: str) -> str:
    """The audit trail's line for a role taken away on the Staff page (`_worked_here` reads it back)."""
    return _taken(username) + role_words(role)


def _given(username: str) -> str:
    return f"gave {username} the role "


def _taken(username: str) -> str:
    return f"took away {username}'s role "


def _worked_here(user: Any, school: School) -> bool:
    """Has this login a role at the school, or had it one (given or taken away here, or used here)?"""
    if StaffMembership.objects.filter(user=user, school=school).exists():
        return True
    named = Q(what__startswith=_given(user.username)) | Q(what__startswith=_taken(user.username))
    return AuditEvent.objects.filter(school=school).filter(Q(user=user) | named).exists()


@transaction.atomic
def staff_give(
    *,
    school: School,
    giver: Any,
    username: str,
    role: str,
    classes: Iterable[str],
    name: str,
    email: str,
    password: str,
) -> StaffAdded:
    """A role given on the school's Staff page: `staff_add`, within what a school may do with logins.

    A login is made for someone new, who needs a name (without one, most often a colleague's username
    was mistyped). An existing login is given a further role only if it works, or worked, here
    (`_worked_here`): anyone else's is the system administrator's to use (`add_staff`), and the refusal
    does not say whose it is. A name typed for an existing login must be theirs. Nobody gives themselves
    a role. A class teacher given more classes keeps those they have. Which roles the giver may give is
    `Access.may_give`'s, checked by the page's form. Raises ValidationError by field, changing nothing.
    """
    someone = get_user_model().objects.filter(username__iexact=username).first()
    if someone is None:
        if not name.strip():
            raise ValidationError(
                {
                    "name": f"Nobody signs in as {username} yet, so this makes a new login: give their name. "
                    "For a colleague who already signs in here, check their username."
                }
            )
        first_name, last_name = name_parts(name)
        return staff_add(
            school=school,
            username=username,
            role=role,
            classes=classes,
            first_name=first_name,
            last_name=last_name,
            email=email.strip(),
            password=password,
        )
    if someone.pk == giver.pk:
        raise ValidationError({"username": "Your own roles are changed by another attendance lead or senior leader."})
    if not _worked_here(someone, school):
        raise ValidationError({"username": USERNAME_TAKEN})
    known = person_name(someone)
    if name.strip() and not _same_name(name, known):
        raise ValidationError(
            {
                "username": f"{someone.username} is {known}'s login here: choose another username for someone "
                f"new, or leave the name empty to give {known} this role."
            }
        )
    held = StaffMembership.objects.filter(user=someone, school=school, role=role).first()
    wanted = list(dict.fromkeys(classes))
    if held is not None and wanted:
        wanted += [group.name for group in held.classes.all() if group.name not in wanted]
    # Their own login, as it is: no name or e-mail passed, so none can be taken for someone else's.
    return staff_add(school=school, username=someone.username, role=role, classes=wanted, password=password)


@transaction.atomic
def staff_remove(*, membership: StaffMembership) -> int:
    """Take one role at one school away from a member of staff; returns how many open tasks went back to the role.

    Their login stays (they may hold other roles, or work at other schools), and the record of what they
    did stays theirs. Work given to them in this role goes back to the role's shared list
    (`staff_role_removed`), so nothing is left with someone who can no longer see it. Refuses, naming
    why and changing nothing, to leave the school without an attendance lead.
    """
    lead = StaffMembership.Role.ATTENDANCE_LEAD
    # The school's leads locked together: two leads taking each other's role at once cannot leave none.
    leads = list(StaffMembership.objects.select_for_update().filter(school=membership.school, role=lead).order_by("pk"))
    try:
        membership = StaffMembership.objects.select_for_update().select_related("user", "school").get(pk=membership.pk)
    except StaffMembership.DoesNotExist:  # taken away a moment ago (a second click, or someone else)
        raise ValidationError("That role has been taken away already.") from None
    if membership.role == lead and all(m.pk == membership.pk for m in leads):
        raise ValidationError(
            f"{person_name(membership.user)} is the only attendance lead at {membership.school.name}: "
            "give someone else that role first"
        )
    released = sum(
        int(answer or 0) for _, answer in staff_role_removed.send(sender=StaffMembership, membership=membership)
    )
    membership.delete()
    return released


@transaction.atomic
def staff_password_renew(*, membership: StaffMembership, password: str) -> None:
    """Give a login made for this school a new password, while it has never been used (its first one missed).

    Raises ValidationError, changing nothing, once the person has signed in (from then on the password is
    theirs: they change it, or reset it by e-mail) or if the login works at another school too.
    """
    user = get_user_model().objects.select_for_update().get(pk=membership.user_id)
    who = person_name(user)
    if user.last_login is not None:
        raise ValidationError(
            f"{who} has signed in already, so the password is theirs: they change it under their name in the menu, "
            "or reset a forgotten one by e-mail"
        )
    if StaffMembership.objects.filter(user=user).exclude(school=membership.school).exists():
        raise ValidationError(f"{who}'s login is used at another school too: whoever runs the system resets it")
    user.set_password(password)
    user.save(update_fields=["password"])


#: Roles one login may not hold together at one school: a class teacher's writes would reach every class.
_NOT_TOGETHER = {
    StaffMembership.Role.CLASS_TEACHER: StaffMembership.Role.LA_OFFICER,
    StaffMembership.Role.LA_OFFICER: StaffMembership.Role.CLASS_TEACHER,
}


def role_words(role: str, *, article: bool = False) -> str:
    """A role as a sentence names it: "class teacher", "trust / LA officer", with "a" or "an" if asked."""
    label = StaffMembership.Role(role).label.removesuffix(" (read only)")
    words = label[0].lower() + label[1:]
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words}" if article else words


def _someone_else(user: Any, *, first_name: str, last_name: str, email: str) -> bool:
    """Do the name or e-mail given for a login that exists belong to someone else? (None given: no.)"""
    name = f"{first_name} {last_name}".strip()
    return bool(
        (name and name.casefold() != user.get_full_name().strip().casefold())
        or (email and email.casefold() != user.email.casefold())
    )


@transaction.atomic
def calendar_replace(*, school: School, half_terms: Iterable[cal.HalfTermDates]) -> None:
    """Set a school's academic years and half-terms, replacing any years the new ones cover."""
    by_year: dict[int, list[cal.HalfTermDates]] = {}
    for h in sorted(half_terms):
        by_year.setdefault(h.academic_year, []).append(h)
    for start_year, terms in by_year.items():
        name = cal.academic_year_name(start_year)
        AcademicYear.objects.filter(school=school, name=name).delete()
        year = AcademicYear.objects.create(school=school, name=name, start_on=terms[0].start, end_on=terms[-1].end)
        HalfTerm.objects.bulk_create(
            [
                HalfTerm(
                    school=school,
                    academic_year=year,
                    name=h.name,
                    term=h.term,
                    start_on=h.start,
                    end_on=h.end,
                )
                for h in terms
            ]
        )


def school_calendar(school: School) -> cal.SchoolCalendar:
    """The school's calendar as plain data, for rules and statistics."""
    rows = HalfTerm.objects.filter(school=school).values_list("start_on", "end_on", "name")
    return cal.calendar_from(cal.HalfTermDates(start, end, name) for start, end, name in rows)


def _class_key(name: str) -> str:
    """A class's name as people read it: "4a", "4A" and "4 A" are one class (spaces and case aside)."""
    return "".join(name.split()).casefold()


def registration_group_get_or_create(*, school: School, name: str, year_group: YearGroup | None) -> RegistrationGroup:
    group, _ = RegistrationGroup.objects.get_or_create(school=school, name=name, defaults={"year_group": year_group})
    return group


def audit_record(*, school: School, user: object, verb: str, what: str, pupil: object = None, path: str = "") -> None:
    """Keep a line in the audit trail. Never raises for a missing user (system jobs)."""
    AuditEvent.objects.create(
        school=school,
        user=user if getattr(user, "is_authenticated", False) else None,
        pupil=pupil,
        verb=verb,
        what=what[:300],
        path=path[:300],
    )


# --- imports ------------------------------------------------------------------
# Reading and checking live in `imports.py` (no database); the marks SQL in
# `staging.py`. These services own the transaction and the ImportBatch record.


class _Rejected(Exception):
    """Raised inside an import's transaction to roll it back; the report holds the problems."""


def _batch_rejected(*, school: School, report: imports.ImportReport, kind: str, sha256: str, user: Any) -> None:
    """Keep a record of a rejected file, outside the rolled-back transaction."""
    batch = ImportBatch.objects.create(
        school=school,
        kind=kind,
        filename=report.filename[:255],
        sha256=sha256,
        status=ImportBatch.Status.FAILED,
        rows=report.rows,
        errors=report.errors.as_json(),
        warnings=report.warnings.as_json(),
        created_by=user,
        finished_at=timezone.now(),
    )
    report.batch_id = batch.id


def _batch_done(batch: ImportBatch, report: imports.ImportReport) -> None:
    _import_audit(batch, report)
    batch.status = ImportBatch.Status.DONE
    batch.rows = report.rows
    batch.inserted = report.inserted
    batch.updated = report.updated
    batch.unchanged = report.unchanged
    batch.errors = []
    batch.warnings = report.warnings.as_json()
    batch.finished_at = timezone.now()
    batch.save(
        update_fields=["status", "rows", "inserted", "updated", "unchanged", "errors", "warnings", "finished_at"]
    )


def _import_audit(batch: ImportBatch, report: imports.ImportReport) -> None:
    """The import in the audit trail: one line for the file, and one on each pupil's record for every mark
    it corrected (a file can put back a mark someone changed by hand; the trail says so). New marks are
    counted, not listed: a day's register is hundreds."""
    AuditEvent.objects.create(
        school=batch.school,
        user=batch.created_by,
        verb=AuditEvent.Verb.CHANGE,
        what=f"imported {batch.get_kind_display()} {batch.filename} (import #{batch.pk}): {report.inserted} new, "
        f"{report.updated} changed, {report.unchanged} unchanged"[:300],
    )
    corrections = MarkChange.objects.filter(batch=batch).select_related("mark__pupil").order_by("mark__date", "pk")
    AuditEvent.objects.bulk_create(
        AuditEvent(
            school=batch.school,
            user=batch.created_by,
            pupil=change.mark.pupil,
            verb=AuditEvent.Verb.CHANGE,
            what=f"mark {change.mark.pupil.upn} {change.mark.date.isoformat()} "
            f"{AttendanceMark.Session(change.mark.session).label}: {change.old_code} → {change.new_code}"
            f" (import #{batch.pk}, {batch.filename})"[:300],
        )
        for change in corrections.iterator()
    )


def _import_user(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


def school_roll(school: School) -> dict[str, imports.RollEntry]:
    """The school's pupils by UPN, as the marks readers need them (at most a few thousand)."""
    rows = Pupil.objects.filter(school=school).values_list("upn", "id", "start_on", "leaving_on", "date_of_birth")
    return {
        upn: imports.RollEntry(pupil_id, start_on, leaving_on, born)
        for upn, pupil_id, start_on, leaving_on, born in rows
    }


def marks_import(*, school: School, path: Path, filename: str = "", user: Any = None) -> imports.ImportReport:
    """Import a marks CSV or a CTF XML file (told apart by content): all of it, or nothing.

    Checks every row (UPN on the roll, date, session, the code in force on that
    date, the date inside the pupil's time on roll, repeated sessions) and
    raises `ImportRejected` with every problem if any is found; the database is
    then as it was, apart from a rejected ImportBatch kept for the record.
    Otherwise inserts new marks and corrects changed ones, keeping each old
    value in MarkChange, and returns the report. Idempotent: the same file
    again changes nothing and reports every row unchanged.
    """
    user = _import_user(user)
    facts = imports.inspect_file(path)
    kind = ImportBatch.Kind.CTF if facts.kind == "ctf" else ImportBatch.Kind.MARKS
    report = imports.ImportReport(filename=filename or path.name, kind=kind)
    if facts.problem:
        report.error(0, "", facts.problem)
        _batch_rejected(school=school, report=report, kind=kind, sha256=facts.sha256, user=user)
        raise imports.ImportRejected(report)
    before = (
        ImportBatch.objects.filter(school=school, sha256=facts.sha256, status=ImportBatch.Status.DONE)
        .order_by("created_at")
        .first()
    )
    if before is not None:
        report.notes.append("This file was imported before: only differences from the register are written.")
    try:
        with transaction.atomic():
            # One import at a time per school: two would race on the same marks.
            School.objects.select_for_update().only("id").get(pk=school.pk)
            batch = ImportBatch.objects.create(
                school=school, kind=kind, filename=report.filename[:255], sha256=facts.sha256, created_by=user
            )
            report.batch_id = batch.id
            _marks_import_staged(
                school=school,
                path=path,
                facts=facts,
                report=report,
                batch=batch,
                user=user,
                imported_before=before.created_at if before else None,
            )
            if not report.ok:
                raise _Rejected
            _batch_done(batch, report)
    except _Rejected:
        _batch_rejected(school=school, report=report, kind=kind, sha256=facts.sha256, user=user)
        raise imports.ImportRejected(report) from None
    return report


def _marks_import_staged(
    *,
    school: School,
    path: Path,
    facts: imports.FileFacts,
    report: imports.ImportReport,
    batch: ImportBatch,
    user: Any,
    imported_before: datetime | None,
) -> None:
    roll = school_roll(school)
    if not roll:  # one line, not one for each row of the file
        report.error(0, "", "the school has no pupils yet: import the pupils file first, then this one")
        if facts.kind == "csv":  # counted, so the report does not say the file was empty
            with path.open(encoding=facts.encoding, newline="") as text:
                report.rows = max(sum(1 for fields in csv.reader(text) if any(f.strip() for f in fields)) - 1, 0)
        return
    calendar, today = school_calendar(school), timezone.localdate()
    columns = imports.MarkColumns()
    with connection.cursor() as cursor:
        staging.stage_create(cursor)
        try:
            if facts.kind == "ctf":
                with path.open("rb") as binary:
                    marks = imports.read_ctf(binary, roll=roll, calendar=calendar, today=today, report=report)
                    staged = staging.stage_load(cursor, marks)
            else:
                with path.open(encoding=facts.encoding, newline="") as text:
                    marks = imports.read_marks_csv(
                        text, roll=roll, calendar=calendar, today=today, report=report, columns_out=columns
                    )
                    staged = staging.stage_load(cursor, marks)
            if facts.encoding == "cp1252":
                report.warn(0, "", "the file is not UTF-8: read as Windows-1252")
            upn_of = {entry.pupil_id: upn for upn, entry in roll.items()}
            repeats = imports.repeated_mark_problems(staging.stage_repeats(), upn_of=upn_of, report=report)
            if not report.ok:
                return
            if repeats:
                staging.stage_drop_repeats(cursor)
            report.inserted, report.updated = staging.marks_write(
                cursor,
                school_id=school.id,
                columns=columns,
                batch_id=batch.id,
                user_id=user.id if user else None,
                now=timezone.now(),
                reason=f"import #{batch.id} {report.filename}"[:200],
            )
            if report.updated:
                _warn_overwritten(cursor, report=report, upn_of=upn_of, since=imported_before)
        finally:
            staging.stage_drop(cursor)
    report.unchanged = staged - repeats - report.inserted - report.updated
    if report.no_mark:
        report.warn(
            0,
            "AttendanceMarks" if facts.kind == "ctf" else "code",
            f"{report.no_mark} session(s) have no mark yet ('-', '*', blank, or '#' on a day the school is closed):"
            " not stored",
        )


def _warn_overwritten(
    cursor: Any, *, report: imports.ImportReport, upn_of: dict[int, str], since: datetime | None
) -> None:
    """Warn of each mark the import changed that someone recorded in the app, or (for a file imported
    before, `since` then) that changed after that first import: an old file may be undoing a correction.
    The old value stays in the mark's history either way."""
    count, found = staging.overwritten(cursor, since=since, limit=imports.KEEP)
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in={o.recorded_by_id for o in found})}
    for mark in found:
        when = f"{timezone.localtime(mark.recorded_at):%-d %b %Y}"
        if mark.in_app:
            who = person_name(users.get(mark.recorded_by_id)) or "someone"
            source = f"recorded in the app by {who} on {when}"
        else:
            source = f"recorded on {when}, after this file was first imported"
        message = f"replaces {mark.old_code} with {mark.new_code}: {mark.old_code} was {source}; check which is right"
        if mark.pos:  # CTF: a pupil and a place in their marks
            upn, session_when = (
                upn_of.get(mark.pupil_id, ""),
                f"{mark.date.isoformat()} {imports.SESSION_NAMES[mark.session]}",
            )
            report.warn(mark.line, "AttendanceMarks", message, upn=upn, position=mark.pos, when=session_when)
        else:
            report.warn(mark.line, "code", message)
    if count > len(found):
        report.warn(
            0, "code", f"{count - len(found)} more marks replaced like these: see each pupil's register history"
        )


_PUPIL_FIELDS = (
    "surname",
    "forename",
    "date_of_birth",
    "year_group_id",
    "registration_group_id",
    "sen",
    "start_on",
    "leaving_on",
)
_PUPIL_COLUMNS = {
    "upn": "upn",
    "surname": "surname",
    "forename": "forename",
    "date_of_birth": "date_of_birth",
    "sen": "sen",
    "start_on": "start_date",
    "leaving_on": "leaving_date",
    "name": "contact_name",
    "salutation": "contact_salutation",
    "address": "contact_address",
    "email": "contact_email",
    "phone": "contact_phone",
}


def pupils_import(
    *, school: School, path: Path, filename: str = "", user: Any = None, today: date
) -> imports.ImportReport:
    """Import a pupils CSV: insert or update each pupil by UPN, all rows or none.

    Year groups must exist (by code or name: "3", "Year 3", "Reception");
    registration groups are created as needed; unknown flag keys become the
    school's own flags (a warning says so), unless close to a flag the school
    has (`did_you_mean`): that is taken for a typing mistake, and refused. An optional column missing from the
    file leaves that value alone; a blank `leaving_date` means still on roll.
    A new pupil with no `start_date` is on roll from the start of the current
    academic year (a warning says so). Contact columns set the pupil's first
    contact's details, those the file has a column for; a different name makes
    a new first contact and keeps the old one, next in line (a warning says
    so). Pupils not in the file are left as they are: records are never
    deleted. Raises `ImportRejected` with every problem; the database is then
    unchanged apart from a rejected ImportBatch. Idempotent.
    """
    user = _import_user(user)
    facts = imports.inspect_file(path)
    kind = ImportBatch.Kind.PUPILS
    report = imports.ImportReport(filename=filename or path.name, kind=kind)
    if facts.kind == "ctf":
        report.error(0, "", "this is an XML file; pupils are imported from CSV")
    elif facts.problem:
        report.error(0, "", facts.problem)
    if not report.ok:
        _batch_rejected(school=school, report=report, kind=kind, sha256=facts.sha256, user=user)
        raise imports.ImportRejected(report)
    try:
        with transaction.atomic():
            School.objects.select_for_update().only("id").get(pk=school.pk)
            batch = ImportBatch.objects.create(
                school=school, kind=kind, filename=report.filename[:255], sha256=facts.sha256, created_by=user
            )
            report.batch_id = batch.id
            year_groups = {g.code: g for g in YearGroup.objects.filter(school=school)}
            aliases = imports.year_group_aliases((g.code, g.name) for g in year_groups.values())
            with path.open(encoding=facts.encoding, newline="") as text:
                rows = imports.parse_pupils_csv(text, year_groups=aliases, today=today, report=report)
            if facts.encoding == "cp1252":
                report.warn(0, "", "the file is not UTF-8: read as Windows-1252")
            if report.ok:
                _pupils_write(school=school, rows=rows, year_groups=year_groups, report=report, today=today, user=user)
            if not report.ok:
                raise _Rejected
            report.settle()
            _batch_done(batch, report)
    except _Rejected:
        _batch_rejected(school=school, report=report, kind=kind, sha256=facts.sha256, user=user)
        raise imports.ImportRejected(report) from None
    return report


#: How the audit trail names each pupil detail an import can change.
_PUPIL_DETAIL_NAMES = {
    "surname": "surname",
    "forename": "forename",
    "date_of_birth": "date of birth",
    "year_group_id": "year group",
    "registration_group_id": "class",
    "sen": "SEN status",
    "start_on": "starting day",
    "leaving_on": "leaving day",
}


def _pupil_changes(pupil: Pupil, values: dict[str, Any], names: dict[str, dict[int, str]]) -> str:
    """What an import changes about a pupil, in words: "surname Davies → Davies-Smith; class 4A → 4B"."""

    def shown(name: str, value: Any) -> str:
        if value is None or value == "":
            return "none"
        return names[name].get(value, str(value)) if name in names else str(value)

    return "; ".join(
        f"{_PUPIL_DETAIL_NAMES[name]} {shown(name, getattr(pupil, name))} → {shown(name, value)}"
        for name, value in values.items()
        if getattr(pupil, name) != value
    )


def _default_start(school: School, today: date) -> date:
    year = AcademicYear.objects.filter(school=school, start_on__lte=today).order_by("-start_on").first()
    return year.start_on if year else date(cal.academic_year_start(today), 9, 1)


def _clean_problems(obj: Pupil | Contact, row: int, report: imports.ImportReport, exclude: list[str]) -> None:
    """The model's own field checks, as a backstop behind the parser's: reported by row and column."""
    try:
        obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as e:
        for name, messages in e.message_dict.items():
            for message in messages:
                report.error(row, _PUPIL_COLUMNS.get(name, name), message)


def _new_first_contact_note(fields: dict[str, str]) -> str:
    if fields.get("address"):
        return ""
    return (
        "; the file gives no address for them, so they are not sent letters until one is added (the others still are)"
    )


def _same_name(a: str, b: str) -> bool:
    """The same person's name, however the MIS spaced or capitalised it this time."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _pupils_write(
    *,
    school: School,
    rows: list[imports.PupilRow],
    year_groups: dict[str, YearGroup],
    report: imports.ImportReport,
    today: date,
    user: Any,
) -> None:
    existing = {p.upn: p for p in Pupil.objects.filter(school=school).prefetch_related("flags")}
    contacts_of: dict[int, list[Contact]] = defaultdict(list)  # first contact first
    for contact in Contact.objects.filter(pupil__school=school).order_by("pupil_id", "priority", "id"):
        contacts_of[contact.pupil_id].append(contact)
    groups = {g.name: g for g in RegistrationGroup.objects.filter(school=school)}
    # A class as people read its name: "4a" or "4 A" in a file is the school's 4A, not a new class.
    read_as: dict[str, list[RegistrationGroup]] = defaultdict(list)
    for group in groups.values():
        read_as[_class_key(group.name)].append(group)
    flags = {f.key: f for f in Flag.objects.filter(school=school)}
    default_start: date | None = None

    # Flags and registration groups first: pupils point at them.
    new_flags: dict[str, Flag] = {}
    mistyped: dict[str, list[int]] = defaultdict(list)  # key -> its rows
    new_groups: dict[str, RegistrationGroup] = {}
    for row in rows:
        for key in row.flags or ():
            if key in flags or key in new_flags:
                continue
            if did_you_mean(key, flags):  # most likely a typing mistake: made a flag, the pupil loses the one meant
                mistyped[key].append(row.row)
                continue
            new_flags[key] = Flag(school=school, key=key, name=key.replace("_", " ").capitalize())
            report.warnings_if_done.append(
                imports.Problem(row.row, "flags", f"{key!r} is not a known flag: created it as one of the school's own")
            )
        name = row.registration_group
        if name in groups:  # written exactly as the school has it: that class, whatever else is near it
            continue
        alike = read_as[_class_key(name)]
        if len(alike) == 1:
            groups[name] = alike[0]
            report.notes.append(f"Row {row.row}: class {name!r} taken as {alike[0].name}.")
        elif alike:
            report.error(
                row.row,
                "registration_group",
                f"{name!r} could be any of the classes {', '.join(sorted(g.name for g in alike))}: "
                "write it exactly as one of them",
            )
        else:
            group = RegistrationGroup(school=school, name=name, year_group=year_groups[row.year_group])
            groups[name] = new_groups[name] = group
            read_as[_class_key(name)].append(group)
            report.notes_if_done.append(f"Created registration group {name} (row {row.row}).")
    for key, where in mistyped.items():
        also = f" (also on row{'s' if len(where) > 2 else ''} {row_spans(where[1:])})" if len(where) > 1 else ""
        report.error(
            where[0],
            "flags",
            f"{key!r} is not one of the school's flags{did_you_mean(key, flags)}{also}: correct it. A new flag this "
            "close to one the school has is not made from a file; the system administrator can add it",
        )
    if not report.ok:
        return
    flags.update((f.key, f) for f in Flag.objects.bulk_create(new_flags.values()))
    RegistrationGroup.objects.bulk_create(new_groups.values())  # sets each one's id, where `groups` holds it

    now = timezone.now()
    to_create: list[tuple[imports.PupilRow, Pupil]] = []
    to_update: list[Pupil] = []
    dates_moved: list[tuple[imports.PupilRow, str, Pupil]] = []
    flags_wanted: dict[str, set[int]] = {}
    contacts_new: list[tuple[str, Contact]] = []
    contacts_changed: list[Contact] = []
    demoted: set[int] = set()  # pupils whose first contact becomes their second
    changed_upns: set[str] = set()
    no_start: list[int] = []  # rows of new pupils without a start date
    audited: list[tuple[Pupil, str]] = []  # each updated pupil, and what changed, for the audit trail
    for row in rows:
        pupil = existing.get(row.upn)
        start_on = row.start_on or (pupil.start_on if pupil else None)
        if start_on is None:
            default_start = default_start or _default_start(school, today)
            start_on = default_start
            no_start.append(row.row)
        leaving_on = row.leaving_on if row.has_leaving else (pupil.leaving_on if pupil else None)
        if leaving_on and leaving_on < start_on:
            column = "leaving_date" if row.has_leaving else "start_date"
            report.error(
                row.row,
                column,
                f"the pupil would leave ({leaving_on.isoformat()}) before starting ({start_on.isoformat()})",
            )
            continue
        values = {
            "surname": row.surname,
            "forename": row.forename,
            "date_of_birth": row.date_of_birth,
            "year_group_id": year_groups[row.year_group].id,
            "registration_group_id": groups[row.registration_group].id,
            "sen": row.sen if row.sen is not None else (pupil.sen if pupil else Pupil.Sen.NONE),
            "start_on": start_on,
            "leaving_on": leaving_on,
        }
        if pupil is None:
            pupil = Pupil(school=school, upn=row.upn, **values)
            _clean_problems(pupil, row.row, report, ["school", "year_group", "registration_group", "flags"])
            to_create.append((row, pupil))
        elif any(getattr(pupil, name) != value for name, value in values.items()):
            if pupil.leaving_on != leaving_on:
                dates_moved.append((row, "leaving_date", pupil))
            elif pupil.start_on != start_on:
                dates_moved.append((row, "start_date", pupil))
            names = {
                "year_group_id": {g.id: g.name for g in year_groups.values()},
                "registration_group_id": {g.id: g.name for g in groups.values()},
            }
            audited.append((pupil, _pupil_changes(pupil, values, names)))
            for name, value in values.items():
                setattr(pupil, name, value)
            pupil.updated_at = now
            _clean_problems(pupil, row.row, report, ["school", "year_group", "registration_group", "flags"])
            to_update.append(pupil)
            changed_upns.add(row.upn)
        if row.flags is not None:
            wanted = {flags[key].id for key in row.flags}
            flags_wanted[row.upn] = wanted
            if pupil.pk and wanted != {f.id for f in pupil.flags.all()}:
                changed_upns.add(row.upn)
        if row.contact is not None:
            held = contacts_of[pupil.pk] if pupil.pk else []
            contact = held[0] if held else None
            fields = row.contact.given()
            if contact is not None and "name" in fields and not _same_name(fields["name"], contact.name):
                # Someone else is now the first contact: one we hold already, or someone new. Whoever
                # was first keeps every detail we hold, next in line: the file says nothing about them.
                contact = next((c for c in held if _same_name(c.name, fields["name"])), None)
                note = "" if contact is not None else _new_first_contact_note(fields)
                report.warn(
                    row.row,
                    "contact_name",
                    f"{fields['name']} is now the first contact, ahead of {held[0].name}{note}",
                )
                demoted.add(pupil.pk)
                if contact is not None:
                    for name, value in fields.items():
                        setattr(contact, name, value)
                    contact.priority = 0  # ahead of the others, each moved one place down
                    contacts_changed.append(contact)
                else:
                    contact = Contact(priority=0, receives_letters=bool(fields.get("address")), **fields)
                    contacts_new.append((row.upn, contact))
                _clean_problems(contact, row.row, report, ["pupil"])
                changed_upns.add(row.upn)
                continue
            if contact is None and "name" not in fields:
                report.error(row.row, "contact_name", "a new contact needs a name: the file has no contact_name column")
            elif contact is None:
                contact = Contact(priority=1, **fields)
                _clean_problems(contact, row.row, report, ["pupil"])
                contacts_new.append((row.upn, contact))
                if pupil.pk:
                    changed_upns.add(row.upn)
            elif any(getattr(contact, name) != value for name, value in fields.items()):
                for name, value in fields.items():
                    setattr(contact, name, value)
                _clean_problems(contact, row.row, report, ["pupil"])
                contacts_changed.append(contact)
                changed_upns.add(row.upn)
    if len(no_start) == 1:
        report.warn(no_start[0], "start_date", f"no start date: on roll from {default_start:%-d %b %Y}")
    elif no_start:
        report.warn(
            0,
            "start_date",
            f"no start date for {len(no_start)} new pupils (rows {row_spans(no_start)}): each on roll from "
            f"{default_start:%-d %b %Y}, the start of the school year; give start_date for any who joined later",
        )
    if not report.ok:
        return

    created = Pupil.objects.bulk_create([pupil for _, pupil in to_create])
    by_upn = {**existing, **{p.upn: p for p in created}}
    Pupil.objects.bulk_update(to_update, [*_PUPIL_FIELDS, "updated_at"])
    AuditEvent.objects.bulk_create(
        AuditEvent(
            school=school,
            user=user,
            pupil=pupil,
            verb=AuditEvent.Verb.CHANGE,
            what=f"{changes} (pupils import {report.filename})"[:300],
        )
        for pupil, changes in audited
    )
    through = Pupil.flags.through
    for upn, wanted in flags_wanted.items():
        pupil = by_upn[upn]
        current = {f.id for f in pupil.flags.all()} if upn in existing else set()
        if current - wanted:
            through.objects.filter(pupil_id=pupil.id, flag_id__in=current - wanted).delete()
        through.objects.bulk_create([through(pupil_id=pupil.id, flag_id=flag_id) for flag_id in wanted - current])
    Contact.objects.filter(pupil_id__in=demoted).update(priority=F("priority") + 1)
    for upn, contact in contacts_new:
        contact.pupil = by_upn[upn]
    Contact.objects.bulk_create([contact for _, contact in contacts_new])
    Contact.objects.bulk_update(contacts_changed, ["name", "salutation", "address", "email", "phone", "priority"])

    for row, column, pupil in dates_moved:
        outside = (
            Q(date__lt=pupil.start_on) | Q(date__gt=pupil.leaving_on)
            if pupil.leaving_on
            else Q(date__lt=pupil.start_on)
        )
        if count := pupil.marks.filter(outside).count():
            report.warn(row.row, column, f"{count} stored mark(s) now fall outside the pupil's time on roll")

    report.inserted = len(created)
    report.updated = len(changed_upns)
    report.unchanged = len(rows) - report.inserted - report.updated


# --- register corrections -------------------------------------------------------
# One session's mark, set by hand from the register grid or the first-day calls.

#: Codes for which minutes late mean something; a correction to any other code clears them.
_LATE_CODES = frozenset({"L", "U"})


@transaction.atomic
def mark_correct(
    *, pupil: Pupil, date: date, session: int, code: str, reason: str, user: Any, path: str = ""
) -> AttendanceMark:
    """Set one session's mark by hand, keeping what it was. Returns the AttendanceMark.

    The code must be one in force on `date` (`codes.normalise_code` decides;
    retired sub-codes become what they became), the date inside the pupil's
    time on roll, and a reason is required to change a mark (not to fill a
    session with none: that is a first entry, not an amendment). A changed mark keeps its old code,
    minutes late and comment in MarkChange, becomes the user's rather than an
    import's, and gets `changed_at = now` (the nightly incremental run relies
    on it). A session with no mark yet gets one: audited, with no history as
    there was nothing before. Raises ValidationError (by form field: `code`,
    `reason`, or `__all__`) and then changes nothing. Idempotent: the mark's
    current code again changes nothing.
    """
    user = _import_user(user)
    if session not in AttendanceMark.Session.values:
        raise ValidationError({NON_FIELD_ERRORS: "The session must be AM or PM."})
    day = cal.long_date(date)
    when = f"{date.isoformat()} {AttendanceMark.Session(session).label}"
    reason = " ".join(reason.split())
    raw = code.strip().upper()
    # Every problem at once, so the office fixes the code and the reason in one go.
    problems: dict[str, str] = {}
    new_code: str | None = None
    try:
        new_code = normalise_code(raw, date)
        new_code = new_code and for_session(new_code, session)
    except UnknownCode:
        problems["code"] = (
            f"{raw} is not an attendance code: choose one from the list, for example / or \\ (present), "
            "L (late), I (illness), M (medical appointment), O (unauthorised) or N (no reason yet)."
        )
    except CodeError as e:
        problems["code"] = f"Code {raw} cannot be used on {day}: {e}."
    else:
        if new_code is None:
            problems["code"] = "Enter an attendance code: a session cannot be set back to “no mark yet”."
    if problem := school_calendar(pupil.school).register_day_problem(date, today=timezone.localdate()):
        problems[NON_FIELD_ERRORS] = f"{problem}."
    elif date < pupil.start_on or (pupil.leaving_on is not None and date > pupil.leaving_on):
        roll = f"on roll from {cal.long_date(pupil.start_on)}"
        if pupil.leaving_on:
            roll += f" to {cal.long_date(pupil.leaving_on)}"
        problems[NON_FIELD_ERRORS] = f"{pupil.full_name} was not on roll on {day} ({roll})."
    marked = AttendanceMark.objects.filter(pupil=pupil, date=date, session=session).exists()
    if not reason and marked:
        problems["reason"] = "Give a reason: it is kept with the mark's history."
    elif len(reason) > 200:
        problems["reason"] = f"Keep the reason to 200 characters (it has {len(reason)})."
    if problems:
        raise ValidationError(problems)

    # Locked, so two people correcting the same session at once both leave history.
    mark = AttendanceMark.objects.select_for_update().filter(pupil=pupil, date=date, session=session).first()
    if mark is not None and mark.code == new_code:
        return mark
    if mark is not None and not reason:  # marked by someone else since the check above: now it is a change
        raise ValidationError({"reason": "Someone has just marked this session: give a reason to change it."})
    now = timezone.now()
    if mark is None:
        old_code = ""
        mark = AttendanceMark(pupil=pupil, date=date, session=session, code=new_code, recorded_by=user, changed_at=now)
        mark.full_clean(validate_unique=False, validate_constraints=False)  # the database decides, below
        try:
            with transaction.atomic():  # no row to lock: two people filling the session at once meet here
                mark.save()
        except IntegrityError:
            raise ValidationError(
                {
                    NON_FIELD_ERRORS: "Someone has just marked this session: look at the mark now, and change it "
                    "with a reason if it is wrong."
                }
            ) from None
    else:
        old_code = mark.code
        MarkChange.objects.create(
            mark=mark,
            old_code=old_code,
            new_code=new_code,
            old_minutes_late=mark.minutes_late,
            old_comment=mark.comment,
            reason=reason,
            changed_by=user,
            changed_at=now,
        )
        mark.code = new_code
        if new_code not in _LATE_CODES:
            mark.minutes_late = None
        mark.batch = None
        mark.recorded_by = user
        mark.changed_at = now
        mark.save(update_fields=["code", "minutes_late", "batch", "recorded_by", "changed_at"])
    audit_record(
        school=pupil.school,
        user=user,
        verb=AuditEvent.Verb.CHANGE,
        what=f"mark {pupil.upn} {when}: {old_code or 'no mark'} → {new_code}" + (f" ({reason})" if reason else ""),
        pupil=pupil,
        path=path,
    )
    return mark


@dataclass(frozen=True)
class Explained:
    """What recording a reason did: the marks changed, and anything else that followed, in words."""

    marks: list[AttendanceMark]
    also: list[str]


@transaction.atomic
def mark_explain(*, pupil: Pupil, date: date, code: str, reason: str, user: Any, path: str = "") -> Explained:
    """A reason has come for a pupil's N ("no reason yet") marks on `date`: each becomes `code`, via `mark_correct`.

    Returns the marks changed, in session order, and what the `marks_explained`
    signal's receivers did besides. Raises ValidationError as `mark_correct`
    does, changing nothing, and for a day with no register. Idempotent: with no
    N left that day it changes nothing and returns no marks.
    """
    sessions = (
        AttendanceMark.objects.select_for_update()
        .filter(pupil=pupil, date=date, code=UNEXPLAINED)
        .order_by("session")
        .values_list("session", flat=True)
    )
    found = list(sessions)
    # No N to correct, on a day with no register (a weekend, a holiday, a day to come, as a stale or
    # hand-made form may send): say so, rather than that someone has already given the reason.
    if not found and (problem := school_calendar(pupil.school).register_day_problem(date, today=timezone.localdate())):
        raise ValidationError({NON_FIELD_ERRORS: f"{problem}."})
    marks = [
        mark_correct(pupil=pupil, date=date, session=session, code=code, reason=reason, user=user, path=path)
        for session in found
    ]
    if not marks:
        return Explained(marks, [])
    words = f"{AttendanceMark.Session.in_words(m.session for m in marks)} on {date:%a %-d %b} now {code}: {reason}"
    answers = marks_explained.send(sender=AttendanceMark, pupil=pupil, date=date, user=user, marks=marks, words=words)
    return Explained(marks, [answer for _, answer in answers if answer])
