from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from django.utils import timezone

from interventions import services
from pupils.models import AttendanceMark, Pupil, StaffMembership
from pupils.services import school_calendar


def fill_register(pupil: Pupil, start: date, end: date, code_for: Callable[[date, int], str]) -> int:
    """Mark every school day in [start, end] for a pupil: code_for(day, session) -> code."""
    calendar = school_calendar(pupil.school)
    now = timezone.now()
    marks = [
        AttendanceMark(pupil=pupil, date=day, session=session, code=code_for(day, session), changed_at=now)
        for day in calendar.school_days(start, end)
        for session in (0, 1)
    ]
    AttendanceMark.objects.bulk_create(marks)
    return len(marks)


def before_joining_refusal(day: str, pupil: Pupil) -> str:
    """What a form says to a date before the pupil was on roll, as a person reads it on the page."""
    joined = pupil.start_on
    return f"{day} is before the pupil joined the school ({joined:%A} {joined.day} {joined:%B %Y})"


def fill_school_days(pupil: Pupil, days: int, end: date, code_for: Callable[[date, int], str]) -> date:
    """Mark exactly the last `days` school days up to `end` for a pupil; returns the first of them.

    A fixed number of sessions, whatever today's date: percentages set by a
    pattern of codes then come out the same on every day the tests run.
    """
    calendar = school_calendar(pupil.school)
    last = end if calendar.is_school_day(end) else calendar.previous_school_day(end)
    first = last
    for _ in range(days - 1):
        first = calendar.previous_school_day(first)
    fill_register(pupil, first, last, code_for)
    return first


@pytest.fixture
def register():
    return fill_register


SIMPLE_LADDER = {
    "key": "simple",
    "name": "Simple ladder",
    "stages": [
        {"key": "universal", "name": "Universal", "label": "U"},
        {
            "key": "concern",
            "name": "Concern",
            "label": "C",
            "criteria": {"attendance": {"below": 95}},
            "actions": [{"key": "call", "title": "Phone the family", "role": "class_teacher", "due_in_school_days": 2}],
            "letters": ["first_reminder"],
            "review_every_weeks": 2,
        },
        {
            "key": "pa",
            "name": "Persistent absence",
            "label": "PA",
            "criteria": {"attendance": {"below": 90}},
            "actions": [
                {
                    "key": "meeting",
                    "title": "Invite parents to a meeting",
                    "role": "attendance_lead",
                    "due_in_school_days": 5,
                }
            ],
            "letters": ["second_warning"],
        },
        {
            "key": "panel",
            "name": "Attendance panel",
            "label": "AP",
            "entry": "approval",
            "criteria": {"attendance": {"below": 80}},
            "letters": ["formal_warning"],
        },
        {"key": "casework", "name": "Casework agreed", "label": "CW", "entry": "manual"},
    ],
}


@pytest.fixture
def ladder(school):
    """SIMPLE_LADDER, loaded and active at our school."""
    loaded, _ = services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
    return loaded


@pytest.fixture
def staff(school, attendance_lead, class_teacher, outsider):
    """Everyone, by name: alice lead, bob teacher, sam SLT, dana DSL, owen office, lara LA officer, olivia outsider."""
    from tests.factories import MembershipFactory, UserFactory

    role = StaffMembership.Role

    def member(username, r):
        return MembershipFactory(user=UserFactory(username=username), school=school, role=r).user

    return {
        "alice": attendance_lead,
        "bob": class_teacher,
        "sam": member("sam", role.SENIOR_LEADER),
        "dana": member("dana", role.DSL),
        "owen": member("owen", role.OFFICE),
        "lara": member("lara", role.LA_OFFICER),
        "olivia": outsider,
    }
