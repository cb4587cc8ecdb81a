"""The penalty-notice threshold list: 10 sessions of unauthorised absence in a rolling 10 school weeks."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interventions.models import Referral
from interventions.selectors_lists import penalty_threshold_list
from pupils.models import AttendanceMark, AuditEvent, Pupil
from pupils.services import school_calendar
from pupils.statistics import MarkFact, unauthorised_in_school_weeks
from tests.factories import MarkFactory, PupilFactory

AS_OF = date(2025, 11, 26)  # a Wednesday; the window reaches back past the October half-term
SEVEN = date(2018, 3, 1)  # of compulsory school age
FOUR = date(2021, 11, 22)  # in Reception, below it


def penalty_list(school, today=AS_OF):
    return penalty_threshold_list(
        pupils=Pupil.objects.filter(school=school), calendar=school_calendar(school), today=today
    )


def listed(school, today=AS_OF):
    return {row.pupil.surname: row.sessions for row in penalty_list(school, today).rows}


def away(pupil, days, code="O"):
    for day in days:
        for session in (0, 1):
            MarkFactory(pupil=pupil, date=day, session=session, code=code)


def test_the_list_holds_those_at_ten_sessions_within_ten_school_weeks_and_no_one_else(school):
    calendar = school_calendar(school)
    start = penalty_list(school).start
    # Read on Wednesday 26 Nov, the registers are closed to Tuesday 25 Nov; ten school weeks back from
    # there, the half-term week of 27 Oct skipped: from Monday 15 Sep.
    assert (start, penalty_list(school).end) == (date(2025, 9, 15), AS_OF - timedelta(days=1))
    days = list(calendar.school_days(start, AS_OF))
    ten, nine, early, reception, gone, ill, mixed = (
        PupilFactory(school=school, surname=name, date_of_birth=FOUR if name == "Reception" else SEVEN)
        for name in ("Ten", "Nine", "Early", "Reception", "Gone", "Ill", "Mixed")
    )
    away(ten, days[:5])  # five days, ten sessions: exactly at the threshold
    away(nine, days[:4])
    MarkFactory(pupil=nine, date=days[4], session=0, code="O")  # nine sessions
    away(early, [start - timedelta(days=3), *days[:4]])  # the Friday before the window does not count: 8
    away(reception, days[:10])  # 20 sessions, but penalty notices are not for a child below school age
    away(gone, days[:10])
    gone.leaving_on = AS_OF - timedelta(days=1)
    gone.save()
    away(ill, days[:10], code="I")  # authorised: not for a penalty notice
    for day, code in zip(days[:5], "GNOUG", strict=True):  # any mix of G, N, O and U
        away(mixed, [day], code=code)

    assert listed(school) == {"Ten": 10, "Mixed": 10}


def test_read_on_a_monday_morning_the_list_counts_the_ten_weeks_to_friday(school):
    """As the ladder's night does: a week of which nothing is marked yet does not push a week out of the window."""
    monday = date(2025, 11, 24)
    found = penalty_list(school, today=monday)
    assert (found.start, found.end) == (date(2025, 9, 8), date(2025, 11, 23))  # 10 school weeks to Sunday 23 Nov
    pupil = PupilFactory(school=school, surname="Sixth", date_of_birth=SEVEN)
    away(pupil, [date(2025, 9, 8), date(2025, 9, 9), date(2025, 11, 17), date(2025, 11, 18), date(2025, 11, 21)])
    assert listed(school, today=monday) == {"Sixth": 10}
    assert listed(school, today=monday + timedelta(days=1)) == {}  # a week on, Monday 8 Sep has left the window


def test_a_penalty_notice_referral_recorded_shows_beside_the_pupil(client, school, monkeypatch):
    from pupils.models import StaffMembership
    from tests.factories import MembershipFactory, UserFactory

    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: AS_OF)
    senior_leader = MembershipFactory(
        user=UserFactory(username="sally"), school=school, role=StaffMembership.Role.SENIOR_LEADER
    ).user
    pupil = PupilFactory(school=school, surname="Ten", date_of_birth=SEVEN)
    days = list(school_calendar(school).school_days(date(2025, 11, 3), AS_OF))
    away(pupil, days[:6])
    Referral.objects.create(school=school, pupil=pupil, to="penalty_notice", made_on=AS_OF, status="considering")

    client.force_login(senior_leader)
    page = client.get(reverse("interventions:penalty_threshold", args=[school.urn])).content.decode()

    assert "1 pupil at or over the threshold" in page
    assert "(any mix of G, N, O, U) within a rolling <strong>10 school weeks</strong>" in page
    assert "<strong>Mon 15 Sep 2025 to Tue 25 Nov 2025</strong>" in page
    assert f'">{pupil.surname}, {pupil.forename}</a>' in page
    assert '<td class="text-end fw-semibold">12</td>' in page
    assert f"Being considered, {AS_OF.day} Nov 2025" in page
    assert "<td>–</td>" in page  # not placed on a ladder: no stage to show

    response = client.get(reverse("interventions:penalty_threshold", args=[school.urn]) + "?format=csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [
        [
            "School URN",
            "UPN",
            "Pupil",
            "Class",
            "Stage",
            "Unauthorised sessions",
            "Penalty notice recorded",
            "Recorded on",
            "From",
            "To",
        ],
        [
            school.urn,
            pupil.upn,
            pupil.full_name,
            pupil.registration_group.name,
            "",
            "12",
            "Being considered",
            AS_OF.isoformat(),
            "2025-09-15",
            "2025-11-25",
        ],
    ]
    # Who read the list of children, and who took it away as a file, are kept.
    assert list(AuditEvent.objects.filter(user=senior_leader).order_by("pk").values_list("verb", "what")) == [
        ("view", "penalty notice threshold list 2025-09-15 to 2025-11-25 (1 rows)"),
        ("export", "penalty notice threshold 2025-09-15 to 2025-11-25 as CSV (1 rows)"),
    ]


@contextmanager
def rolled_back() -> Iterator[None]:
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


FIRST = date(2025, 8, 18)  # well before the window's start
SPAN = (AS_OF - FIRST).days + 1
PENALTY_HEAVY = ["O", "N", "G", "U", "/", "\\", "I", "L", "#"]

pupil_plans = st.tuples(
    st.integers(0, SPAN - 1),  # start_on, as days after FIRST
    st.one_of(st.none(), st.integers(-20, 40)),  # leaving day, as days after AS_OF, if they leave
    st.dictionaries(
        keys=st.tuples(st.integers(0, SPAN - 1), st.sampled_from([0, 1])),
        values=st.sampled_from(PENALTY_HEAVY),
        max_size=80,
    ),
)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=st.lists(pupil_plans, min_size=1, max_size=4))
def test_the_list_agrees_with_the_per_pupil_rule(school, plans):
    """One grouped query for the school counts as `statistics.unauthorised_in_school_weeks` does for each pupil."""
    calendar = school_calendar(school)
    with rolled_back():
        expected = {}
        rows = []
        for i, (start_offset, leaving, marks) in enumerate(plans):
            start_on = FIRST + timedelta(days=start_offset)
            leaving_on = None if leaving is None else max(start_on, AS_OF + timedelta(days=leaving))
            pupil = PupilFactory(
                school=school, surname=f"P{i}", start_on=start_on, leaving_on=leaving_on, date_of_birth=SEVEN
            )
            facts = [MarkFact(FIRST + timedelta(days=d), s, code) for (d, s), code in marks.items()]
            rows += [
                AttendanceMark(pupil=pupil, date=f.date, session=f.session, code=f.code, changed_at=timezone.now())
                for f in facts
            ]
            count = unauthorised_in_school_weeks(  # to the last register closed, as the night counts
                facts, calendar=calendar, as_of=AS_OF - timedelta(days=1), on_roll_from=start_on, on_roll_to=leaving_on
            )
            on_roll_today = start_on <= AS_OF and (leaving_on is None or leaving_on >= AS_OF)
            if on_roll_today and count >= 10:
                expected[pupil.surname] = count
        AttendanceMark.objects.bulk_create(rows)

        assert listed(school) == expected


def test_each_pupil_on_the_list_shows_their_stage_on_the_ladder(school):
    """What support has been tried is the first question before a penalty notice: the stage answers it."""
    from interventions import nightly, services
    from interventions.models import Placement
    from tests.interventions.conftest import SIMPLE_LADDER

    services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
    pupil = PupilFactory(school=school, surname="Ten", date_of_birth=SEVEN)
    away(pupil, list(school_calendar(school).school_days(date(2025, 11, 3), AS_OF))[:6])
    nightly.nightly_run(school=school, as_of=AS_OF)
    (row,) = penalty_list(school).rows

    assert row.stage == Placement.objects.get(pupil=pupil).stage
