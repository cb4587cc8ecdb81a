"""Named schools and people, so tests read like stories.

Oakfield is "our" school; Birchwood is another school whose records nobody at
Oakfield may see.
"""

from __future__ import annotations

import pytest
from django.db import connection

from pupils import services as pupil_services
from pupils.calendar import england_default_half_terms
from pupils.models import StaffMembership
from tests.factories import (
    TODAY,
    MembershipFactory,
    PupilFactory,
    RegistrationGroupFactory,
    SchoolFactory,
    UserFactory,
)


def pytest_collection_modifyitems(items):
    """Every transactional test must be serialized too, or the suite fails depending on the order it runs in.

    A transactional test flushes the database when it ends. Without
    serialized_rollback the flush creates the content types afresh, under new
    ids, and every serialized test that runs after it on the same process then
    fails to put the originals back (duplicate key).
    """
    if unserialized := unserialized_transactional(items):
        raise pytest.UsageError(
            "Mark these django_db(transaction=True, serialized_rollback=True): " + ", ".join(unserialized)
        )


def unserialized_transactional(items) -> list[str]:
    """The node ids of the transactional tests among `items` that are not serialized, read as pytest-django reads them."""
    from django.test import TestCase, TransactionTestCase
    from pytest_django.fixtures import validate_django_db

    unserialized = []
    for item in items:
        cls = getattr(item, "cls", None)
        if cls is not None and issubclass(cls, TransactionTestCase):
            transactional, serialized = not issubclass(cls, TestCase), cls.serialized_rollback
        else:
            fixtures = set(getattr(item, "fixturenames", ()))
            marker = item.get_closest_marker("django_db")
            transaction, reset_sequences, _, serialized, _ = validate_django_db(marker) if marker else (False,) * 5
            transactional = transaction or reset_sequences or bool({"transactional_db", "live_server"} & fixtures)
            serialized = serialized or "django_db_serialized_rollback" in fixtures
        if transactional and not serialized:
            unserialized.append(item.nodeid)
    return unserialized


@pytest.fixture
def today():
    return TODAY


@pytest.fixture
def school(db):
    return SchoolFactory(urn="100001", name="Oakfield Primary")


@pytest.fixture
def terms_2023(school):
    """Oakfield's term dates for 2023/24 too, for marks from before the 2024 codes."""
    pupil_services.calendar_replace(school=school, half_terms=england_default_half_terms(2023))


@pytest.fixture
def other_school(db):
    return SchoolFactory(urn="200002", name="Birchwood Primary")


@pytest.fixture
def pupil(school):
    return PupilFactory(school=school, forename="Alex", surname="Smith")


@pytest.fixture
def attendance_lead(school):
    return MembershipFactory(
        user=UserFactory(username="alice"),
        school=school,
        role=StaffMembership.Role.ATTENDANCE_LEAD,
    ).user


@pytest.fixture
def class_teacher(school):
    membership = MembershipFactory(
        user=UserFactory(username="bob"),
        school=school,
        role=StaffMembership.Role.CLASS_TEACHER,
    )
    membership.classes.add(RegistrationGroupFactory(school=school, name="4B"))
    return membership.user


@pytest.fixture
def outsider(other_school):
    return MembershipFactory(
        user=UserFactory(username="olivia"),
        school=other_school,
        role=StaffMembership.Role.ATTENDANCE_LEAD,
    ).user


@pytest.fixture
def postgres_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL (CI always does)")


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Cached page fragments and upload progress never leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
