"""A letter knows which letters about attendance went to the family before it (`earlier.count`).

So the shipped second and formal letters say "we wrote to you before" only
when a letter was in fact printed earlier this school year.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from letters import selectors, services
from letters.models import Letter, LetterSettings, LetterTemplate
from tests.factories import TODAY
from tests.letters.conftest import pdf_text, queue_letters

NOV_10 = datetime(2025, 11, 10, 15, 0, tzinfo=UTC)


def earlier(school, letter) -> tuple[date, ...]:
    letter = Letter.objects.select_related("pupil__registration_group", "pupil__year_group", "template").get(
        pk=letter.pk
    )
    (facts,) = selectors.letter_facts([letter], school=school, settings=LetterSettings(school=school), dated=TODAY)
    return facts.earlier_letters


def printed_on(letter, when, *, status=Letter.Status.PRINTED) -> None:
    Letter.objects.filter(pk=letter.pk).update(status=status, printed_at=when)


def test_only_letters_printed_this_year_by_the_day_this_one_was_queued_count(school, family):
    (first,) = queue_letters(school, [family], key="first_reminder")
    (second,) = queue_letters(school, [family], key="second_warning")
    assert earlier(school, second) == ()  # queued, not yet printed: the family has not had it

    printed_on(first, NOV_10)
    assert earlier(school, second) == (date(2025, 11, 10),)
    assert earlier(school, first) == ()  # a letter is not earlier than itself

    printed_on(first, datetime(2025, 11, 27, 9, 0, tzinfo=UTC))  # after the second was queued (26 Nov)
    assert earlier(school, second) == ()
    printed_on(first, datetime(2025, 7, 10, 9, 0, tzinfo=UTC))  # last school year
    assert earlier(school, second) == ()
    printed_on(first, NOV_10, status=Letter.Status.POSTED)
    assert earlier(school, second) == (date(2025, 11, 10),)
    printed_on(first, NOV_10, status=Letter.Status.CANCELLED)
    assert earlier(school, second) == ()


def test_reports_certificates_and_congratulations_are_not_letters_about_a_concern(school, family):
    from interventions import services as ladders
    from interventions.models import StageChange
    from tests.interventions.conftest import SIMPLE_LADDER

    ladder, _ = ladders.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)

    (report,) = queue_letters(school, [family], key="termly_report")
    (certificate,) = queue_letters(school, [family], key="certificate_100")
    (thanks,) = queue_letters(school, [family], key="congratulations")
    improving = ladder.stages.first()
    improving.track = "improving"
    improving.save()
    Letter.objects.filter(pk=thanks.pk).update(
        stage_change=StageChange.objects.create(
            pupil=family, ladder=ladder, to_stage=improving, on=TODAY, kind=StageChange.Kind.AUTOMATIC
        )
    )
    for letter in (report, certificate, thanks):
        printed_on(letter, NOV_10)
    (second,) = queue_letters(school, [family], key="second_warning")
    assert {t.layout for t in LetterTemplate.objects.filter(key__in=["termly_report", "certificate_100"])} == {
        "report",
        "certificate",
    }
    assert earlier(school, second) == ()


def test_letters_printed_in_the_same_batch_are_not_earlier_than_each_other(school, family, office):
    first, second = queue_letters(school, [family], key="first_reminder") + queue_letters(
        school, [family], key="second_warning"
    )
    batch = services.letters_print(school=school, letter_ids=[first.pk, second.pk], user=office)
    assert batch.status == "done"
    Letter.objects.filter(print_batch=batch).update(printed_at=NOV_10)  # printed before the second was queued
    assert earlier(school, second) == ()


def test_the_shipped_letters_say_we_wrote_before_only_when_we_did(school, family, office, tmp_path):
    def print_text(key: str) -> str:
        (letter,) = queue_letters(school, [family], key=key)
        batch = services.letters_print(school=school, letter_ids=[letter.pk], user=office)
        assert batch.status == "done", batch.error
        letter.refresh_from_db()
        return " ".join(pdf_text(letter.pdf.read(), tmp_path).split())

    text = print_text("second_warning")
    assert "We are writing because we are concerned about Alex's attendance, and we would like" in text
    assert "wrote to you" not in text and "written to you" not in text
    text = print_text("formal_warning")
    assert "We are writing about Alex's attendance" in text and "written to you before" not in text

    Letter.objects.filter(pupil=family).update(printed_at=NOV_10)  # those two went out on 10 November
    text = print_text("second_warning")
    assert "We wrote to you on 10 November 2025 about Alex's attendance. We are still concerned" in text
    text = print_text("formal_warning")
    assert "We have written to you before about Alex's attendance" in text
    assert "Attendance has not improved, so we are inviting you to a meeting" in text
