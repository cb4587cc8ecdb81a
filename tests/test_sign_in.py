"""Signing in: throttled failures, password reset by email, security headers, the front door."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from pupils.models import StaffMembership
from tests.factories import MembershipFactory, SchoolFactory, UserFactory

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def attempt(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_five_failures_lock_the_account_from_that_address_even_with_the_right_password(
    client, attendance_lead, settings
):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert attempt(client, "alice", "wrong").status_code == 200
    response = attempt(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_success_clears_earlier_failures(client, attendance_lead, settings):
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        attempt(client, "alice", "wrong")
    assert attempt(client, "alice", PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        attempt(client, "alice", "wrong")
    assert attempt(client, "alice", PASSWORD).status_code == 302


def test_password_reset_sends_a_one_time_link_that_sets_a_new_password(client, attendance_lead):
    client.post(reverse("password_reset"), {"email": attendance_lead.email})
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a fresh long passphrase", "new_password2": "a fresh long passphrase"},
    )
    client.logout()
    assert attempt(client, "alice", "a fresh long passphrase").status_code == 302
    assert client.get(link, follow=True).context["validlink"] is False


def test_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client, db):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"}, follow=True)
    assert "If that address belongs to an account" in response.content.decode()
    assert mail.outbox == []


def test_pages_carry_a_content_security_policy_and_no_framing(client, attendance_lead):
    response = client.get(reverse("login"))
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_sessions_end_after_an_idle_hour_and_at_browser_close(settings):
    assert settings.SESSION_COOKIE_AGE == 60 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST and settings.SESSION_EXPIRE_AT_BROWSER_CLOSE


def test_signed_out_visitors_are_sent_to_sign_in(client, school):
    response = client.get(reverse("interventions:dashboard", args=[school.urn]))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_front_door_sends_each_role_home(client, school):
    homes = {
        StaffMembership.Role.ATTENDANCE_LEAD: "/dashboard/",
        StaffMembership.Role.SENIOR_LEADER: "/dashboard/",
        StaffMembership.Role.CLASS_TEACHER: "/classes/",
        StaffMembership.Role.OFFICE: "/office/",
    }
    for role, path in homes.items():
        user = MembershipFactory(user=UserFactory(username=f"home-{role}"), school=school, role=role).user
        client.force_login(user)
        response = client.get(reverse("home"), follow=True)
        assert response.redirect_chain[-1][0] == f"/school/{school.urn}{path}", role


def test_someone_at_two_schools_chooses_between_them(client, school, other_school):
    user = UserFactory(username="trust")
    for s in (school, other_school):
        MembershipFactory(user=user, school=s, role=StaffMembership.Role.LA_OFFICER)
    client.force_login(user)
    body = client.get(reverse("home")).content.decode()
    assert school.name in body and other_school.name in body
    third = SchoolFactory(name="Cedar Primary")
    assert client.get(reverse("school_home", args=[third.urn])).status_code == 404


def test_the_list_of_schools_says_how_each_ones_last_night_went(client, school, other_school):
    """An LA officer sees, before opening any school, which school's night failed or never ran."""
    from interventions import services
    from interventions.models import NightlyRun
    from interventions.selectors import night_due
    from tests.interventions.conftest import SIMPLE_LADDER

    user = UserFactory(username="trust")
    third = SchoolFactory(name="Cedar Primary")
    starting = SchoolFactory(name="Dale Primary")
    for s in (school, other_school, third, starting):
        MembershipFactory(user=user, school=s, role=StaffMembership.Role.LA_OFFICER)
    for s in (school, other_school, starting):
        services.ladder_load(school=s, document=SIMPLE_LADDER, activate=True)
    # The night due now: yesterday's once 02:00 has passed, the day before's until then.
    yesterday = night_due(school=school, now=timezone.now())
    NightlyRun.objects.create(
        school=school, run_on=yesterday - timedelta(days=7), status="done", started_at=timezone.now()
    )
    NightlyRun.objects.create(
        school=other_school, run_on=yesterday, status="failed", started_at=timezone.now(), error="OperationalError"
    )
    client.force_login(user)
    body = client.get(reverse("home")).content.decode()
    picker = body.split("Your schools</h1>")[1]  # not the menu's list of schools
    rows = {s.name: picker.split(s.name)[1].split("</tr>")[0] for s in (school, other_school, third, starting)}
    on = f"{yesterday:%a %-d %b}"
    assert f"Night of {on}: did not run" in rows[school.name]
    assert f"Night of {on}: failed, to be tried again" in rows[other_school.name]
    assert "No active ladder: no night runs" in rows[third.name]
    assert "Starting: no night has run yet" in rows[starting.name]  # none ever ran: not a missed night


def test_a_signed_in_member_of_staff_changes_their_own_password(client, attendance_lead):
    client.force_login(attendance_lead)
    page = client.get(reverse("pupils:audit", args=[attendance_lead.memberships.get().school.urn]))
    body = page.content.decode()
    assert 'href="/accounts/password/">Change password</a>' in body  # in the menu under their name, on every page
    # Without JavaScript the name is itself the way to it, and signing out is never inside a menu.
    assert re.search(r'<a class="nav-link dropdown-toggle" href="/accounts/password/"[^>]*>', body)
    assert re.search(r'</ul>\s*</li>\s*<li class="nav-item"><form method="post" action="/accounts/logout/">', body)
    refused = client.post(
        reverse("password_change"),
        {
            "old_password": "not it",
            "new_password1": "a fresh long passphrase",
            "new_password2": "a fresh long passphrase",
        },
    )
    assert refused.status_code == 200
    assert "Your old password was entered incorrectly." in refused.content.decode()
    changed = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a fresh long passphrase",
            "new_password2": "a fresh long passphrase",
        },
        follow=True,
    )
    assert "Your new password is set" in changed.content.decode()
    client.logout()
    assert attempt(client, "alice", PASSWORD).status_code == 200  # the old one no longer works
    assert attempt(client, "alice", "a fresh long passphrase").status_code == 302


def test_changing_a_password_needs_signing_in(client, db):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("login"))


def test_wrong_old_passwords_lock_the_password_change_like_sign_in(client, attendance_lead, settings):
    client.force_login(attendance_lead)
    new = {"new_password1": "a fresh long passphrase", "new_password2": "a fresh long passphrase"}
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert client.post(reverse("password_change"), {"old_password": "guess", **new}).status_code == 200
    locked = client.post(reverse("password_change"), {"old_password": PASSWORD, **new})
    assert locked.status_code == 429
    assert "Too many wrong passwords." in locked.content.decode()
    attendance_lead.refresh_from_db()
    assert attendance_lead.check_password(PASSWORD)


# --- a button pressed after the idle sign-out ------------------------------------------------------


def test_a_button_pressed_signed_out_sends_the_page_to_sign_in_and_back_to_the_page_it_was_on(client, school):
    page = "http://testserver/school/100001/classes/?group=4B"
    response = client.post("/school/100001/tasks/1/done/", headers={"HX-Request": "true", "HX-Current-URL": page})
    assert response.status_code == 200 and not response.content
    assert response["HX-Redirect"] == "/accounts/login/?next=/school/100001/classes/%3Fgroup%3D4B"
    sign_in = client.get(response["HX-Redirect"])
    assert "You were signed out" in sign_in.content.decode()


def test_a_plain_form_posted_signed_out_comes_back_to_its_page_and_never_to_another_site(client, school):
    response = client.post(
        "/school/100001/pupils/1/actions/new/", headers={"Referer": "http://testserver/school/100001/pupils/1/"}
    )
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/?next=/school/100001/pupils/1/")
    elsewhere = client.post("/school/100001/pupils/1/actions/new/", headers={"Referer": "https://evil.example/phish"})
    assert elsewhere["Location"] == "/accounts/login/?next=/"


def test_a_page_opened_signed_out_keeps_its_own_address_to_come_back_to(client, school):
    response = client.get("/school/100001/classes/")
    assert response["Location"] == "/accounts/login/?next=/school/100001/classes/"
    assert "You were signed out" not in client.get(response["Location"]).content.decode()


def test_a_page_that_is_not_yours_or_not_there_says_so_in_words_with_the_way_home(client, school, class_teacher):
    from tests.factories import PupilFactory, RegistrationGroupFactory

    client.force_login(class_teacher)
    someone_elses = PupilFactory(school=school, registration_group=RegistrationGroupFactory(school=school, name="6A"))
    response = client.get(f"/school/100001/pupils/{someone_elses.pk}/")
    page = response.content.decode()
    assert response.status_code == 404
    assert "This page is not here" in page and "not in your classes" in page
    assert "Go to your home page" in page
    assert client.get("/no/such/page/").status_code == 404


def test_a_server_error_page_stands_alone_and_says_what_to_do(rf):
    from django.views.defaults import server_error

    response = server_error(rf.get("/"))  # rendered with no context: nothing it shows may need one
    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in page and "may not have been saved" in page and "attendance lead" in page


def test_signing_out_on_purpose_goes_to_a_plain_sign_in_page_with_nothing_to_come_back_to(client, attendance_lead):
    """On a shared office computer the next person must not land on the last person's page."""
    client.force_login(attendance_lead)
    response = client.post(
        reverse("logout"), headers={"Referer": "http://testserver/school/100001/pupils/1/", "HX-Request": "true"}
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert "You were signed out" not in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize("debug", [True, False])
def test_a_refusal_is_the_polite_page_with_debug_on_as_off(
    client, school, other_school, class_teacher, settings, debug
):
    from tests.factories import PupilFactory

    settings.DEBUG = debug
    theirs = PupilFactory(school=other_school)
    client.force_login(class_teacher)
    response = client.get(reverse("interventions:pupil", args=[other_school.urn, theirs.pk]))
    assert response.status_code == 404
    body = response.content.decode()
    assert "This page is not here" in body and "URLconf" not in body
    # A path that matches nothing stays the developer's help while DEBUG is on.
    assert ("URLconf" in client.get("/no-such-page/").content.decode()) == debug
