"""The print queue: print as one PDF, keep each letter's PDF, post once, reprint exactly, never twice by accident."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from interventions.models import ActionLog
from letters import pdf, services
from letters.models import Letter, PrintBatch
from pupils.models import AuditEvent
from tests.factories import PupilFactory
from tests.letters.conftest import pdf_pages, pdf_text, queue_letters


@pytest.fixture
def three_letters(school, family):
    others = [PupilFactory(school=school, surname=name) for name in ("Brown", "Ahmed")]
    return queue_letters(school, [family, *others])


def test_printing_makes_one_pdf_with_a_page_per_letter_and_keeps_each_letters_own(
    school, three_letters, office, tmp_path
):
    batch = services.letters_print(school=school, letter_ids=[x.pk for x in three_letters], user=office)

    assert (batch.status, batch.total, batch.pages) == ("done", 3, 3)
    combined = batch.pdf.read()
    assert pdf_pages(combined) == 3
    text = pdf_text(combined, tmp_path)
    # In print order: by class, then surname.
    assert text.index("Dear Parent/Carer") < text.index("Dear Sarah Smith")
    for letter in Letter.objects.filter(pk__in=[x.pk for x in three_letters]):
        own = letter.pdf.read()
        assert (letter.status, letter.printed_by, letter.pages, letter.print_batch) == ("printed", office, 1, batch)
        assert letter.pdf_sha256 == hashlib.sha256(own).hexdigest()
        assert pdf_text(own, tmp_path).count(f"Ref {letter.reference}") == 1  # the page footer, once
    assert AuditEvent.objects.filter(verb="export", what__contains=f"batch {batch.pk}").exists()


def test_printing_the_same_letters_twice_returns_the_same_stored_pdf(school, three_letters, office):
    ids = [x.pk for x in three_letters]
    first = services.letters_print(school=school, letter_ids=ids, user=office)
    stored = first.pdf.read()

    again = services.letters_print(school=school, letter_ids=ids, user=office)

    assert again.pk == first.pk
    assert services.print_batch_pdf(batch=again, user=office) == stored
    assert PrintBatch.objects.count() == 1


def test_printing_nothing_waiting_says_so(school, three_letters, office):
    services.letters_print(school=school, letter_ids=[three_letters[0].pk], user=office)
    services.letters_print(school=school, letter_ids=[three_letters[1].pk], user=office)

    with pytest.raises(ValidationError, match="None of these letters is waiting to print"):
        services.letters_print(school=school, letter_ids=[three_letters[0].pk, three_letters[1].pk], user=office)


def test_print_all_prints_only_what_is_waiting_at_this_school(school, other_school, three_letters, office):
    theirs = queue_letters(other_school, [PupilFactory(school=other_school)])[0]
    services.letter_cancel(letter=three_letters[2], user=office)

    batch = services.letters_print(school=school, letter_ids=None, user=office)

    assert set(batch.letters.values_list("pk", flat=True)) == {three_letters[0].pk, three_letters[1].pk}
    theirs.refresh_from_db()
    assert theirs.status == "queued"


def test_another_schools_letters_are_never_printed_by_id(school, other_school, office):
    theirs = queue_letters(other_school, [PupilFactory(school=other_school)])[0]

    with pytest.raises(ValidationError):
        services.letters_print(school=school, letter_ids=[theirs.pk], user=office)


def test_posting_logs_each_letter_on_the_pupils_record_once(school, three_letters, office, today):
    ids = [x.pk for x in three_letters]
    services.letters_print(school=school, letter_ids=ids, user=office)
    Letter.objects.filter(pk__in=ids).update(printed_at=datetime(2025, 12, 5, 10, 0, tzinfo=UTC))

    assert services.letters_mark_posted(school=school, letter_ids=ids, user=office, on=today) == 3
    assert services.letters_mark_posted(school=school, letter_ids=ids, user=office, on=today) == 0

    alex = Letter.objects.get(pk=three_letters[0].pk)
    assert (alex.status, alex.posted_by) == ("posted", office)
    actions = ActionLog.objects.filter(kind="letter")
    assert actions.count() == 3
    action = actions.get(pupil=alex.pupil)
    assert (action.title, action.by, action.occurred_on) == ("Letter posted: First reminder", office, today)
    assert action.notes == f"To Sarah Smith. Reference {alex.reference}, printed 5 Dec 2025."  # as dates read elsewhere


def test_a_printed_letter_keeps_who_it_was_sent_to_when_the_contact_changes(
    client, school, three_letters, office, today
):
    from letters import selectors

    alex = three_letters[0]
    services.letters_print(school=school, letter_ids=[alex.pk], user=office)
    sarah = alex.pupil.contacts.get(name="Sarah Smith")
    sarah.name, sarah.address = "Sarah Jones", "1 New Road\nOakfield"
    sarah.save()

    printed = Letter.objects.get(pk=alex.pk)
    sent = selectors.recipient_of(printed)
    assert (sent.name, sent.address_lines) == ("Sarah Smith", ("12 Elm Grove", "Oakfield", "WS2 5EG"))
    client.force_login(office)
    page = client.get(f"/school/{school.urn}/letters/{alex.pk}/").content.decode()
    assert "to Sarah Smith, 12 Elm Grove, Oakfield, WS2 5EG" in page and "Sarah Jones" not in page
    services.letters_mark_posted(school=school, letter_ids=[alex.pk], user=office, on=today)
    assert "To Sarah Smith." in ActionLog.objects.get(kind="letter").notes


def test_a_letter_not_printed_cannot_be_posted_and_nothing_changes(school, three_letters, office):
    services.letters_print(school=school, letter_ids=[three_letters[0].pk], user=office)

    with pytest.raises(ValidationError, match="1 of these letters has not been printed"):
        services.letters_mark_posted(school=school, letter_ids=[x.pk for x in three_letters[:2]], user=office)

    assert Letter.objects.filter(status="posted").count() == 0
    assert not ActionLog.objects.exists()


def test_reprint_returns_the_pdf_as_sent_and_never_requeues(school, three_letters, office, monkeypatch):
    letter = three_letters[0]
    services.letters_print(school=school, letter_ids=[letter.pk], user=office)
    letter.refresh_from_db()
    sent = letter.pdf.read()
    # Reprinting must not lay anything out again.
    monkeypatch.setattr(pdf, "pdf_render", lambda *a, **k: pytest.fail("reprint rendered again"))

    assert services.letter_reprint(letter=letter, user=office) == sent
    letter.refresh_from_db()
    assert letter.status == "printed"
    assert Letter.objects.filter(pupil=letter.pupil).count() == 1


def test_reprint_refuses_a_pdf_that_was_changed_after_printing(school, three_letters, office):
    letter = three_letters[0]
    services.letters_print(school=school, letter_ids=[letter.pk], user=office)
    letter.refresh_from_db()
    with open(letter.pdf.path, "ab") as handle:
        handle.write(b"tampered")

    with pytest.raises(ValidationError, match="does not match"):
        services.letter_reprint(letter=letter, user=office)


def test_reprint_of_a_queued_letter_is_refused(three_letters, office):
    with pytest.raises(ValidationError, match="has not been printed yet"):
        services.letter_reprint(letter=three_letters[0], user=office)


def test_big_batches_print_in_the_background_with_progress(
    school, three_letters, office, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        batch = services.letters_print(school=school, letter_ids=None, user=office, background_from=2)
    assert (batch.status, batch.total, len(callbacks)) == ("pending", 3, 1)
    assert Letter.objects.filter(print_batch=batch, status="queued").count() == 3  # claimed, not yet printed

    callbacks[0]()  # the worker picks the task up (CELERY_TASK_ALWAYS_EAGER runs it here)

    batch.refresh_from_db()
    assert (batch.status, batch.done, batch.percent, batch.pages) == ("done", 3, 100, 3)
    assert Letter.objects.filter(print_batch=batch, status="printed").count() == 3


def test_a_batch_rendered_twice_is_printed_once(school, three_letters, office):
    batch = services.letters_print(school=school, letter_ids=None, user=office)
    stored = batch.pdf.name

    again = services.print_batch_render(batch_id=batch.pk)

    assert (again.status, again.pdf.name) == ("done", stored)


def test_a_failed_print_puts_the_letters_back_in_the_queue(school, three_letters, office, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("the fonts went missing")

    monkeypatch.setattr(pdf, "pdf_render", broken)

    batch = services.letters_print(school=school, letter_ids=None, user=office)

    assert (batch.status, batch.error) == ("failed", "the fonts went missing")
    assert Letter.objects.filter(status="queued", print_batch__isnull=True).count() == 3


def test_cancelling_takes_a_letter_out_once_and_only_before_printing(school, three_letters, office):
    first, second, _ = three_letters

    assert services.letter_cancel(letter=first, user=office) is True
    assert services.letter_cancel(letter=first, user=office) is False
    services.letters_print(school=school, letter_ids=[second.pk], user=office)
    second.refresh_from_db()
    with pytest.raises(ValidationError, match="Only a letter waiting to print"):
        services.letter_cancel(letter=second, user=office)


def test_details_change_until_the_letter_prints(school, three_letters, office, tmp_path):
    letter = three_letters[0]
    services.letter_details_update(
        letter=letter, details={"meeting_on": "2025-12-03", "meeting_time": "15:30", "ignored": "x"}, user=office
    )
    letter.refresh_from_db()
    assert letter.details == {"meeting_on": "2025-12-03", "meeting_time": "15:30"}

    services.letters_print(school=school, letter_ids=[letter.pk], user=office)
    with pytest.raises(ValidationError, match="can no longer change"):
        services.letter_details_update(letter=letter, details={}, user=office)


def test_preview_html_is_exactly_what_prints(school, family, office, monkeypatch):
    (letter,) = queue_letters(school, [family], key="formal_warning")
    preview = services.letter_preview_html(letter=letter)
    printed: list[str] = []
    real = pdf.pdf_render

    def spy(sheets, **kwargs):
        printed.extend(html for _, html in sheets)
        return real(sheets, **kwargs)

    monkeypatch.setattr(pdf, "pdf_render", spy)
    services.letters_print(school=school, letter_ids=[letter.pk], user=office)

    assert printed == [preview]
    assert "Please contact us within the next week" in preview  # no meeting date given


def test_the_schools_logo_is_printed_on_every_letter(school, three_letters, attendance_lead, office):
    from io import BytesIO

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image
    from pypdf import PdfReader

    image = BytesIO()
    Image.new("RGB", (120, 60), "navy").save(image, format="PNG")
    services.letter_settings_save(
        school=school,
        user=attendance_lead,
        addressing="household",
        rag_green_from=96,
        rag_amber_from=90,
        footer="",
        logo=SimpleUploadedFile("logo.png", image.getvalue()),
    )

    batch = services.letters_print(school=school, letter_ids=None, user=office)

    pages = PdfReader(BytesIO(batch.pdf.read())).pages
    assert all(page.images for page in pages)


def test_the_settings_page_offers_to_remove_a_logo_only_once_there_is_one(client, school, attendance_lead, settings):
    from io import BytesIO

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse
    from PIL import Image

    client.force_login(attendance_lead)
    url = reverse("letters:settings", args=[school.urn])
    assert "Remove the current logo" not in client.get(url).content.decode()
    image = BytesIO()
    Image.new("RGB", (120, 60), "navy").save(image, format="PNG")
    choices = {"addressing": "household", "rag_green_from": 96, "rag_amber_from": 90, "footer": ""}
    logo = SimpleUploadedFile("logo.png", image.getvalue())
    services.letter_settings_save(school=school, user=attendance_lead, **choices, logo=logo)
    assert "Remove the current logo" in client.get(url).content.decode()


def test_a_long_letter_keeps_all_its_pages_and_the_next_starts_on_a_new_page(school, family, office, tmp_path):
    long_note = "\n\n".join(f"Paragraph {n}: " + "We are here to help. " * 30 for n in range(12))
    (long,) = queue_letters(school, [family], details={"note": long_note})
    (short,) = queue_letters(school, [PupilFactory(school=school, surname="Zed")])

    batch = services.letters_print(school=school, letter_ids=[long.pk, short.pk], user=office)

    long.refresh_from_db()
    short.refresh_from_db()
    assert long.pages >= 2 and short.pages == 1
    assert batch.pages == long.pages + 1
    own = long.pdf.read()
    assert pdf_pages(own) == long.pages
    assert "Paragraph 11" in pdf_text(own, tmp_path)
    assert "Paragraph" not in pdf_text(short.pdf.read(), tmp_path)


def test_batches_are_laid_out_in_chunks_and_joined_in_order(school, office, tmp_path, monkeypatch):
    monkeypatch.setattr(pdf, "CHUNK", 2)
    progress: list[str] = []
    real = services._progress
    monkeypatch.setattr(
        services,
        "_progress",
        lambda batch_id, phase: lambda d, t: (progress.append(f"{d}/{t}"), real(batch_id, phase)(d, t)),
    )
    pupils = [PupilFactory(school=school, surname=name) for name in ("Adams", "Baker", "Cole", "Dunn", "Ellis")]
    letters = queue_letters(school, pupils)

    batch = services.letters_print(school=school, letter_ids=None, user=office)

    assert progress == ["2/5", "4/5", "5/5"]
    combined = batch.pdf.read()
    text = pdf_text(combined, tmp_path)
    positions = [text.index(f"Ref {letter.reference}") for letter in letters]
    assert positions == sorted(positions)
    assert pdf_pages(combined) == 5
    for letter in Letter.objects.filter(pk__in=[x.pk for x in letters]):
        assert letter.reference in pdf_text(letter.pdf.read(), tmp_path)


def test_without_pypdf_letters_still_print_one_to_a_page(school, three_letters, monkeypatch, tmp_path):
    import sys

    from letters.selectors import letters_for_render

    loaded = letters_for_render(Letter.objects.filter(pk__in=[x.pk for x in three_letters]))
    sheets = services.letter_sheets(loaded, school=school, dated=loaded[0].queued_on)
    monkeypatch.setitem(sys.modules, "pypdf", None)  # a bare install: the import fails

    rendered = pdf.pdf_render(sheets)

    assert rendered.pages == 3
    for letter, (own, pages) in zip(loaded, rendered.letters, strict=True):
        assert pages == 1 and letter.reference in pdf_text(own, tmp_path)


def test_a_long_unbroken_note_wraps_inside_the_page(school, family, office, tmp_path):
    url = "https://example.org/" + "x" * 180  # a pasted link, with nowhere to break
    (letter,) = queue_letters(school, [family], details={"note": url})
    batch = services.letters_print(school=school, letter_ids=[letter.pk], user=office)
    text = pdf_text(batch.pdf.read(), tmp_path)
    assert url not in text  # not on one line running off the paper...
    assert url in "".join(line.strip() for line in text.splitlines())  # ...but all there, wrapped


def test_letters_greet_each_carer_by_the_salutation_the_mis_gives_or_else_by_name(school, office, tmp_path):
    from tests.factories import ContactFactory

    home = "12 Elm Grove\nOakfield\nWS2 5EG"
    alex = PupilFactory(school=school, forename="Alex", surname="Smith")
    ContactFactory(pupil=alex, name="Sarah Smith", salutation="Mrs Smith", address=home, priority=1)
    ContactFactory(pupil=alex, name="David Smith", address=home, priority=2)
    sam = PupilFactory(school=school, forename="Sam", surname="Jones")
    ContactFactory(pupil=sam, name="Jo Jones", salutation="Dr Jones", address="3 Mill Lane\nOakfield", priority=1)
    letters = queue_letters(school, [alex, sam])

    batch = services.letters_print(school=school, letter_ids=[x.pk for x in letters], user=office)

    text = pdf_text(batch.pdf.read(), tmp_path)
    assert "Dear Mrs Smith and David Smith," in text and "Dear Dr Jones," in text
    assert "Sarah Smith and David Smith" in text  # the address block names them in full
