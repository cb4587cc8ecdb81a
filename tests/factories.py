"""One factory per model, with the smallest valid defaults."""

from __future__ import annotations

from datetime import date

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from pupils import services as pupil_services
from pupils.models import (
    AttendanceMark,
    Contact,
    Pupil,
    RegistrationGroup,
    School,
    StaffMembership,
    YearGroup,
)
from pupils.upn import upn_check_letter

#: The date most tests treat as "today": a Wednesday in the second autumn half-term.
TODAY = date(2025, 11, 26)


def make_upn(n: int) -> str:
    body = f"80120{n:07d}"[:12]
    return upn_check_letter(body) + body


class SchoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = School

    urn = factory.Sequence(lambda n: str(100000 + n))
    name = factory.Sequence(lambda n: f"School {n} Primary")
    address = "1 School Lane\nTownsville\nTS1 1AA"
    signatory_name = "A. Head"

    @classmethod
    def _create(cls, model_class: type[School], *args: object, **kwargs: object) -> School:
        # Through the service, so every school has its flags, year groups and calendar.
        return pupil_services.school_create(today=TODAY, **kwargs)


class RegistrationGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegistrationGroup
        django_get_or_create = ("school", "name")

    school = factory.SubFactory(SchoolFactory)
    name = "4B"
    year_group = factory.LazyAttribute(lambda o: YearGroup.objects.get(school=o.school, code="4"))


def born_in_year(year: int, *, today: date | None = None) -> date:
    """A 1 October birthday that puts a child in Year `year` (0 for Reception) in the school year of `today`.

    Worked by hand rather than with `pupils.codes`: in Year Y a child is Y + 4 on the 31 August
    before the year, so was born in the October Y + 5 years before that August.
    """
    today = today or timezone.localdate()
    august = today.year if today.month >= 9 else today.year - 1
    return date(august - year - 5, 10, 1)


class PupilFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pupil

    school = factory.SubFactory(SchoolFactory)
    upn = factory.Sequence(make_upn)
    surname = factory.Faker("last_name", locale="en_GB")
    forename = factory.Faker("first_name", locale="en_GB")
    date_of_birth = date(2016, 10, 1)
    year_group = factory.LazyAttribute(lambda o: YearGroup.objects.get(school=o.school, code="4"))
    registration_group = factory.LazyAttribute(lambda o: RegistrationGroupFactory(school=o.school))
    start_on = date(2021, 9, 1)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    pupil = factory.SubFactory(PupilFactory)
    name = factory.Faker("name", locale="en_GB")
    address = "2 Home Road\nTownsville\nTS1 2BB"
    email = factory.Faker("email")
    phone = "01234 567890"


class MarkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AttendanceMark

    pupil = factory.SubFactory(PupilFactory)
    date = TODAY
    session = AttendanceMark.Session.AM
    code = "/"
    changed_at = factory.LazyFunction(timezone.now)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = factory.django.Password("correct horse battery staple")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffMembership

    user = factory.SubFactory(UserFactory)
    school = factory.SubFactory(SchoolFactory)
    role = StaffMembership.Role.ATTENDANCE_LEAD
