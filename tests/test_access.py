"""Every URL, as every role, with our records and another school's: who may see and do what.

The expected policy is written out below, URL by URL. A new URL fails
`test_every_school_url_has_a_policy` until someone decides who may use it.
Allowed means the page works (2xx, 3xx, or 422 for an empty form); refused is
always a 404, so nobody learns that a record exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from interventions import nightly, services
from interventions.models import ActionLog, Proposal, Referral, Task
from letters.models import Letter, LetterTemplate
from letters.services import letter_queue, letters_print
from pupils.models import ImportBatch, RegistrationGroup, StaffMembership
from pupils.uploads import upload_start
from tests.factories import ContactFactory, MembershipFactory, PupilFactory, RegistrationGroupFactory, UserFactory
from tests.interventions.conftest import SIMPLE_LADDER, fill_register

pytestmark = pytest.mark.django_db

L, T, S, D, O, A = "lead", "teacher", "slt", "dsl", "office", "la"  # noqa: E741
EVERYONE = {L, T, S, D, O, A}
LEADERS = {L, S, D}
DASHBOARD = {L, S, D, A}
REGISTERS = {L, O}
FIRST_DAY = {L, O, S, D}  # who is absent with no reason: the DSL and senior leaders see it, the office records it
LETTER_PRINTING = {L, O}
LETTER_QUEUEING = {L, S, D, O}
LADDER_EDITING = {L, S}

#: URL name -> (roles allowed, what the URL's id names, whether a class teacher is limited to their class).
POLICY: dict[str, tuple[set[str], str | None, bool]] = {
    "school_home": (EVERYONE, None, False),
    "pupils:audit": ({L, D}, None, False),
    "pupils:office": (REGISTERS, None, False),
    "pupils:upload": (REGISTERS, "upload", False),
    "pupils:import": (REGISTERS, "import", False),
    "pupils:register": (REGISTERS, None, False),
    "pupils:register_mark": (REGISTERS, "mark", False),
    "pupils:first_day": (FIRST_DAY, None, False),
    "pupils:first_day_reason": (REGISTERS, "pupil", False),
    "pupils:first_day_waiting": (FIRST_DAY, None, False),
    "pupils:blank_csv": (REGISTERS, None, False),
    "pupils:staff": ({L, S}, None, False),
    "pupils:staff_remove": ({L, S}, "membership", False),
    "pupils:staff_password": ({L, S}, "membership", False),
    "interventions:dashboard": (DASHBOARD, None, False),
    "interventions:classes": (DASHBOARD | {T}, None, False),
    "interventions:pupil": (EVERYONE, "pupil", True),
    "interventions:action_create": (EVERYONE - {A}, "pupil", True),
    "interventions:quick_log": (EVERYONE - {A}, "pupil", True),
    # Anyone who logs actions may ask; only the person who logged it is then allowed (422 for the rest).
    "interventions:action_undo": (EVERYONE - {A}, "action", False),
    # The entry is the lead's: the lead and those who manage stages may correct it; a teacher or the office not.
    "interventions:action_correct": (LEADERS, "action", False),
    "interventions:pupil_move": (LEADERS, "pupil", False),
    "interventions:pupil_flags": (LEADERS | {O}, "pupil", False),
    "interventions:referral_create": (LEADERS, "pupil", False),
    "interventions:nights": (DASHBOARD, None, False),
    "interventions:night_run": (LADDER_EDITING, None, False),
    "interventions:tasks": (EVERYONE - {A}, None, False),
    # The task is the attendance lead's: only leaders may close it (a teacher closes their own role's).
    "interventions:task_done": (LEADERS, "task", False),
    "interventions:task_reopen": (LEADERS, "task", False),
    "interventions:proposal_decide": (LEADERS, "proposal", False),
    "interventions:escalations": (DASHBOARD, None, False),
    "interventions:referrals": (DASHBOARD, None, False),
    "interventions:referral_update": (LEADERS, "referral", False),
    "interventions:absence_groups": (DASHBOARD, None, False),
    "interventions:penalty_threshold": (DASHBOARD, None, False),
    "interventions:ladder": (DASHBOARD, None, False),
    "interventions:ladder_format": (DASHBOARD, None, False),
    "interventions:ladder_detail": (DASHBOARD, "ladder", False),
    "interventions:ladder_copy": (LADDER_EDITING, "ladder", False),
    "interventions:ladder_edit": (LADDER_EDITING, "ladder", False),
    "interventions:ladder_simulate": (DASHBOARD, "ladder", False),
    "interventions:ladder_activate": (LADDER_EDITING, "ladder", False),
    "interventions:ladder_export": (DASHBOARD, "ladder", False),
    "letters:queue": (LETTER_PRINTING, None, False),
    "letters:print": (LETTER_PRINTING, None, False),
    "letters:post": (LETTER_PRINTING, None, False),
    "letters:batch": (LETTER_PRINTING, "batch", False),
    "letters:batch_pdf": (LETTER_PRINTING, "batch", False),
    "letters:batch_post": (LETTER_PRINTING, "batch", False),
    "letters:batch_unpost": (LETTER_PRINTING, "batch", False),
    "letters:letter": (LETTER_QUEUEING, "letter", False),
    "letters:letter_pdf": (LETTER_QUEUEING, "letter", False),
    "letters:letter_details": (LETTER_QUEUEING, "letter", False),
    "letters:letter_cancel": (LETTER_QUEUEING, "letter", False),
    "letters:compose": (LETTER_QUEUEING, "pupil", False),
    "letters:bulk": (LETTER_QUEUEING, None, False),
    "letters:templates": (LADDER_EDITING, None, False),
    "letters:template_new": (LADDER_EDITING, None, False),
    "letters:template_edit": (LADDER_EDITING, "template", False),
    "letters:template_pdf": (LADDER_EDITING, "template", False),
    "letters:settings": (LADDER_EDITING, None, False),
}


def school_urls() -> dict[str, URLPattern]:
    """Every named URL below school/<urn>/, by its full name."""
    found: dict[str, URLPattern] = {}

    def walk(patterns, prefix, namespace):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern), p.namespace or namespace)
            elif p.name and (prefix + str(p.pattern)).startswith("school/<str:urn>/"):
                found[f"{namespace}:{p.name}" if namespace else p.name] = p

    walk(get_resolver().url_patterns, "", None)
    return found


def test_every_school_url_has_a_policy():
    assert sorted(set(school_urls()) - set(POLICY)) == []
    assert sorted(set(POLICY) - set(school_urls())) == []


@dataclass
class World:
    """One school's records: a pupil in 4B (the class teacher's), one in 5C, and one of everything."""

    school: object
    pupil: object
    other_class_pupil: object
    ids: dict[str, object]


def build_world(school, lead) -> World:
    today = timezone.localdate()
    services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
    mine = PupilFactory(school=school, registration_group=RegistrationGroupFactory(school=school, name="4B"))
    theirs = PupilFactory(school=school, registration_group=RegistrationGroupFactory(school=school, name="5C"))
    for pupil in (mine, theirs):
        ContactFactory(pupil=pupil)
        # Half the sessions missed: a proposal for the panel, tasks, a queued letter.
        fill_register(pupil, today - timedelta(days=50), today - timedelta(days=1), lambda d, s: "N" if s else "/")
    nightly.nightly_run(school=school, as_of=today - timedelta(days=1))
    letter = letter_queue(school=school, pupil=mine, key="first_reminder", on=today, user=lead).letters[0]
    printed = letter_queue(school=school, pupil=mine, key="second_warning", on=today, user=lead).letters[0]
    batch = letters_print(school=school, letter_ids=[printed.pk], user=lead)
    referral = services.referral_record(pupil=mine, user=lead, to=Referral.To.SCHOOL_NURSE, made_on=today)
    mark = mine.marks.order_by("-date").first()
    call = services.action_log(pupil=mine, user=lead, kind=ActionLog.Kind.PHONE_CALL, occurred_on=today)
    csv = SimpleUploadedFile("marks.csv", f"upn,date,session,code\n{mine.upn},{mark.date},AM,/\n".encode())
    upload = upload_start(school=school, user=lead, kind="marks", upload=csv)
    ids = {
        "pupil": {"pk": mine.pk},
        "task": {"pk": Task.objects.get(pupil=mine, role=StaffMembership.Role.ATTENDANCE_LEAD).pk},
        "proposal": {"pk": Proposal.objects.filter(pupil=mine).first().pk},
        "referral": {"pk": referral.pk},
        "ladder": {"key": "simple"},
        "letter": {"pk": letter.pk},
        "batch": {"pk": batch.pk},
        "template": {"key": LetterTemplate.objects.filter(school=school).first().key},
        "import": {"pk": ImportBatch.objects.create(school=school, kind="marks", filename="x.csv").pk},
        "upload": {"token": upload.token},
        "mark": {"pk": mine.pk, "day": mark.date.isoformat(), "session": "pm" if mark.session else "am"},
        "action": {"pk": mine.pk, "action_pk": call.pk},
        "membership": {
            "pk": MembershipFactory(
                user=UserFactory(username=f"spare-{school.urn}"), school=school, role=StaffMembership.Role.CLASS_TEACHER
            ).pk
        },
    }
    assert Letter.objects.filter(pupil=mine).exists()
    return World(school=school, pupil=mine, other_class_pupil=theirs, ids=ids)


@pytest.fixture
def people(school, other_school):
    users = {}
    for role, key in [
        (StaffMembership.Role.ATTENDANCE_LEAD, L),
        (StaffMembership.Role.CLASS_TEACHER, T),
        (StaffMembership.Role.SENIOR_LEADER, S),
        (StaffMembership.Role.DSL, D),
        (StaffMembership.Role.OFFICE, O),
        (StaffMembership.Role.LA_OFFICER, A),
    ]:
        users[key] = MembershipFactory(user=UserFactory(username=f"access-{key}"), school=school, role=role).user
    teaching = StaffMembership.objects.get(user=users[T])
    users["outsider"] = MembershipFactory(
        user=UserFactory(username="access-outsider"), school=other_school, role=StaffMembership.Role.ATTENDANCE_LEAD
    ).user
    ours = build_world(school, users[L])
    teaching.classes.add(RegistrationGroup.objects.get(school=school, name="4B"))
    theirs = build_world(other_school, users["outsider"])
    return users, ours, theirs


def kwargs_for(name: str, world: World, *, pupil=None) -> dict:
    _, kind, _ = POLICY[name]
    kwargs = {"urn": world.school.urn}
    if name == "pupils:blank_csv":
        kwargs["kind"] = "marks"
    if kind is not None:
        ids = dict(world.ids[kind])
        if pupil is not None and kind == "pupil":
            ids = {"pk": pupil.pk}
        if name == "letters:compose":
            ids = {"pupil_pk": ids.pop("pk")}
        kwargs.update(ids)
    return kwargs


def hit(client, path: str):
    """GET, or for a POST-only URL an empty POST (just the day, which the office forms need)."""
    response = client.get(path)
    if response.status_code == 405:
        response = client.post(path, {"on": timezone.localdate().isoformat()})
    return response


def works(response) -> bool:
    return response.status_code < 400 or response.status_code == 422


@pytest.mark.parametrize("name", sorted(POLICY))
def test_each_role_gets_exactly_what_the_policy_allows(client, people, name):
    users, ours, _ = people
    allowed, _, _ = POLICY[name]
    path = reverse(name, kwargs=kwargs_for(name, ours))
    for role in sorted(EVERYONE):
        client.force_login(users[role])
        if name == "pupils:staff_remove":  # the role one allowed person took away is given back for the next
            spare = ours.ids["membership"]["pk"]
            StaffMembership.objects.get_or_create(
                pk=spare,
                defaults={"school": ours.school, "user": UserFactory(), "role": StaffMembership.Role.CLASS_TEACHER},
            )
        response = hit(client, path)
        if role in allowed:
            assert works(response), f"{role} should be able to use {name}: got {response.status_code}"
        else:
            assert response.status_code == 404, f"{role} must not use {name}: got {response.status_code}"


@pytest.mark.parametrize("name", sorted(POLICY))
def test_another_school_sees_nothing_of_ours(client, people, name):
    users, ours, _ = people
    client.force_login(users["outsider"])
    assert hit(client, reverse(name, kwargs=kwargs_for(name, ours))).status_code == 404


# Ladder and letter-template keys are names each school has its own of ("first_reminder"), not ids.
@pytest.mark.parametrize(
    "name", sorted(n for n, (_, kind, _) in POLICY.items() if kind not in (None, "ladder", "template"))
)
def test_another_schools_ids_under_our_urn_are_404_even_for_our_lead(client, people, name):
    users, ours, theirs = people
    foreign = kwargs_for(name, theirs)
    foreign["urn"] = ours.school.urn
    client.force_login(users[L])
    assert hit(client, reverse(name, kwargs=foreign)).status_code == 404


@pytest.mark.parametrize("name", sorted(n for n, (_, kind, limited) in POLICY.items() if limited and kind == "pupil"))
def test_a_class_teacher_sees_only_their_own_class(client, people, name):
    users, ours, _ = people
    client.force_login(users[T])
    assert works(hit(client, reverse(name, kwargs=kwargs_for(name, ours))))
    other = reverse(name, kwargs=kwargs_for(name, ours, pupil=ours.other_class_pupil))
    assert hit(client, other).status_code == 404


@pytest.mark.parametrize("name", sorted(POLICY))
def test_signed_out_visitors_are_sent_to_sign_in(client, people, name):
    _, ours, _ = people
    response = hit(client, reverse(name, kwargs=kwargs_for(name, ours)))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
