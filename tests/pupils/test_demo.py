"""load_demo: a realistic demo school and one login per role, into an empty database only."""

from __future__ import annotations

import hashlib
import random
import re
import statistics
from datetime import date, timedelta
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, Max, Min
from django.utils import timezone

from pupils import calendar as cal
from pupils import demo, selectors
from pupils.codes import code_table
from pupils.models import (
    AttendanceMark,
    Contact,
    MarkChange,
    Pupil,
    RegistrationGroup,
    School,
    StaffMembership,
)
from pupils.people import new_password
from pupils.services import school_calendar
from pupils.signals import demo_loaded
from pupils.upn import upn_problem

#: A Wednesday in the spring term: about 100 school days of register behind it.
DEMO_TODAY = date(2027, 2, 10)
SMALL = "42"  # three pupils a class: quick, and still every pattern
OAKFIELD = "100000"
CLASSES = {f"{year}{letter}" for year in ("R", "1", "2", "3", "4", "5", "6") for letter in "AB"}
LOGIN_LINE = re.compile(r"^  (\w+)\s+([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})\s+(.+)$", re.MULTILINE)


@pytest.fixture(autouse=True)
def no_receivers(monkeypatch):
    """Other apps' demo_loaded receivers (ladders, a first night) are their tests' business, and slow."""
    monkeypatch.setattr(demo_loaded, "receivers", [])
    monkeypatch.setattr(demo_loaded, "sender_receivers_cache", {})


def load(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("load_demo", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def load_small(*args: str) -> str:
    return load("--pupils", SMALL, "--today", DEMO_TODAY.isoformat(), *args)[0]


def counts() -> tuple[int, ...]:
    user_model = get_user_model()
    return tuple(
        m.objects.count() for m in (School, Pupil, Contact, AttendanceMark, MarkChange, StaffMembership, user_model)
    )


# --- the school and its people -----------------------------------------------


def test_loads_oakfield_with_fourteen_classes_and_its_pupils(db):
    load_small()

    school = School.objects.get(urn=OAKFIELD)
    assert (school.urn, school.name) == ("100000", "Oakfield Primary School")
    assert school.address and school.signatory_name
    assert set(RegistrationGroup.objects.filter(school=school).values_list("name", flat=True)) == CLASSES
    assert Pupil.objects.filter(school=school).count() == 42
    assert all(
        g.pupils.count() == 3 and g.year_group.code == g.name[0]
        for g in RegistrationGroup.objects.select_related("year_group")
    )


def test_the_summary_says_how_many_have_left_so_the_dashboards_count_adds_up(db):
    out = load_small()

    left = Pupil.objects.filter(leaving_on__lt=DEMO_TODAY).count()
    assert left >= 1  # the demo always has a leaver or two
    # Both schools' (the neighbour's as small as Oakfield here).
    assert f"84 pupils in 28 classes ({left} of them have left, so {84 - left} are on roll today)," in out
    assert Contact.objects.exclude(salutation="").exists()  # most parents are greeted as the MIS would


def test_every_pupil_has_a_valid_upn_and_an_age_that_fits_their_year_group(db):
    load_small()

    start_year = cal.academic_year_start(DEMO_TODAY)
    for pupil in Pupil.objects.select_related("year_group"):
        assert upn_problem(pupil.upn) is None
        # Age on 31 August before the year: 4 in Reception, 5 in Year 1 ... 10 in Year 6.
        age_at_start = start_year - pupil.date_of_birth.year - (1 if pupil.date_of_birth.month >= 9 else 0)
        expected = 4 if pupil.year_group.code == "R" else 4 + int(pupil.year_group.code)
        assert age_at_start == expected, pupil
    assert Pupil.objects.values("upn").distinct().count() == Pupil.objects.count() == 84  # and the neighbour's


def test_every_pupil_has_one_or_two_contacts_and_someone_receives_letters(db):
    load_small()

    for pupil in Pupil.objects.prefetch_related("contacts"):
        contacts = list(pupil.contacts.all())
        assert 1 <= len(contacts) <= 2
        assert any(c.receives_letters and c.address_lines for c in contacts)


def test_creates_one_login_per_role_and_prints_passwords_that_work(db):
    out = load_small("--url", "http://127.0.0.1:8123/")

    printed = {username: (password, role) for username, password, role in LOGIN_LINE.findall(out)}
    assert set(printed) == {"lead", "teacher", "slt", "dsl", "office", "la", "admin"}
    assert "Open http://127.0.0.1:8123/" in out
    assert "manage.py changepassword" in out
    for username, (password, _role) in printed.items():
        assert authenticate(username=username, password=password) is not None, username
    school = School.objects.get(urn=OAKFIELD)
    roles = dict(StaffMembership.objects.filter(school=school).values_list("user__username", "role"))
    assert roles == {
        "lead": "attendance_lead",
        "teacher": "class_teacher",
        "slt": "senior_leader",
        "dsl": "dsl",
        "office": "office",
        "la": "la_officer",
    }
    teacher = StaffMembership.objects.get(user__username="teacher")
    assert [g.name for g in teacher.classes.all()] == ["4A"]
    assert get_user_model().objects.get(username="admin").is_superuser
    assert not get_user_model().objects.get(username="lead").is_superuser


def test_a_small_neighbouring_school_comes_with_it_for_the_la_officer_alone(db):
    """So the LA officer's first page compares two schools, as an officer's does."""
    out = load("--today", DEMO_TODAY.isoformat(), "--pupils", "168")[0]

    oakfield, neighbour = School.objects.order_by("urn")
    assert (neighbour.urn, neighbour.name) == ("100001", "Ashdown Primary School")
    assert Pupil.objects.filter(school=oakfield).count() == 168
    assert Pupil.objects.filter(school=neighbour).count() == demo.NEIGHBOUR_PUPILS == 140
    assert set(RegistrationGroup.objects.filter(school=neighbour).values_list("name", flat=True)) == CLASSES
    assert AttendanceMark.objects.filter(pupil__school=neighbour).exists()
    members = StaffMembership.objects.filter(school=neighbour).values_list("user__username", "role")
    assert list(members) == [("la", "la_officer")]
    assert (
        "Loaded Oakfield Primary School (URN 100000) and its neighbour Ashdown Primary School (URN 100001), "
        "which only the LA officer sees: 308 pupils in 28 classes" in out
    )
    printed = {username: role for username, _, role in LOGIN_LINE.findall(out)}
    assert printed["la"] == "Trust / LA officer (read only), sees both schools"


def test_every_login_gets_its_own_random_password(db):
    passwords = [p for _, p, _ in LOGIN_LINE.findall(load_small())]
    assert len(set(passwords)) == len(passwords) == 7
    assert new_password() != new_password()


# --- the register ---------------------------------------------------------------


def test_marks_fall_only_on_school_days_up_to_yesterday_while_each_pupil_is_on_roll(db):
    load_small()

    school = School.objects.get(urn=OAKFIELD)
    calendar = school_calendar(school)
    year_start, _ = calendar.academic_year_window(DEMO_TODAY)
    dates = set(AttendanceMark.objects.values_list("date", flat=True).distinct())
    assert dates == set(calendar.school_days(year_start, DEMO_TODAY - timedelta(days=1)))
    for pupil in Pupil.objects.annotate(first=Min("marks__date"), last=Max("marks__date"), n=Count("marks")):
        assert pupil.first >= pupil.start_on
        assert pupil.leaving_on is None or pupil.last <= pupil.leaving_on
        # Both sessions of every school day the pupil was on roll.
        on_roll = [d for d in dates if pupil.start_on <= d and (pupil.leaving_on is None or d <= pupil.leaving_on)]
        assert pupil.n == 2 * len(on_roll)
    assert AttendanceMark.objects.exclude(changed_at=None).count() == AttendanceMark.objects.count()


def test_some_pupils_joined_during_the_year_and_some_left(db):
    load_small()

    year_start = school_calendar(School.objects.get(urn=OAKFIELD)).academic_year_window(DEMO_TODAY)[0]
    assert Pupil.objects.filter(start_on__gt=year_start).exists()
    assert Pupil.objects.filter(leaving_on__lt=DEMO_TODAY).exists()


@pytest.mark.parametrize("today", [DEMO_TODAY, date(2024, 7, 10)], ids=["2024 codes", "before the 2024 codes"])
def test_every_code_is_one_in_force_on_its_date(db, today):
    load("--pupils", SMALL, "--today", today.isoformat())

    table = code_table()
    used = AttendanceMark.objects.values_list("code", "date").distinct()
    for code, day in used:
        assert code in table and table[code].is_valid_on(day), (code, day)
    codes = {code for code, _ in used}
    assert "\\" in codes  # the afternoon "present" mark, a single backslash however it was loaded
    assert "H" not in codes
    # A part-time timetable is C2 from 19 August 2024, C before it.
    assert ("C2" in codes) == (today >= date(2024, 8, 19))


def test_corrected_unexplained_absences_keep_their_first_code(db):
    load_small()

    changes = MarkChange.objects.select_related("mark")
    assert changes.exists()
    for change in changes:
        assert change.old_code == "N"
        assert change.new_code == change.mark.code
        assert change.new_code in {"I", "O"}
        assert change.changed_at.date() > change.mark.date


def test_the_default_school_looks_like_a_real_one(db):
    load("--today", DEMO_TODAY.isoformat())

    school = School.objects.get(urn=OAKFIELD)
    assert Pupil.objects.filter(school=school).count() == demo.DEFAULT_PUPILS
    start, _ = school_calendar(school).academic_year_window(DEMO_TODAY)
    summaries = [
        s
        for s in selectors.school_summaries(school=school, start=start, end=DEMO_TODAY - timedelta(days=1)).values()
        if s.possible
    ]
    median = statistics.median(s.attendance_pct for s in summaries)
    persistent = sum(s.persistent for s in summaries) / len(summaries)
    assert median > 95
    assert 0.10 <= persistent <= 0.25
    assert any(s.severe for s in summaries)
    assert sum(s.late_before_close for s in summaries) > 0 and sum(s.late_after_close for s in summaries) > 0

    pupils = Pupil.objects.filter(school=school)
    marks = AttendanceMark.objects.filter(pupil__school=school)
    by_code = dict(marks.values_list("code").annotate(n=Count("id")))
    for code in ("D", "C2", "G", "M", "E", "N", "I", "O", "#", "V"):
        assert by_code.get(code), code
    # An INSET day closes the school for everyone.
    inset = marks.filter(code="#").values("date").annotate(n=Count("id"))
    assert any(row["n"] == 2 * pupils.filter(start_on__lte=row["date"]).count() for row in inset)
    # Needs at realistic rates: SEN support ~13%, EHCP ~2.5%, free school meals ~24%.
    sen = dict(pupils.values_list("sen").annotate(n=Count("id")))
    assert 0.08 <= sen.get("K", 0) / demo.DEFAULT_PUPILS <= 0.2
    assert 0.01 <= sen.get("E", 0) / demo.DEFAULT_PUPILS <= 0.05
    fsm = pupils.filter(flags__key="fsm").count() / demo.DEFAULT_PUPILS
    assert 0.15 <= fsm <= 0.33
    for key in ("social_worker", "young_carer", "mental_health", "part_time_timetable", "dual_registered"):
        assert pupils.filter(flags__key=key).exists(), key


def test_today_defaults_to_the_real_date(db):
    load("--pupils", SMALL)

    last = AttendanceMark.objects.aggregate(last=Max("date"))["last"]
    assert last is None or last < timezone.localdate()


# --- the same seed, the same data -------------------------------------------------


def register_digest(seed: int, today: date) -> str:
    """A hash of every pupil and every mark the generator plans for school 0, with no database."""
    year = cal.academic_year_start(today)
    calendar = cal.calendar_from(h for y in (year - 1, year, year + 1) for h in cal.england_default_half_terms(y))
    identity = demo.school_identity(0)
    register = demo.register_for(calendar, today=today, rng=random.Random(f"{seed}/register/{identity.urn}"))
    plans = demo.plan_pupils(identity=identity, pupils=70, calendar=calendar, register=register, today=today, seed=seed)
    digest = hashlib.sha256()
    for plan in plans:
        digest.update(repr((plan.upn, plan.forename, plan.surname, plan.date_of_birth, plan.flags)).encode())
        for row in demo.pupil_register(plan, register):
            digest.update(repr(row).encode())
    return digest.hexdigest()


def test_the_same_seed_and_today_give_the_same_register():
    assert register_digest(7, DEMO_TODAY) == register_digest(7, DEMO_TODAY)
    assert register_digest(7, DEMO_TODAY) != register_digest(8, DEMO_TODAY)


# --- refusing, and the hooks -----------------------------------------------------


def test_refuses_a_database_that_already_has_a_school_and_changes_nothing(school):
    before = counts()

    with pytest.raises(CommandError, match="already has 1 school") as error:
        load_small()

    assert "nothing was changed" in str(error.value)
    assert counts() == before


def test_refuses_when_the_demo_usernames_are_taken(db):
    get_user_model().objects.create_user(username="lead", password="x")
    before = counts()

    with pytest.raises(CommandError, match="usernames lead are taken"):
        load_small()

    assert counts() == before


def test_if_empty_lists_the_existing_logins_instead_of_loading_again(db):
    load_small()
    before = counts()

    out, _ = load("--if-empty", "--pupils", SMALL)

    assert counts() == before
    assert "already has Oakfield Primary School (100000) and 1 other, so no demo data was loaded" in out
    assert "admin, dsl, la, lead, office, slt, teacher" in out
    assert "changepassword lead" in out


def test_too_few_pupils_for_fourteen_classes_is_refused(db):
    with pytest.raises(CommandError, match="at least 14"):
        load("--pupils", "13")
    assert not School.objects.exists()


def test_several_schools_get_only_an_admin_login(db):
    out, _ = load("--schools", "2", "--pupils", "14", "--today", DEMO_TODAY.isoformat())

    assert list(School.objects.order_by("urn").values_list("urn", flat=True)) == ["100000", "100001"]
    assert [u for u, _, _ in LOGIN_LINE.findall(out)] == ["admin"]
    assert not StaffMembership.objects.exists()
    assert Pupil.objects.count() == 28


def test_sends_demo_loaded_with_the_schools_once_loaded(db):
    heard = []

    def receiver(sender, *, schools, today, **kwargs):
        heard.append(([s.urn for s in schools], today, AttendanceMark.objects.exists()))

    demo_loaded.connect(receiver)
    load_small()

    assert heard == [(["100000", "100001"], DEMO_TODAY, True)]  # with the neighbour


def test_a_failing_receiver_is_reported_and_the_data_stays(db):
    def receiver(sender, **kwargs):
        raise RuntimeError("no ladder today")

    demo_loaded.connect(receiver)
    out, err = load("--pupils", SMALL, "--today", DEMO_TODAY.isoformat())

    assert "no ladder today" in err
    assert School.objects.exists()
    assert LOGIN_LINE.search(out)


# --- benchmark scale --------------------------------------------------------------


# Serialized: a transactional test that is not would, on flushing, create the content types afresh under
# new ids, and every later serialized test would then fail to restore them.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_several_schools_built_at_once_on_postgresql_hold_exactly_the_planned_register():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL (CI always does)")

    result = demo.generate(schools=3, pupils_per_school=14, today=DEMO_TODAY, workers=2)

    assert [s.urn for s in result.schools] == ["100000", "100001", "100002"]
    for school in result.schools:
        calendar = school_calendar(school)
        identity = demo.school_identity(int(school.urn) - demo.FIRST_URN)
        register = demo.register_for(
            calendar, today=DEMO_TODAY, rng=random.Random(f"{demo.DEFAULT_SEED}/register/{school.urn}")
        )
        plans = demo.plan_pupils(
            identity=identity, pupils=14, calendar=calendar, register=register, today=DEMO_TODAY, seed=demo.DEFAULT_SEED
        )
        planned = {
            (plan.upn, day, session, code, minutes or None)
            for plan in plans
            for day, session, code, minutes, _comment, _first in demo.pupil_register(plan, register)
        }
        stored = set(
            AttendanceMark.objects.filter(pupil__school=school).values_list(
                "pupil__upn", "date", "session", "code", "minutes_late"
            )
        )
        assert stored == planned
    assert result.marks == AttendanceMark.objects.count()
