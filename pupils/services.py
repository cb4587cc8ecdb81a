"""Every write to schools, calendars and the code table."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction

from . import calendar as cal
from .codes import code_table
from .models import (
    AcademicYear,
    AttendanceCode,
    Flag,
    HalfTerm,
    RegistrationGroup,
    School,
    YearGroup,
)

PRIMARY_YEAR_GROUPS = [("N", "Nursery"), ("R", "Reception")] + [(str(n), f"Year {n}") for n in range(1, 14)]


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


def registration_group_get_or_create(*, school: School, name: str, year_group: YearGroup | None) -> RegistrationGroup:
    group, _ = RegistrationGroup.objects.get_or_create(school=school, name=name, defaults={"year_group": year_group})
    return group
