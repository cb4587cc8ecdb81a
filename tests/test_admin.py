"""The admin, and the configuration that runs the site in production.

Every admin page opens for a superuser; records the app keeps (marks, history,
letters) cannot be changed or deleted there; one school's classes cannot be
given to another school's pupil. Then: `check --deploy` is clean with
production settings, and docker-compose.yml, the Dockerfile and .env.example
agree with settings.py (Docker cannot run here, so they are read, not run).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from interventions.models import (
    ActionCorrection,
    ActionLog,
    Ladder,
    NightlyRun,
    Placement,
    Proposal,
    PupilWeek,
    Referral,
    SchoolWeek,
    Stage,
    StageChange,
    Task,
)
from letters.models import Letter, LetterSettings, LetterTemplate, LetterTemplateRevision, PrintBatch
from pupils.models import (
    AcademicYear,
    AttendanceCode,
    AttendanceMark,
    AuditEvent,
    HalfTerm,
    ImportBatch,
    MarkChange,
    Pupil,
    School,
)
from tests.factories import (
    TODAY,
    ContactFactory,
    MarkFactory,
    MembershipFactory,
    PupilFactory,
    RegistrationGroupFactory,
)

BASE_DIR = Path(settings.BASE_DIR)
REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)


def admin_url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def one_of_everything(school, pupil, admin_user):
    """One row of every registered model, linked the way the app links them."""
    contact = ContactFactory(pupil=pupil)
    batch = ImportBatch.objects.create(school=school, kind=ImportBatch.Kind.MARKS, filename="marks.csv")
    mark = MarkFactory(pupil=pupil, code="I", batch=batch)
    MarkChange.objects.create(
        mark=mark, old_code="N", new_code="I", reason="Parent rang", changed_by=admin_user, changed_at=timezone.now()
    )
    MembershipFactory(user=admin_user, school=school)
    ladder = Ladder.objects.create(school=school, key="standard", name="Standard ladder", is_active=True)
    watch = Stage.objects.create(ladder=ladder, key="watch", position=1, name="Watch", label="S1")
    concern = Stage.objects.create(ladder=ladder, key="concern", position=2, name="Concern", label="S2")
    Placement.objects.create(pupil=pupil, ladder=ladder, stage=concern, since=TODAY)
    change = StageChange.objects.create(
        pupil=pupil, ladder=ladder, from_stage=watch, to_stage=concern, on=TODAY, kind=StageChange.Kind.AUTOMATIC
    )
    Proposal.objects.create(pupil=pupil, ladder=ladder, from_stage=concern, to_stage=watch, proposed_on=TODAY)
    task = Task.objects.create(
        school=school, pupil=pupil, stage_change=change, template_key="call", title="Call home", due_on=TODAY
    )
    action = ActionLog.objects.create(
        school=school, pupil=pupil, kind=ActionLog.Kind.PHONE_CALL, occurred_on=TODAY, by=admin_user, task=task
    )
    ActionCorrection.objects.create(
        action=action, kind=ActionLog.Kind.MEETING, occurred_on=TODAY, reason="Was a call", by=admin_user
    )
    NightlyRun.objects.create(school=school, run_on=TODAY, started_at=timezone.now(), finished_at=timezone.now())
    SchoolWeek.objects.create(school=school, week_start=date(2025, 11, 24), attendance_pct=Decimal("95.10"), pupils=1)
    AuditEvent.objects.create(school=school, user=admin_user, pupil=pupil, verb=AuditEvent.Verb.VIEW, what="Pupil page")
    template = LetterTemplate.objects.create(school=school, key="first", name="First letter", body="Dear parent")
    LetterTemplateRevision.objects.create(
        template=template, name=template.name, body=template.body, layout=template.layout
    )
    LetterSettings.objects.create(school=school)
    batch_printed = PrintBatch.objects.create(school=school, total=1)
    Letter.objects.create(
        school=school,
        pupil=pupil,
        template=template,
        contact=contact,
        stage_change=change,
        queued_on=TODAY,
        print_batch=batch_printed,
    )
    Referral.objects.create(school=school, pupil=pupil, to=Referral.To.SCHOOL_NURSE, made_on=TODAY, by=admin_user)
    PupilWeek.objects.create(pupil=pupil, week_start=date(2025, 11, 24), present=10)
    Group.objects.create(name="Office")
    every_day = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    CrontabSchedule.objects.create(minute="0", hour="2")
    SolarSchedule.objects.create(event="sunrise", latitude=51.5, longitude=-0.1)
    ClockedSchedule.objects.create(clocked_time=timezone.now())
    PeriodicTask.objects.create(name="nightly", task="interventions.tasks.nightly", interval=every_day)


@pytest.mark.parametrize("app", ["pupils", "interventions", "letters"])
def test_every_model_has_an_admin(app):
    unregistered = [m.__name__ for m in apps.get_app_config(app).get_models() if m not in admin.site._registry]

    assert unregistered == []


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_superuser_opens_every_admin_page(admin_client, admin_user, rf, one_of_everything, model):
    obj = model._default_manager.first()
    assert obj is not None, f"one_of_everything makes no {model._meta.label}"

    assert admin_client.get(admin_url(model, "changelist")).status_code == 200
    assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == 200
    request = rf.get("/")
    request.user = admin_user
    can_add = admin.site._registry[model].has_add_permission(request)
    assert admin_client.get(admin_url(model, "add")).status_code == (200 if can_add else 403)


NEVER_DELETED = [
    AttendanceMark,
    MarkChange,
    StageChange,
    ActionLog,
    ActionCorrection,
    Letter,
    AuditEvent,
    Pupil,
    School,
    Ladder,
    Task,
]
READ_ONLY = [
    ActionCorrection,
    AttendanceCode,
    AttendanceMark,
    MarkChange,
    ImportBatch,
    Placement,
    StageChange,
    Proposal,
    NightlyRun,
    SchoolWeek,
    Letter,
    AuditEvent,
]


@pytest.mark.parametrize("model", NEVER_DELETED, ids=lambda model: model._meta.label)
def test_records_cannot_be_deleted(admin_client, one_of_everything, model):
    obj = model._default_manager.first()

    response = admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"})

    assert response.status_code == 403
    assert model._default_manager.filter(pk=obj.pk).exists()
    action_form = admin_client.get(admin_url(model, "changelist")).context["action_form"]
    actions = [] if action_form is None else [name for name, _ in action_form.fields["action"].choices]
    assert "delete_selected" not in actions


@pytest.mark.parametrize("model", READ_ONLY, ids=lambda model: model._meta.label)
def test_records_the_app_writes_are_read_only(admin_client, one_of_everything, model):
    obj = model._default_manager.first()

    response = admin_client.post(admin_url(model, "change", obj.pk), {})

    assert response.status_code == 403


def test_mark_page_shows_the_marks_history(admin_client, one_of_everything):
    mark = AttendanceMark.objects.get()

    response = admin_client.get(admin_url(AttendanceMark, "change", mark.pk))

    assert "Parent rang" in response.content.decode()


def test_mark_list_runs_the_same_queries_for_ten_marks_as_for_one(admin_client, school):
    def list_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(admin_url(AttendanceMark, "changelist")).status_code == 200
        return len(queries)

    MarkFactory(pupil=PupilFactory(school=school))
    one = list_queries()
    for n in range(9):
        MarkFactory(pupil=PupilFactory(school=school), date=date(2025, 11, 3 + n))

    assert list_queries() == one


def test_mark_list_is_newest_first_by_the_date_index(admin_client, pupil):
    MarkFactory(pupil=pupil)

    sql = str(admin_client.get(admin_url(AttendanceMark, "changelist")).context["cl"].queryset.query)

    # Not the model's order (pupil surname), which would sort every mark in the register.
    assert 'ORDER BY "pupils_attendancemark"."date" DESC' in sql


def test_mark_list_filters_by_school_and_code(admin_client, school, other_school):
    ours = MarkFactory(pupil=PupilFactory(school=school), code="N")
    MarkFactory(pupil=PupilFactory(school=school), code="/")
    MarkFactory(pupil=PupilFactory(school=other_school), code="N")

    response = admin_client.get(
        admin_url(AttendanceMark, "changelist"), {"pupil__school__id__exact": school.pk, "code": "N"}
    )

    assert list(response.context["cl"].result_list) == [ours]


def test_class_filter_offers_only_the_chosen_schools_classes(admin_client, school, other_school):
    ours = RegistrationGroupFactory(school=school, name="Kestrels")
    RegistrationGroupFactory(school=other_school, name="Otters")
    in_oak = PupilFactory(school=school, registration_group=ours)
    PupilFactory(school=school)

    response = admin_client.get(admin_url(Pupil, "changelist"), {"school__id__exact": school.pk, "class": ours.pk})

    page = response.content.decode()
    assert "Kestrels" in page
    assert "Otters" not in page
    assert list(response.context["cl"].result_list) == [in_oak]


def pupil_form(pupil: Pupil, **changes: object) -> dict[str, object]:
    data = {
        "upn": pupil.upn,
        "surname": pupil.surname,
        "forename": pupil.forename,
        "date_of_birth": pupil.date_of_birth.isoformat(),
        "year_group": pupil.year_group_id,
        "registration_group": pupil.registration_group_id,
        "sen": pupil.sen,
        "start_on": pupil.start_on.isoformat(),
        "leaving_on": "",
        "contacts-TOTAL_FORMS": "0",
        "contacts-INITIAL_FORMS": "0",
    }
    return data | changes


def test_pupil_edit_saves(admin_client, pupil):
    response = admin_client.post(admin_url(Pupil, "change", pupil.pk), pupil_form(pupil, surname="Smythe"))

    assert response.status_code == 302
    pupil.refresh_from_db()
    assert pupil.surname == "Smythe"


def test_pupil_cannot_be_put_in_another_schools_class(admin_client, pupil, other_school):
    theirs = RegistrationGroupFactory(school=other_school, name=pupil.registration_group.name)

    response = admin_client.post(admin_url(Pupil, "change", pupil.pk), pupil_form(pupil, registration_group=theirs.pk))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["registration_group"]
    pupil.refresh_from_db()
    assert pupil.registration_group.school == pupil.school


def test_pupil_cannot_move_school(admin_client, pupil, other_school):
    admin_client.post(admin_url(Pupil, "change", pupil.pk), pupil_form(pupil, school=other_school.pk))

    pupil.refresh_from_db()
    assert pupil.school.name == "Oakfield Primary"


def test_taken_upn_is_a_message_not_a_crash(admin_client, school, pupil):
    other = PupilFactory(school=school)

    response = admin_client.post(admin_url(Pupil, "change", other.pk), pupil_form(other, upn=pupil.upn))

    assert response.status_code == 200
    assert "already exists" in str(response.context["adminform"].form.non_field_errors())


def year_form(school: School, *half_terms: tuple[str, str, str]) -> dict[str, object]:
    data: dict[str, object] = {
        "school": school.pk,
        "name": "2030/31",
        "start_on": "2030-09-01",
        "end_on": "2031-08-31",
        "half_terms-TOTAL_FORMS": str(len(half_terms)),
        "half_terms-INITIAL_FORMS": "0",
    }
    for i, (name, start_on, end_on) in enumerate(half_terms):
        data |= {
            f"half_terms-{i}-name": name,
            f"half_terms-{i}-term": HalfTerm.Term.AUTUMN,
            f"half_terms-{i}-start_on": start_on,
            f"half_terms-{i}-end_on": end_on,
        }
    return data


def test_half_terms_added_with_a_year_belong_to_its_school(admin_client, school):
    response = admin_client.post(
        admin_url(AcademicYear, "add"), year_form(school, ("Autumn 1", "2030-09-02", "2030-10-18"))
    )

    assert response.status_code == 302
    assert HalfTerm.objects.get(name="Autumn 1", start_on=date(2030, 9, 2)).school == school


def test_half_term_starting_on_a_taken_day_is_a_message_not_a_crash(admin_client, school):
    taken = HalfTerm.objects.filter(school=school).first()

    response = admin_client.post(
        admin_url(AcademicYear, "add"),
        year_form(school, ("Autumn 1", taken.start_on.isoformat(), taken.end_on.isoformat())),
    )

    assert response.status_code == 200
    assert "already exists" in str(response.context["inline_admin_formsets"][0].formset.errors)
    assert not AcademicYear.objects.filter(school=school, name="2030/31").exists()


# --- production configuration ------------------------------------------------

PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "example.org",
    "DATABASE_URL": "sqlite:////tmp/x.db",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Only these variables: nothing from the test run (its settings module, CI's database) leaks in.
    env = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "attendance_site.settings"} | env
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_deploy_check_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("name", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"])
def test_production_refuses_to_start_without(name):
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != name}

    result = manage("check", env=env)

    assert result.returncode != 0
    assert f"{name} must be set" in result.stderr


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


APP_SERVICES = ["web", "worker", "beat"]


def test_compose_runs_every_service(compose):
    assert set(compose["services"]) == {"db", "redis", "web", "worker", "beat"}
    assert compose["services"]["db"]["image"] == "postgres:15"
    assert compose["services"]["redis"]["image"] == "redis:7"
    assert "/var/lib/postgresql/data" in compose["services"]["db"]["volumes"][0]


def test_compose_database_reports_ready_with_pg_isready(compose):
    check = compose["services"]["db"]["healthcheck"]

    assert "pg_isready" in " ".join(check["test"])
    assert check["retries"] > 0


@pytest.mark.parametrize("service", APP_SERVICES)
def test_compose_app_waits_for_a_healthy_database(compose, service):
    app = compose["services"][service]

    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["build"] == "."


@pytest.mark.parametrize("service", APP_SERVICES)
def test_compose_app_is_configured_by_environment_alone(compose, service):
    environment = compose["services"][service]["environment"]

    assert environment["DJANGO_DEBUG"] == "false"
    assert environment["DATABASE_URL"].startswith("postgres://") and "@db:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"].startswith("redis://redis:6379")
    # Secrets come from the operator's environment; compose refuses to start without them.
    for name in ["SECRET_KEY", "ALLOWED_HOSTS"]:
        assert environment[name].startswith(f"${{{name}:?"), environment[name]


def test_compose_commands(compose):
    services = compose["services"]
    web = " ".join(services["web"]["command"])
    assert web.index("manage.py migrate") < web.index("gunicorn attendance_site.wsgi --bind 0.0.0.0:8000")
    worker = " ".join(services["worker"]["command"])
    assert "celery -A attendance_site worker -l info" in worker
    assert " ".join(services["beat"]["command"]) == (
        "celery -A attendance_site beat -l info --scheduler django_celery_beat.schedulers:DatabaseScheduler"
    )


def documented_variables() -> set[str]:
    text = (BASE_DIR / ".env.example").read_text()
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def settings_variables() -> set[str]:
    source = (BASE_DIR / "attendance_site" / "settings.py").read_text()
    found = set(re.findall(r"""(?:env\.\w+|_required_in_production)\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    assert {"DJANGO_DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= found  # the pattern still finds them
    return found


def test_env_example_documents_every_variable_settings_reads():
    assert settings_variables() <= documented_variables()


#: Knobs only the test suite turns; an operator never should.
TEST_ONLY = {"NIGHTLY_TEST_PAUSE_S"}


@pytest.mark.parametrize("service", APP_SERVICES)
def test_compose_lets_the_operator_set_every_variable_settings_reads(compose, service):
    assert settings_variables() - TEST_ONLY <= set(compose["services"][service]["environment"])


def test_env_example_documents_every_variable_compose_reads(compose):
    text = (BASE_DIR / "docker-compose.yml").read_text()
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    passed_through = {name for name, value in compose["services"]["web"]["environment"].items() if value is None}

    assert interpolated | passed_through <= documented_variables()


def test_env_example_says_why_for_every_variable():
    lines = (BASE_DIR / ".env.example").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^(# )?[A-Z][A-Z0-9_]*=", line):
            comment = lines[i - 1] if i > 0 else ""
            assert comment.startswith("# ") and not re.match(r"^# [A-Z][A-Z0-9_]*=", comment), line


def test_dockerfile_builds_what_the_app_needs():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()

    assert dockerfile.startswith("# ") and "FROM python:3.11-slim-bookworm" in dockerfile
    # The same libraries CI installs for WeasyPrint.
    for package in ["libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0", "fonts-dejavu-core"]:
        assert package in dockerfile
        assert package in (BASE_DIR / ".ci" / "run").read_text()
    assert "COPY pyproject.toml" in dockerfile and "pip install ." in dockerfile
    collect = dockerfile[dockerfile.index("DJANGO_DEBUG=false") : dockerfile.index("manage.py collectstatic")]
    for name in PRODUCTION_ENV:
        assert f"{name}=" in collect
    assert ".env" in (BASE_DIR / ".dockerignore").read_text().splitlines()


def test_a_school_created_by_mistake_can_be_deleted_until_it_holds_a_pupil(admin_client, db):
    from pupils.services import school_create

    mistake = school_create(urn="999999", name="Tset Academy", today=TODAY)
    assert admin_client.get(admin_url(School, "delete", mistake.pk)).status_code == 200
    assert admin_client.post(admin_url(School, "delete", mistake.pk), {"post": "yes"}).status_code == 302
    assert not School.objects.filter(pk=mistake.pk).exists()

    kept = school_create(urn="999998", name="Real Academy", today=TODAY)
    PupilFactory(school=kept)
    assert admin_client.post(admin_url(School, "delete", kept.pk), {"post": "yes"}).status_code == 403
    assert School.objects.filter(pk=kept.pk).exists()


def test_a_logged_actions_words_and_date_change_only_through_a_correction(admin_client, one_of_everything):
    action = ActionLog.objects.get()
    page = admin_client.get(admin_url(ActionLog, "change", action.pk))
    assert {"occurred_on", "notes", "kind", "outcome"}.isdisjoint(page.context["adminform"].form.fields)
    assert "Was a call" in page.content.decode()  # its correction, shown beneath

    admin_client.post(
        admin_url(ActionLog, "change", action.pk),
        {
            "occurred_on": "2020-01-01",
            "notes": "rewritten",
            "corrections-TOTAL_FORMS": "1",
            "corrections-INITIAL_FORMS": "1",
        },
    )
    action.refresh_from_db()
    assert (action.occurred_on, action.notes) == (TODAY, "")
