"""The letters pages: who may open what, and what each page does."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from interventions.models import ActionLog
from letters import services
from letters.defaults import DEFAULT_TEMPLATES
from letters.models import Letter, LetterTemplate, PrintBatch
from pupils.models import AuditEvent
from tests.factories import TODAY, PupilFactory, RegistrationGroupFactory
from tests.letters.conftest import pdf_text, queue_letters

FAKE_PDF = b"%PDF-1.7 as printed"


@pytest.fixture
def letter(school, family):
    return queue_letters(school, [family])[0]


def printed_batch(school, pupil) -> tuple[PrintBatch, Letter]:
    """A finished batch of one letter, stored as if printed (no rendering: these tests are about pages)."""
    letter = queue_letters(school, [pupil], key="second_warning")[0]
    batch = PrintBatch.objects.create(school=school, status="done", total=1, done=1, pages=1)
    batch.pdf.save("batch.pdf", ContentFile(FAKE_PDF), save=False)
    batch.pdf_sha256 = hashlib.sha256(FAKE_PDF).hexdigest()
    batch.save()
    letter.pdf.save("letter.pdf", ContentFile(FAKE_PDF), save=False)
    letter.pdf_sha256, letter.status, letter.print_batch = batch.pdf_sha256, "printed", batch
    letter.printed_at, letter.pages = timezone.now(), 1
    letter.save()
    return batch, letter


@pytest.fixture
def printed(school, family):
    return printed_batch(school, family)


def urls(school, letter, batch, pupil) -> dict[str, tuple[str, str]]:
    """Every letters URL: name -> (method, path)."""
    urn = school.urn

    def u(name: str, *args: object) -> str:
        return reverse(f"letters:{name}", args=(urn, *args))

    return {
        "queue": ("get", u("queue")),
        "print": ("post", u("print")),
        "post": ("post", u("post")),
        "batch": ("get", u("batch", batch.pk)),
        "batch_pdf": ("get", u("batch_pdf", batch.pk)),
        "batch_post": ("post", u("batch_post", batch.pk)),
        "letter": ("get", u("letter", letter.pk)),
        "letter_pdf": ("get", u("letter_pdf", letter.pk)),
        "letter_details": ("post", u("letter_details", letter.pk)),
        "letter_cancel": ("post", u("letter_cancel", letter.pk)),
        "compose": ("get", u("compose", pupil.pk)),
        "bulk": ("get", u("bulk")),
        "templates": ("get", u("templates")),
        "template_new": ("get", u("template_new")),
        "template_edit": ("get", u("template_edit", "first_reminder")),
        "template_pdf": ("get", u("template_pdf", "first_reminder")),
        "settings": ("get", u("settings")),
    }


OFFICE_CANNOT = {"templates", "template_new", "template_edit", "template_pdf", "settings"}
NAMES = [
    "queue",
    "print",
    "post",
    "batch",
    "batch_pdf",
    "batch_post",
    "letter",
    "letter_pdf",
    "letter_details",
    "letter_cancel",
    "compose",
    "bulk",
    "templates",
    "template_new",
    "template_edit",
    "template_pdf",
    "settings",
]


@pytest.fixture
def everyone(attendance_lead, class_teacher, office, outsider):
    return {"alice": attendance_lead, "bob": class_teacher, "olga": office, "olivia": outsider}


def allowed(role: str, name: str) -> bool:
    if role == "alice":
        return True
    if role == "olga":
        return name not in OFFICE_CANNOT
    return False  # bob the class teacher neither prints nor queues letters; olivia is at another school


@pytest.mark.parametrize("role", ["alice", "bob", "olga", "olivia"])
@pytest.mark.parametrize("name", NAMES)
def test_every_letters_url_for_every_role(client, school, letter, printed, everyone, role, name):
    method, path = urls(school, letter, printed[0], letter.pupil)[name]
    client.force_login(everyone[role])

    response = getattr(client, method)(path)

    if allowed(role, name):
        assert response.status_code in (200, 302), (role, name, response.status_code)
    else:
        assert response.status_code == 404, (role, name, response.status_code)


@pytest.mark.parametrize("name", NAMES)
def test_signed_out_visitors_are_sent_to_sign_in(client, school, letter, printed, name):
    method, path = urls(school, letter, printed[0], letter.pupil)[name]

    response = getattr(client, method)(path)

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


#: URLs naming one of Oakfield's letters, batches or pupils by id.
BY_ID = ["batch", "batch_pdf", "batch_post", "letter", "letter_pdf", "letter_details", "letter_cancel", "compose"]


@pytest.mark.parametrize("name", BY_ID)
def test_another_schools_letters_batches_and_pupils_are_404_from_their_own_school(
    client, school, other_school, letter, printed, outsider, name
):
    """Olivia, at Birchwood, asks for Oakfield's letter, batch and pupil by id at her own school's address."""
    method, path = urls(other_school, letter, printed[0], letter.pupil)[name]
    client.force_login(outsider)

    response = getattr(client, method)(path)

    assert response.status_code == 404


def test_another_schools_letters_cannot_be_printed_or_posted_by_id(client, school, other_school, office):
    theirs = queue_letters(other_school, [PupilFactory(school=other_school)])[0]
    client.force_login(office)

    client.post(reverse("letters:print", args=[school.urn]), {"letter": [theirs.pk], "scope": "selected"})
    client.post(reverse("letters:post", args=[school.urn]), {"letter": [theirs.pk], "scope": "selected"})

    theirs.refresh_from_db()
    assert (theirs.status, theirs.print_batch) == ("queued", None)
    assert not PrintBatch.objects.exists()


# --- the queue -------------------------------------------------------------------------------


def test_queue_shows_waiting_letters_with_who_they_go_to(client, school, letter, printed, office):
    client.force_login(office)

    response = client.get(reverse("letters:queue", args=[school.urn]))

    page = response.content.decode()
    assert letter.reference in page and "Sarah Smith" in page
    assert printed[1].reference not in page  # printed: not waiting
    assert "Print all 1 waiting" in page


def test_the_pupils_page_says_whom_each_of_their_letters_goes_to(client, school, family, attendance_lead):
    """Parents in two homes: one letter to each, which would otherwise read as the same letter twice."""
    from tests.factories import ContactFactory

    ContactFactory(pupil=family, name="Tom Jones", address="3 Ash Row\nOakfield\nWS2 6AB", priority=3)
    queue_letters(school, [family])
    client.force_login(attendance_lead)
    page = reverse("interventions:pupil", args=[school.urn, family.pk])
    with CaptureQueriesContext(connection) as two:
        body = client.get(page).content.decode()

    letters = body[body.index('id="letters-heading"') : body.index("</ul>", body.index('id="letters-heading"'))]
    assert "to Sarah Smith" in letters and "to Tom Jones" in letters and "David Smith" not in letters
    queue_letters(school, [family], key="termly_report")
    with CaptureQueriesContext(connection) as four:
        assert client.get(page).content.decode().count('<span class="small">to ') == 4
    assert len(four) == len(two)  # whom each goes to: no query a letter


def test_queue_filters_and_answers_htmx_with_the_table_only(client, school, letter, printed, office):
    client.force_login(office)

    response = client.get(reverse("letters:queue", args=[school.urn]), {"status": "printed"}, HTTP_HX_REQUEST="true")

    page = response.content.decode()
    assert page.lstrip().startswith('<div id="queue-table">') and "<html" not in page
    assert printed[1].reference in page and letter.reference not in page


def test_queue_page_runs_the_same_queries_for_thirty_letters_as_for_one(
    client, school, family, office, django_assert_num_queries
):
    queue_letters(school, [family])
    client.force_login(office)
    path = reverse("letters:queue", args=[school.urn])
    with CaptureQueriesContext(connection) as one:
        assert client.get(path).status_code == 200
    for _ in range(29):
        queue_letters(school, [PupilFactory(school=school)], key="termly_report")

    with django_assert_num_queries(len(one)):
        response = client.get(path)

    assert response.content.decode().count('name="letter" value=') == 30


def test_the_queue_lists_letters_in_the_order_they_print(client, school, office):
    from tests.factories import RegistrationGroupFactory

    six, three = RegistrationGroupFactory(school=school, name="6A"), RegistrationGroupFactory(school=school, name="3B")
    pupils = [
        PupilFactory(school=school, registration_group=six, surname="Adams"),
        PupilFactory(school=school, registration_group=three, surname="Young"),
        PupilFactory(school=school, registration_group=three, surname="Brown"),
    ]
    queue_letters(school, pupils)
    client.force_login(office)
    page = client.get(reverse("letters:queue", args=[school.urn])).content.decode()
    listed = sorted(pupils, key=lambda p: page.index(f"{p.forename} {p.surname}"))
    assert [p.surname for p in listed] == ["Brown", "Young", "Adams"]  # 3B, then 6A; by surname within a class
    assert "Listed as they print: by class, then surname" in page


def test_print_selected_goes_to_the_batch_and_its_pdf_downloads(client, school, family, office):
    letters = queue_letters(school, [family, PupilFactory(school=school)])
    client.force_login(office)

    response = client.post(
        reverse("letters:print", args=[school.urn]), {"letter": [letters[0].pk], "scope": "selected"}
    )

    batch = PrintBatch.objects.get()
    assert response["Location"] == reverse("letters:batch", args=[school.urn, batch.pk])
    page = client.get(response["Location"]).content.decode()
    assert "Download PDF" in page and "Mark all 1 as posted" in page
    assert "Show the letters" not in page  # they are on this page already: no link back to it
    download = client.get(reverse("letters:batch_pdf", args=[school.urn, batch.pk]))
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"].startswith("attachment;")
    assert download.content == batch.pdf.read()
    # A jammed printer: the page says the same PDF can be printed again, and the letters wait to post.
    assert "if the printer jams or pages go missing, download it again" in page
    again = client.get(reverse("letters:batch_pdf", args=[school.urn, batch.pk]))
    assert again.content == download.content
    letters[0].refresh_from_db()
    assert letters[0].status == "printed"


def test_the_batch_page_warns_which_letters_have_no_postal_address(client, school, family, office):
    homeless = PupilFactory(school=school, forename="Jo", surname="Nowhere")  # no contacts at all
    letters = queue_letters(school, [family, homeless])
    client.force_login(office)
    client.post(reverse("letters:print", args=[school.urn]), {"letter": [x.pk for x in letters], "scope": "selected"})

    page = client.get(reverse("letters:batch", args=[school.urn, PrintBatch.objects.get().pk])).content.decode()
    warning = page.split('id="no-address"')[1].split("</div>")[0]
    without = Letter.objects.get(pupil=homeless)
    assert "1 letter has no postal address" in warning
    assert f"{without.reference}</a> (Jo Nowhere)" in warning
    assert Letter.objects.get(pupil=family).reference not in warning
    assert page.count("no postal address</span>") == 1


def test_the_queue_and_the_letter_flag_a_missing_address_but_not_on_a_certificate(client, school, family, office):
    homeless = PupilFactory(school=school, forename="Jo", surname="Nowhere")
    (unaddressed,) = queue_letters(school, [homeless])
    (certificate,) = queue_letters(school, [family], key="certificate_100")
    client.force_login(office)

    queue = client.get(reverse("letters:queue", args=[school.urn])).content.decode()
    assert queue.count("no postal address</span>") == 1
    (row,) = [tr for tr in queue.split("<tr") if f">{unaddressed.reference}<" in tr]
    assert "no postal address" in row
    letter = reverse("letters:letter", args=[school.urn, certificate.pk])
    assert "no postal address" not in client.get(letter).content.decode()
    letter = reverse("letters:letter", args=[school.urn, unaddressed.pk])
    assert "no postal address" in client.get(letter).content.decode()


def test_the_batch_page_lists_letters_in_the_order_they_print(client, school, office, tmp_path):
    # Queued Zara Young (5C), Ann Adams (5C), Mo Moss (3A): they print by class, then surname.
    pupils = [
        PupilFactory(
            school=school,
            forename=forename,
            surname=surname,
            registration_group=RegistrationGroupFactory(school=school, name=cls),
        )
        for forename, surname, cls in (("Zara", "Young", "5C"), ("Ann", "Adams", "5C"), ("Mo", "Moss", "3A"))
    ]
    letters = queue_letters(school, pupils)
    client.force_login(office)
    client.post(reverse("letters:print", args=[school.urn]), {"letter": [x.pk for x in letters], "scope": "selected"})
    batch = PrintBatch.objects.get()

    page = client.get(reverse("letters:batch", args=[school.urn, batch.pk])).content.decode()
    text = pdf_text(batch.pdf.read(), tmp_path)
    names = ("Zara", "Ann", "Mo")
    on_page = sorted(names, key=lambda name: page.index(f"{name} "))
    on_paper = sorted(names, key=lambda name: text.index(f"{name}'s attendance"))
    assert on_page == on_paper == ["Mo", "Ann", "Zara"]


def test_print_all_prints_every_waiting_letter_matching_the_filters(client, school, family, office):
    queue_letters(school, [family, PupilFactory(school=school)])
    other = queue_letters(school, [PupilFactory(school=school)], key="termly_report")[0]
    client.force_login(office)

    client.post(reverse("letters:print", args=[school.urn]), {"scope": "all", "template": "first_reminder"})

    assert Letter.objects.filter(status="printed").count() == 2
    other.refresh_from_db()
    assert other.status == "queued"


def test_print_with_nothing_ticked_says_so(client, school, letter, office):
    client.force_login(office)

    response = client.post(reverse("letters:print", args=[school.urn]), {"scope": "selected"}, follow=True)

    assert "Tick at least one letter first." in response.content.decode()
    assert not PrintBatch.objects.exists()


def test_posting_with_nothing_ticked_says_so_and_keeps_the_queues_filter(client, school, printed, office):
    batch, letter = printed
    client.force_login(office)
    queue = reverse("letters:queue", args=[school.urn])

    response = client.post(
        reverse("letters:post", args=[school.urn]), {"scope": "selected", "status": "printed", "q": "Smith"}
    )

    assert response.status_code == 302 and response["Location"] == f"{queue}?status=printed&q=Smith"
    assert "Tick at least one letter first." in client.get(response["Location"]).content.decode()
    letter.refresh_from_db()
    assert letter.status == "printed"


def test_marking_posted_from_any_status_comes_back_to_any_status(client, school, printed, office):
    batch, letter = printed
    client.force_login(office)
    queue = reverse("letters:queue", args=[school.urn])
    page = client.get(queue, {"status": "", "q": ""}).content.decode()
    assert '<input type="hidden" name="status" value="">' in page  # the filter rides along, empty as it is
    assert '<input type="hidden" name="template" value="">' in page and 'value="None"' not in page

    response = client.post(
        reverse("letters:post", args=[school.urn]),
        {"scope": "selected", "letter": [letter.pk], "status": "", "template": "", "group": "", "q": ""},
    )

    assert response["Location"] == f"{queue}?status=&template=&group=&q="
    letter.refresh_from_db()
    assert letter.status == "posted"
    assert client.get(response["Location"]).context["filters"]["status"] == ""  # still every status


def test_marking_posted_twice_logs_once(client, school, printed, office):
    batch, letter = printed
    client.force_login(office)
    path = reverse("letters:batch_post", args=[school.urn, batch.pk])

    client.post(path)
    client.post(path)
    client.post(reverse("letters:post", args=[school.urn]), {"letter": [letter.pk], "scope": "selected"})

    letter.refresh_from_db()
    assert (letter.status, letter.posted_by) == ("posted", office)
    assert ActionLog.objects.filter(pupil=letter.pupil, kind="letter").count() == 1


def test_the_posted_tab_offers_nothing_to_print_or_post_and_a_posted_run_says_so(client, school, printed, office):
    batch, letter = printed
    client.force_login(office)
    queue = reverse("letters:queue", args=[school.urn])
    assert "Mark selected as posted" in client.get(queue, {"status": "printed"}).content.decode()
    client.post(reverse("letters:batch_post", args=[school.urn, batch.pk]))

    posted = client.get(queue, {"status": "posted"}).content.decode()
    assert "Print selected" not in posted and "Mark selected as posted" not in posted
    assert f"Batch {batch.pk}</a>: 1 letter, all posted," in posted


def test_marking_a_batch_posted_by_mistake_can_be_taken_back_by_whoever_did_it_for_ten_minutes(
    client, school, printed, office, attendance_lead
):
    batch, letter = printed
    page = reverse("letters:batch", args=[school.urn, batch.pk])
    unpost = reverse("letters:batch_unpost", args=[school.urn, batch.pk])
    client.force_login(office)
    client.post(reverse("letters:batch_post", args=[school.urn, batch.pk]))
    after = client.get(page).content.decode()
    assert (
        "You can still take back 1 letter you marked posted in the last few minutes." in after
        and f'action="{unpost}"' in after
    )
    assert "All 1 posted, the last on" in after and "Print the PDF, put each letter" not in after

    # Someone else cannot; nothing changes.
    client.force_login(attendance_lead)
    assert f'action="{unpost}"' not in client.get(page).content.decode()
    client.post(unpost)
    letter.refresh_from_db()
    assert letter.status == "posted"

    # An earlier letter to the same family, posted before: its record stays whatever is taken back.
    earlier = ActionLog.objects.create(
        school=school,
        pupil=letter.pupil,
        kind="letter",
        title="Letter posted: First reminder",
        occurred_on=timezone.localdate(),
        by=office,
        outcome="Posted",
        notes="To Sarah Smith. Reference L999999, printed 1 Dec 2025.",  # not this letter: another reference
    )
    client.force_login(office)
    response = client.post(unpost, follow=True)
    assert "1 letter no longer marked posted: printed, waiting to post." in response.content.decode()
    letter.refresh_from_db()
    assert (letter.status, letter.posted_at, letter.posted_by) == ("printed", None, None)
    # The posting's record went; the earlier letter's stayed.
    assert list(ActionLog.objects.filter(pupil=letter.pupil, kind="letter")) == [earlier]
    again = client.post(unpost, follow=True).content.decode()
    assert "Nothing to take back: you have marked none of these letters posted in the last 10 minutes" in again
    assert "Mark all 1 as posted" in response.content.decode()

    # Posted again, and left more than ten minutes: it stays posted.
    client.post(reverse("letters:batch_post", args=[school.urn, batch.pk]))
    Letter.objects.filter(pk=letter.pk).update(posted_at=timezone.now() - timedelta(minutes=11))
    assert f'action="{unpost}"' not in client.get(page).content.decode()
    client.post(unpost)
    letter.refresh_from_db()
    assert letter.status == "posted" and ActionLog.objects.filter(pupil=letter.pupil, kind="letter").count() == 2


def test_taking_back_posting_refuses_letters_someone_else_posted_and_changes_nothing(school, printed, office):
    from letters import services
    from tests.factories import UserFactory

    batch, letter = printed
    services.letters_mark_posted(school=school, letter_ids=[letter.pk], user=office)
    with pytest.raises(ValidationError, match="Only the person who marked letters posted can take it back"):
        services.letters_unpost(school=school, letter_ids=[letter.pk], user=UserFactory())
    letter.refresh_from_db()
    assert letter.status == "posted"


def test_taking_back_posting_leaves_a_record_of_posting_someone_corrected(school, printed, office):
    from interventions.services import action_correct
    from letters import services

    batch, letter = printed
    Letter.objects.filter(pk=letter.pk).update(printed_at=timezone.now() - timedelta(days=7))
    services.letters_mark_posted(school=school, letter_ids=[letter.pk], user=office)
    record = ActionLog.objects.get(pupil=letter.pupil, kind="letter", outcome="Posted")
    action_correct(
        action=record,
        user=office,
        reason="Posted on Friday, logged on Monday",
        occurred_on=record.occurred_on - timedelta(days=1),
        outcome="Posted first class",
        notes=record.notes,
    )
    with pytest.raises(ValidationError, match="has been corrected since, so it stays on their record"):
        services.letters_unpost(school=school, letter_ids=[letter.pk], user=office)
    letter.refresh_from_db()
    assert letter.status == "posted"
    assert ActionLog.objects.get(pk=record.pk).corrections.count() == 1


def test_correcting_the_day_a_letter_was_posted_moves_the_letters_own_date(client, school, printed, office):
    from interventions.services import action_correct
    from letters import services

    batch, letter = printed
    today = timezone.localdate()
    Letter.objects.filter(pk=letter.pk).update(printed_at=timezone.now() - timedelta(days=7))
    services.letters_mark_posted(school=school, letter_ids=[letter.pk], user=office)
    letter.refresh_from_db()
    assert letter.posted_on == today
    record = ActionLog.objects.get(pupil=letter.pupil, kind="letter", outcome="Posted")
    friday = today - timedelta(days=3)
    # Its words corrected first, then its date: still the record of posting this letter.
    action_correct(
        action=record, user=office, reason="Sent first class", occurred_on=today, outcome="Posted 1st", notes=""
    )
    action_correct(
        action=record, user=office, reason="Posted on Friday", occurred_on=friday, outcome="Posted 1st", notes=""
    )
    letter.refresh_from_db()
    assert (letter.posted_on, letter.status) == (friday, "posted")
    client.force_login(office)
    posted = f"Posted {friday.day} {friday:%b}"
    page = client.get(reverse("letters:letter", args=[school.urn, letter.pk])).content.decode()
    assert posted in page and "the record of posting was later corrected on <a href=" in page
    assert f"#action-{record.pk}\">{letter.pupil.forename}'s record</a>" in page
    assert posted in client.get(reverse("letters:batch", args=[school.urn, batch.pk])).content.decode()
    assert posted in client.get(reverse("letters:queue", args=[school.urn]) + "?status=posted").content.decode()


def test_correcting_another_entry_leaves_a_letters_posting_date_alone(school, printed, office, attendance_lead):
    from interventions.services import action_correct, action_log
    from letters import services

    batch, letter = printed
    today = timezone.localdate()
    services.letters_mark_posted(school=school, letter_ids=[letter.pk], user=office)
    # An entry logged by hand as a letter, quoting the reference as the posting record does: not that record.
    call = action_log(
        pupil=letter.pupil,
        user=attendance_lead,
        kind="letter",
        occurred_on=today,
        title="Letter",
        outcome="Posted",
        notes=f"Reference {letter.reference}, mum has it",
    )
    action_correct(
        action=call,
        user=attendance_lead,
        reason="called Friday",
        occurred_on=today - timedelta(days=3),
        outcome="Posted",
        notes=call.notes,
    )
    letter.refresh_from_db()
    assert letter.posted_on == today


def test_taking_back_posting_clears_the_day_it_was_posted(school, printed, office):
    from letters import services

    batch, letter = printed
    services.letters_mark_posted(school=school, letter_ids=[letter.pk], user=office)
    services.letters_unpost(school=school, letter_ids=[letter.pk], user=office)
    letter.refresh_from_db()
    assert (letter.status, letter.posted_on, letter.posted_at) == ("printed", None, None)


def test_a_posting_record_cannot_be_corrected_to_before_its_letter_was_printed(client, school, printed, office):
    from letters import services

    batch, letter = printed
    printed_on = timezone.localdate() - timedelta(days=2)
    Letter.objects.filter(pk=letter.pk).update(printed_at=timezone.make_aware(datetime.combine(printed_on, time(10))))
    services.letters_mark_posted(school=school, letter_ids=[letter.pk], user=office)
    record = ActionLog.objects.get(pupil=letter.pupil, kind="letter", outcome="Posted")
    client.force_login(office)
    path = reverse("interventions:action_correct", args=[school.urn, letter.pupil_id, record.pk])
    too_early = printed_on - timedelta(days=1)
    response = client.post(
        path, {"occurred_on": too_early.isoformat(), "outcome": "Posted", "notes": record.notes, "reason": "Friday"}
    )
    assert response.status_code == 422
    assert response.context["form"].errors["occurred_on"] == [
        f"This is the record of posting letter {letter.reference}, printed on {printed_on:%-d %B %Y}: "
        "it cannot have been posted before then."
    ]
    record.refresh_from_db()
    letter.refresh_from_db()
    assert (record.occurred_on, letter.posted_on) == (timezone.localdate(), timezone.localdate())
    assert not record.corrections.exists()
    # The day it was printed is possible.
    response = client.post(
        path, {"occurred_on": printed_on.isoformat(), "outcome": "Posted", "notes": record.notes, "reason": "Friday"}
    )
    assert response.status_code == 302
    letter.refresh_from_db()
    assert letter.posted_on == printed_on


def test_undo_is_offered_for_a_batchs_letters_but_not_one_whose_posting_record_was_corrected(
    client, school, printed, office
):
    from interventions.services import action_correct
    from letters import services

    batch, letter = printed
    second = queue_letters(school, [PupilFactory(school=school)], key="second_warning")[0]
    week_ago = timezone.now() - timedelta(days=7)
    Letter.objects.filter(pk__in=[letter.pk, second.pk]).update(
        status="printed", print_batch=batch, printed_at=week_ago
    )
    services.letters_mark_posted(school=school, letter_ids=[letter.pk, second.pk], user=office)
    record = ActionLog.objects.get(pupil=letter.pupil, kind="letter", outcome="Posted")
    friday = timezone.localdate() - timedelta(days=3)
    action_correct(
        action=record, user=office, reason="Friday", occurred_on=friday, outcome="Posted", notes=record.notes
    )

    # Marked a minute apart: the one marked last is the one whose day was corrected to Friday.
    Letter.objects.filter(pk=second.pk).update(posted_at=timezone.now() - timedelta(minutes=1))
    client.force_login(office)
    page = client.get(reverse("letters:batch", args=[school.urn, batch.pk]))
    assert page.context["unpostable"] == 1
    assert page.context["last_posted"] == second  # the latest day posted, not the last marked
    body = " ".join(page.content.decode().split())
    assert "You can still take back 1 letter you marked posted in the last few minutes." in body
    assert f"{letter.reference} stays posted: its record of posting has been corrected since." in body
    assert f"the last on {timezone.localdate().day} {timezone.localdate():%b}" in body
    response = client.post(reverse("letters:batch_unpost", args=[school.urn, batch.pk]), follow=True)
    assert (
        f"1 letter no longer marked posted: printed, waiting to post. {letter.reference} stays posted"
        in response.content.decode()
    )
    again = client.post(reverse("letters:batch_unpost", args=[school.urn, batch.pk]), follow=True)
    assert f"Nothing to take back: {letter.reference} stays posted" in again.content.decode()
    letter.refresh_from_db()
    second.refresh_from_db()
    assert (letter.status, letter.posted_on) == ("posted", friday)
    assert second.status == "printed"


def test_batch_progress_polls_while_printing_and_reloads_when_done(client, school, office):
    batch = PrintBatch.objects.create(school=school, status="running", total=80, done=20, phase="Laying out letters")
    client.force_login(office)
    path = reverse("letters:batch", args=[school.urn, batch.pk])

    running = client.get(path, HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 1s"' in running.content.decode() and "25%" in running.content.decode()
    assert "HX-Refresh" not in running

    PrintBatch.objects.filter(pk=batch.pk).update(status="done", done=80)
    finished = client.get(path, HTTP_HX_REQUEST="true")
    assert "every 1s" not in finished.content.decode()
    assert finished["HX-Refresh"] == "true"
    assert "Show the letters" in finished.content.decode()  # should the reload not come


def test_a_big_print_from_the_page_runs_in_the_background(
    client, school, office, settings, django_capture_on_commit_callbacks
):
    settings.LETTERS_BACKGROUND_FROM = 2
    queue_letters(school, [PupilFactory(school=school) for _ in range(3)])
    client.force_login(office)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("letters:print", args=[school.urn]), {"scope": "all"})

    batch = PrintBatch.objects.get()
    assert response["Location"].endswith(f"/batches/{batch.pk}/")
    assert (batch.status, batch.pages) == ("done", 3)


# --- one letter ------------------------------------------------------------------------------------


def test_letter_page_shows_the_letter_as_it_will_print(client, school, letter, office):
    client.force_login(office)

    page = client.get(reverse("letters:letter", args=[school.urn, letter.pk])).content.decode()

    assert f'id="letter-{letter.reference}"' in page
    assert "Dear Sarah Smith," in page
    assert "letters/letter.css" in page


def test_letter_details_are_saved_and_printed(client, school, family, office, in_term):
    letter = queue_letters(school, [family], key="formal_warning")[0]
    client.force_login(office)

    client.post(
        reverse("letters:letter_details", args=[school.urn, letter.pk]),
        {"meeting_on": "2025-12-03", "meeting_time": "15:30", "meeting_place": "the library"},
    )

    page = client.get(reverse("letters:letter", args=[school.urn, letter.pk])).content.decode()
    assert "The meeting is on Wednesday 3 December 2025 at 3:30pm in the library." in page


def test_letter_pdf_is_a_preview_before_printing_and_the_stored_pdf_after(client, school, letter, printed, office):
    client.force_login(office)

    preview = client.get(reverse("letters:letter_pdf", args=[school.urn, letter.pk]))
    stored = client.get(reverse("letters:letter_pdf", args=[school.urn, printed[1].pk]))

    assert preview.content.startswith(b"%PDF") and preview["Content-Disposition"].endswith('-preview.pdf"')
    assert stored.content == FAKE_PDF
    letter.refresh_from_db()
    assert letter.status == "queued"  # a preview prints nothing


# --- composing and bulk ----------------------------------------------------------------------------


@pytest.fixture
def in_term(monkeypatch):
    """Today is Wednesday 26 November 2025, so a meeting on Wednesday 3 December is a school day to come."""
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 26))


@pytest.mark.parametrize(
    ("details", "field", "message"),
    [
        (
            {"meeting_on": "2025-11-25"},
            "meeting_on",
            "The meeting cannot be then: Tuesday 25 November 2025 has passed.",
        ),
        (
            {"meeting_on": "2025-11-29"},
            "meeting_on",
            "The meeting cannot be then: Saturday 29 November 2025 is a weekend.",
        ),
        (
            {"meeting_on": "2025-12-24"},
            "meeting_on",
            "The meeting cannot be then: Wednesday 24 December 2025 is in a school holiday"
            " (outside the school&#x27;s term dates).",
        ),
        (
            {"meeting_on": "2025-12-03", "meeting_time": "03:00"},
            "meeting_time",
            "03:00 is outside the hours a meeting is held (07:00 to 19:00).",
        ),
        (
            {"meeting_on": "2025-12-03", "review_on": "2025-12-01"},
            "review_on",
            "The review comes after the meeting: choose a later date.",
        ),
    ],
)
def test_compose_refuses_a_meeting_nobody_could_attend(
    client, school, family, attendance_lead, in_term, details, field, message
):
    client.force_login(attendance_lead)
    path = reverse("letters:compose", args=[school.urn, family.pk])
    response = client.post(path, {"template": "formal_warning", "token": "abc123", "queue": "1", **details})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert response.context["form"].errors[field]
    assert not Letter.objects.exists()


def test_a_queued_letters_meeting_date_that_has_since_passed_does_not_block_other_edits(
    client, school, family, office, monkeypatch
):
    letter = queue_letters(school, [family], key="formal_warning")[0]
    letter.details = {"meeting_on": "2025-11-20"}
    letter.save()
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 26))
    client.force_login(office)
    client.post(
        reverse("letters:letter_details", args=[school.urn, letter.pk]),
        {"meeting_on": "2025-11-20", "meeting_place": "the library"},
    )
    letter.refresh_from_db()
    assert letter.details == {"meeting_on": "2025-11-20", "meeting_place": "the library"}


def test_compose_previews_with_htmx_then_queues_once(client, school, family, attendance_lead, in_term):
    client.force_login(attendance_lead)
    path = reverse("letters:compose", args=[school.urn, family.pk])
    form = {"template": "formal_warning", "meeting_on": "2025-12-03", "token": "abc123"}

    preview = client.post(path, {**form, "preview": "1"}, HTTP_HX_REQUEST="true")
    assert preview.status_code == 200
    assert preview.content.decode().lstrip().startswith('<div id="letter-preview">')
    assert "The meeting is on Wednesday 3 December 2025." in preview.content.decode()
    assert not Letter.objects.exists()

    first = client.post(path, {**form, "queue": "1"})
    again = client.post(path, {**form, "queue": "1"}, HTTP_HX_REQUEST="true")

    letter = Letter.objects.get()
    assert first["Location"] == again["HX-Redirect"] == reverse("letters:letter", args=[school.urn, letter.pk])
    assert (letter.template.key, letter.details, letter.queued_by) == (
        "formal_warning",
        {"meeting_on": "2025-12-03"},
        attendance_lead,
    )


def test_compose_says_when_the_same_letter_is_already_waiting_and_adds_another_only_when_asked(
    client, school, family, attendance_lead, letter
):
    client.force_login(attendance_lead)
    path = reverse("letters:compose", args=[school.urn, family.pk])
    form = {"template": "first_reminder", "token": "xyz789"}

    preview = client.post(path, {**form, "preview": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert f"is already waiting to print: {letter.reference}, queued" in preview and "not added again" not in preview
    refused = client.post(path, {**form, "queue": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert "It was not added again." in refused and 'name="queue" value="again"' in refused
    assert Letter.objects.filter(pupil=family).count() == 1

    response = client.post(path, {**form, "queue": "again"})
    assert response.status_code == 302
    assert Letter.objects.filter(pupil=family, template__key="first_reminder", status="queued").count() == 2
    second = Letter.objects.filter(pupil=family).latest("pk")
    assert AuditEvent.objects.filter(
        verb="change", pupil=family, what__contains=f"queued First reminder for pupil {family.upn} ({second.reference})"
    ).exists()
    # A second click on the same form is the same letter, as before: not a third, and no warning.
    again = client.post(path, {**form, "queue": "1"}, HTTP_HX_REQUEST="true")
    assert again["HX-Redirect"] == response["Location"]
    assert Letter.objects.filter(pupil=family).count() == 2


def test_a_stored_time_is_not_rechecked_but_moving_the_meeting_past_the_review_is(
    client, school, family, office, in_term
):
    letter = queue_letters(school, [family], key="attendance_contract")[0]
    letter.details = {"meeting_on": "2025-12-03", "meeting_time": "06:30", "review_on": "2025-12-10"}
    letter.save()
    client.force_login(office)
    path = reverse("letters:letter_details", args=[school.urn, letter.pk])
    client.post(path, {**letter.details, "meeting_place": "the library"})
    letter.refresh_from_db()
    assert letter.details["meeting_place"] == "the library"  # the old time did not block the edit

    response = client.post(path, {**letter.details, "meeting_on": "2025-12-12"})
    assert response.status_code == 422
    assert "The review comes after the meeting: choose a later date." in response.content.decode()
    letter.refresh_from_db()
    assert letter.details["meeting_on"] == "2025-12-03"


def test_compose_refuses_a_certificate_or_congratulations_that_would_be_untrue(
    client, school, family, attendance_lead, in_term
):
    from tests.interventions.conftest import fill_register

    def pupil(name, before_half_term, since):
        child = PupilFactory(school=school, forename=name)
        fill_register(child, date(2025, 9, 1), date(2025, 10, 24), lambda d, s: before_half_term[s])
        fill_register(child, date(2025, 11, 3), date(2025, 11, 26), lambda d, s: since[s])
        return child

    present, absent = ("/", "\\"), ("/", "O")
    perfect, better, worse = pupil("Pat", present, present), pupil("Bo", absent, present), pupil("Wyn", present, absent)
    client.force_login(attendance_lead)

    def compose(child, key, button):
        path = reverse("letters:compose", args=[school.urn, child.pk])
        return client.post(path, {"template": key, "token": f"{key.replace('_', '')}{child.pk}{button}", button: "1"})

    preview = compose(family, "certificate_100", "preview").content.decode()
    assert 'id="untrue"' in preview and "a 100% attendance certificate would not be true" in preview
    refused = compose(family, "certificate_100", "queue")
    assert refused.status_code == 422
    assert "Alex has missed" in refused.content.decode() and not Letter.objects.exists()
    assert compose(worse, "congratulations", "queue").status_code == 422
    assert "is not above the rest of the school year" in compose(worse, "congratulations", "preview").content.decode()
    assert not Letter.objects.exists()

    assert compose(perfect, "certificate_100", "queue").status_code == 302
    assert compose(better, "congratulations", "queue").status_code == 302
    assert sorted(Letter.objects.values_list("pupil__forename", "template__key")) == [
        ("Bo", "congratulations"),
        ("Pat", "certificate_100"),
    ]


def test_a_letter_composed_at_the_weekend_counts_the_register_up_to_friday(
    client, school, family, attendance_lead, monkeypatch
):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 29))
    client.force_login(attendance_lead)
    path = reverse("letters:compose", args=[school.urn, family.pk])
    client.post(path, {"template": "first_reminder", "token": "weekend1", "queue": "1"})
    assert Letter.objects.get().queued_on == date(2025, 11, 28)


def test_compose_reports_a_bad_form(client, school, family, attendance_lead):
    client.force_login(attendance_lead)

    response = client.post(
        reverse("letters:compose", args=[school.urn, family.pk]),
        {"template": "formal_warning", "meeting_time": "15:30", "token": "abc"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 422
    assert "Give the meeting&#x27;s date as well as its time." in response.content.decode()


def test_teacher_cannot_compose_even_for_their_own_class(client, school, family, class_teacher):
    client.force_login(class_teacher)

    assert client.get(reverse("letters:compose", args=[school.urn, family.pk])).status_code == 404


def post_bulk(client, school, form):
    """Ask for bulk letters as the page's form does, and follow on to where it leads."""
    return client.post(reverse("letters:bulk", args=[school.urn]), form, follow=True)


def test_bulk_termly_reports_for_a_chosen_term(client, school, family, office):
    from tests.interventions.conftest import fill_register

    fill_register(PupilFactory(school=school), date(2025, 9, 1), date(2025, 10, 24), lambda d, s: "/\\"[s])
    PupilFactory(school=school, surname="Unmarked")  # no register in the term: no report
    client.force_login(office)
    page = client.get(reverse("letters:bulk", args=[school.urn])).content.decode()
    assert "Autumn term 2025/26" in page

    response = post_bulk(client, school, {"template": "termly_report", "start": "2025-09-01", "end": "2025-10-24"})

    assert "2 letters added to the print queue (0 were already there)." in response.content.decode()
    assert set(Letter.objects.values_list("period_start", "period_end")) == {(date(2025, 9, 1), date(2025, 10, 24))}


def test_bulk_certificates_for_a_half_term_still_running_count_to_the_register_day_and_say_so(
    client, school, office, monkeypatch
):
    from tests.interventions.conftest import fill_register

    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 30))  # a Sunday in Autumn 2
    perfect, patchy = PupilFactory(school=school, forename="Pat"), PupilFactory(school=school, forename="Bo")
    fill_register(perfect, date(2025, 11, 3), date(2025, 11, 28), lambda d, s: "/\\"[s])
    fill_register(patchy, date(2025, 11, 3), date(2025, 11, 28), lambda d, s: "/O"[s])
    client.force_login(office)

    response = post_bulk(
        client, school, {"template": "certificate_100", "period": "2025-11-03:2025-12-19:Autumn 2 2025/26"}
    )

    page = response.content.decode()
    assert "1 letter added to the print queue (0 were already there)." in page
    assert (
        "Autumn 2 2025/26 is not over: these count attendance from Monday 3 November 2025 to Friday 28 November" in page
    )
    (letter,) = Letter.objects.all()
    assert (letter.pupil, letter.period_end) == (perfect, date(2025, 11, 28))  # the Friday, not Sunday
    assert letter.period_name == "Autumn 2 2025/26 so far"


def test_bulk_letters_for_dates_running_past_today_are_named_by_the_days_they_count(
    client, school, family, office, monkeypatch
):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 30))  # a Sunday
    client.force_login(office)
    response = post_bulk(client, school, {"template": "termly_report", "start": "2025-11-03", "end": "2025-12-19"})
    assert "3 November to 19 December 2025 is not over: these count attendance from Monday 3 November" in (
        response.content.decode()
    )
    assert Letter.objects.get().period_name == "3 November to 28 November 2025"


def test_bulk_certificates_that_find_nobody_say_why(client, school, family, office):
    client.force_login(office)
    response = post_bulk(client, school, {"template": "certificate_100", "start": "2025-09-01", "end": "2025-10-24"})
    assert "0 letters added to the print queue (0 were already there). No pupil on roll attended every" in (
        response.content.decode()
    )


# --- templates and settings -------------------------------------------------------------------------


def test_template_edit_refuses_a_bad_template_with_its_line(client, school, attendance_lead):
    client.force_login(attendance_lead)
    body = "Dear {{ carer.name }},\n\nWe miss {{ pupil.forname }}."

    response = client.post(
        reverse("letters:template_edit", args=[school.urn, "first_reminder"]),
        {"name": "First reminder", "subject": "Hello", "body": body, "layout": "letter", "is_active": "on"},
    )

    assert response.status_code == 422
    assert "Line 3: &#x27;{{ pupil.forname }}&#x27; is not a merge field." in response.content.decode()
    assert not LetterTemplate.objects.exists()


def test_an_earlier_wording_or_the_shipped_one_can_be_opened_and_saved_again(
    client, school, other_school, attendance_lead
):
    from django.utils.html import escape

    from letters.models import LetterTemplateRevision

    client.force_login(attendance_lead)
    path = reverse("letters:template_edit", args=[school.urn, "first_reminder"])
    fields = {"name": "First reminder", "subject": "Hello", "layout": "letter", "is_active": "on"}
    for body in ("Dear {{ carer.salutation }},\n\nOur first wording.", "Dear {{ carer.salutation }},\n\nOur second."):
        client.post(path, {**fields, "body": body, "save": "1"})
    first, second = LetterTemplateRevision.objects.order_by("saved_at", "pk")

    page = client.get(path).content.decode()
    assert "Earlier wordings" in page
    assert f'href="?version={first.pk}"' in page and f'href="?version={second.pk}"' not in page  # second: in use
    assert 'href="?version=shipped"' in page

    opened = client.get(path, {"version": first.pk}).content.decode()
    assert escape("Our first wording.") in opened and "Our second." not in opened.split("</textarea>")[0]
    assert "Nothing has changed yet" in opened
    assert LetterTemplate.objects.get().body.endswith("Our second.")  # only opened, not saved

    shipped = client.get(path, {"version": "shipped"}).content.decode()
    assert escape(DEFAULT_TEMPLATES["first_reminder"].body.splitlines()[2]) in shipped
    assert "the wording as shipped" in shipped

    # Another school's wording is not theirs to open: the editor holds their own.
    elsewhere = LetterTemplate.objects.create(school=other_school, key="first_reminder", name="Theirs", body="Secret")
    theirs = LetterTemplateRevision.objects.create(template=elsewhere, name="Theirs", body="Secret", layout="letter")
    page = client.get(path, {"version": theirs.pk}).content.decode()
    assert "Secret" not in page and "Our second." in page

    client.post(path, {**fields, "body": first.body, "save": "1"})
    assert LetterTemplate.objects.get(school=school).body == first.body
    assert LetterTemplateRevision.objects.filter(template__school=school).count() == 3


def test_template_edit_saves_and_documents_the_merge_fields(client, school, attendance_lead):
    client.force_login(attendance_lead)
    path = reverse("letters:template_edit", args=[school.urn, "first_reminder"])

    page = client.get(path).content.decode()
    assert "attendance.hours_lost" in page and "Hours of lost learning" in page
    assert "Sam Sample" in page  # the preview, for a made-up pupil

    response = client.post(
        path,
        {
            "name": "Reminder",
            "subject": "Hello",
            "body": "Dear {{ carer.name }}",
            "layout": "letter",
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    assert LetterTemplate.objects.get(key="first_reminder").body == "Dear {{ carer.name }}"


def test_a_template_is_edited_only_when_its_wording_differs_from_what_was_shipped(
    client, school, letter, attendance_lead
):
    """Queuing a letter saves the school's copy of its template word for word: that is not an edit."""
    client.force_login(attendance_lead)
    attendance_lead.first_name, attendance_lead.last_name = "Alice", "Hart"
    attendance_lead.save()
    templates = reverse("letters:templates", args=[school.urn])
    assert LetterTemplate.objects.filter(key="first_reminder").exists()

    def wording(page, name):
        row = page[page.index(f">{name}</a>") :]
        return row[: row.index("</tr>")]

    name = DEFAULT_TEMPLATES["first_reminder"].name
    assert "As shipped" in wording(client.get(templates).content.decode(), name)
    shipped = DEFAULT_TEMPLATES["first_reminder"]
    client.post(
        reverse("letters:template_edit", args=[school.urn, "first_reminder"]),
        {
            "name": shipped.name,
            "subject": shipped.subject,
            "body": shipped.body + "\nOur own words.",
            "layout": "letter",
            "is_active": "on",
        },
    )
    row = wording(client.get(templates).content.decode(), name)
    assert "Edited " in row and "by Alice Hart" in row


def test_template_preview_with_htmx_saves_nothing(client, school, attendance_lead):
    client.force_login(attendance_lead)

    response = client.post(
        reverse("letters:template_edit", args=[school.urn, "first_reminder"]),
        {"name": "R", "subject": "S", "body": "Hello {{ pupil.forename }}", "layout": "letter", "preview": "1"},
        HTTP_HX_REQUEST="true",
    )

    assert response.content.decode().lstrip().startswith('<div id="template-preview">')
    assert "Hello Sam" in response.content.decode()
    assert not LetterTemplate.objects.exists()


def test_a_new_template_needs_a_new_short_name(client, school, attendance_lead):
    client.force_login(attendance_lead)
    path = reverse("letters:template_new", args=[school.urn])
    form = {
        "key": "holiday",
        "name": "Holiday",
        "subject": "Holiday",
        "body": "Dear {{ carer.name }}",
        "layout": "letter",
    }

    assert client.post(path, form).status_code == 302
    assert client.post(path, form).status_code == 422
    assert LetterTemplate.objects.filter(key="holiday").count() == 1


def test_settings_page_saves_the_colours(client, school, attendance_lead):
    client.force_login(attendance_lead)

    response = client.post(
        reverse("letters:settings", args=[school.urn]),
        {"addressing": "joint", "rag_green_from": "95", "rag_amber_from": "85", "footer": "Ask us"},
    )

    assert response.status_code == 302
    assert (school.letter_settings.rag_green_from, school.letter_settings.addressing) == (95, "joint")


# --- the letterhead ----------------------------------------------------------------------------

SETTINGS = {"addressing": "each", "rag_green_from": "96", "rag_amber_from": "90", "footer": ""}
LETTERHEAD = {
    "address": "Mill Road\nLeeds\nLS1 4AB",
    "phone": "0113 496 0000",
    "email": "office@northfield.example",
    "signatory_name": "Ms R. Patel",
    "signatory_role": "Head of School",
}


def test_the_settings_page_sets_the_letterhead_every_letter_prints(client, school, letter, attendance_lead, tmp_path):
    client.force_login(attendance_lead)
    page = client.get(reverse("letters:settings", args=[school.urn])).content.decode()
    assert "1 School Lane\nTownsville\nTS1 1AA</textarea>" in page  # what the school holds now
    assert "Remove the current logo" not in page  # there is none

    response = client.post(reverse("letters:settings", args=[school.urn]), {**SETTINGS, **LETTERHEAD})

    assert response.status_code == 302
    school.refresh_from_db()
    assert {name: getattr(school, name) for name in LETTERHEAD} == LETTERHEAD
    text = pdf_text(client.get(reverse("letters:letter_pdf", args=[school.urn, letter.pk])).content, tmp_path)
    for printed in ("Mill Road", "LS1 4AB", "Telephone 0113 496 0000", "office@northfield.example"):
        assert printed in text


def test_a_bad_email_on_the_letterhead_is_refused_and_changes_nothing(client, school, attendance_lead):
    client.force_login(attendance_lead)
    before = (school.address, school.phone, school.email)

    response = client.post(
        reverse("letters:settings", args=[school.urn]), {**SETTINGS, **LETTERHEAD, "email": "office at northfield"}
    )

    assert response.status_code == 422
    assert "Enter a valid email address." in response.content.decode()
    school.refresh_from_db()
    assert (school.address, school.phone, school.email) == before


def test_the_queue_warns_before_printing_when_the_letterhead_lacks_what_families_need(
    client, school, letter, office, attendance_lead
):
    school.phone, school.signatory_name = "", ""
    school.save()
    queue = reverse("letters:queue", args=[school.urn])

    client.force_login(office)
    page = client.get(queue).content.decode()
    assert "Letters print without a phone number and the name of who signs." in page
    assert "The attendance lead can add them in Letterhead and settings before you print." in page

    client.force_login(attendance_lead)
    page = client.get(queue).content.decode()
    assert f'<a href="{reverse("letters:settings", args=[school.urn])}">Add them in Letterhead and settings</a>' in page

    school.phone, school.signatory_name = "0113 496 0000", "Ms R. Patel"
    school.save()
    assert "letterhead-missing" not in client.get(queue).content.decode()


def test_a_refused_logo_saves_none_of_the_letterhead_nor_changes_the_school_in_hand(school, attendance_lead):
    from django.core.exceptions import ValidationError
    from django.core.files.uploadedfile import SimpleUploadedFile

    from letters.services import letter_settings_save
    from pupils.models import AuditEvent

    school.phone = ""
    school.save()
    choices = {"addressing": "each", "rag_green_from": 96, "rag_amber_from": 90, "footer": ""}
    with pytest.raises(ValidationError):
        letter_settings_save(
            school=school, user=attendance_lead, **choices, **LETTERHEAD, logo=SimpleUploadedFile("logo.gif", b"GIF89a")
        )
    assert school.phone == ""  # what the page then says is missing comes from this object
    school.refresh_from_db()
    assert school.phone == ""
    assert not AuditEvent.objects.filter(what__startswith="letter settings").exists()

    letter_settings_save(school=school, user=attendance_lead, **choices, **LETTERHEAD)
    assert school.phone == LETTERHEAD["phone"]
    assert AuditEvent.objects.get(what__startswith="letter settings").what == (
        "letter settings saved; letterhead changed: address, phone number, e-mail, who signs, their role"
    )


@pytest.mark.parametrize(
    ("key", "asked"),
    [
        ("first_reminder", ["note"]),
        ("formal_warning", ["meeting_on", "meeting_time", "meeting_place", "note"]),
        ("attendance_contract", ["meeting_on", "meeting_time", "meeting_place", "review_on", "note"]),
        ("certificate_100", []),
    ],
)
def test_a_letter_asks_only_for_the_details_its_template_prints(client, school, family, office, in_term, key, asked):
    letter = queue_letters(school, [family], key=key)[0]
    client.force_login(office)
    page = client.get(reverse("letters:letter", args=[school.urn, letter.pk]))
    form = page.context["details_form"]
    assert (list(form.fields) if form else []) == asked
    assert ("Details for this letter" in page.content.decode()) == bool(asked)

    # A meeting sent anyway (an old page, a hand-made request) is not kept on a letter that never prints one.
    response = client.post(
        reverse("letters:letter_details", args=[school.urn, letter.pk]),
        {"meeting_on": "2025-12-03", "meeting_time": "15:30", "note": "See you soon"},
    )
    assert response.status_code == (302 if asked else 404)
    letter.refresh_from_db()
    assert set(letter.details) == {"meeting_on", "meeting_time", "note"} & set(asked)


def test_a_composed_letter_keeps_only_the_details_it_prints(client, school, family, attendance_lead, in_term):
    client.force_login(attendance_lead)
    path = reverse("letters:compose", args=[school.urn, family.pk])
    details = {"meeting_on": "2025-12-03", "meeting_time": "15:30", "note": "Well done this week"}
    client.post(path, {"template": "first_reminder", "token": "abc123", "queue": "1", **details})
    client.post(path, {"template": "formal_warning", "token": "def456", "queue": "1", **details})
    kept = {letter.template.key: letter.details for letter in Letter.objects.all()}
    assert kept == {
        "first_reminder": {"note": "Well done this week"},
        "formal_warning": {"meeting_on": "2025-12-03", "meeting_time": "15:30", "note": "Well done this week"},
    }


def test_a_template_printing_only_a_meetings_time_asks_for_its_date_too(school, in_term):
    from letters.forms import DetailsForm
    from letters.models import LetterTemplate

    template = LetterTemplate(
        school=school, key="custom", name="Custom", subject="", body="Come at {{ meeting.time }}."
    )
    asked = services.letter_details_asked(template)
    assert asked == {"meeting_on", "meeting_time", "meeting_place"}
    form = DetailsForm({"meeting_time": "15:30"}, school=school, asked=asked)
    assert not form.is_valid()
    assert form.errors["meeting_on"] == ["Give the meeting's date as well as its time."]


def test_printing_only_letters_to_pupils_who_have_left_says_so_once(client, school, family, office):
    from django.utils import timezone as tz

    from interventions import services as interventions_services
    from interventions.models import StageChange
    from tests.interventions.conftest import SIMPLE_LADDER

    ladder, _ = interventions_services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
    change = StageChange.objects.create(
        pupil=family, ladder=ladder, to_stage=ladder.stages.get(key="concern"), on=TODAY, kind="initial"
    )
    services.letters_queue_for_stage_change(stage_change=change, letter_keys=["first_reminder"], on=TODAY)
    family.leaving_on = tz.localdate() - timedelta(days=1)
    family.save()
    client.force_login(office)
    response = client.post(reverse("letters:print", args=[school.urn]), {"scope": "all"}, follow=True)
    body = response.content.decode()
    assert "Withdrawn, not printed, as the pupil has left the school: Alex Smith (First reminder)." in body
    assert "None of these letters is waiting to print" not in body
