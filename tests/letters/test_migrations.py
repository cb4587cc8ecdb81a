"""Data migrations of letters: what they change in a database that already holds a school's templates."""

from __future__ import annotations

import importlib

import pytest

from letters.defaults import DEFAULT_TEMPLATES
from letters.models import LetterTemplate, LetterTemplateRevision
from tests.factories import SchoolFactory
from tests.migrating import migrate_to, migrate_to_latest

REWORD = importlib.import_module("letters.migrations.0003_letters_say_we_wrote_only_when_we_did")
AGREE = importlib.import_module("letters.migrations.0005_letters_agree_with_their_numbers")
GREET = importlib.import_module("letters.migrations.0008_letters_greet_by_salutation")
CONCERN = importlib.import_module("letters.migrations.0009_concern_letter_says_what_its_figures_mean")
JOINED = importlib.import_module("letters.migrations.0010_letters_say_when_a_pupil_joined")


def shipped_before_0010(key: str) -> str:
    body = DEFAULT_TEMPLATES[key].body
    for old, new in JOINED.REWORDED:
        body = body.replace(new, old)
    return body


def shipped_before_0009(key: str) -> str:
    body = shipped_before_0010(key)
    for old, new in CONCERN.REWORDED:
        body = body.replace(new, old)
    return body


@pytest.mark.django_db  # only because every test here puts the schema back after it
def test_undoing_0010_gives_back_the_letters_exactly_as_they_were_shipped_before_it():
    """Frozen from the release before 0010 (tests/letters/shipped_before_0010.json), not derived from the
    migration's own pairs: so the pairs' old texts are checked against what schools really have."""
    import json
    from pathlib import Path

    frozen = json.loads((Path(__file__).parent / "shipped_before_0010.json").read_text(encoding="utf-8"))
    assert {key: shipped_before_0010(key) for key in DEFAULT_TEMPLATES} == frozen


@pytest.fixture(autouse=True)
def _latest_schema_after():
    """Each test stops part-way through the migrations: put the schema back for the tests that follow."""
    yield
    migrate_to_latest()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_unedited_copies_of_the_old_wording_get_the_new_and_edited_ones_are_left_alone():
    migrate_to(("letters", "0002_print_queue"))
    try:
        (_, old_second, new_second), (_, old_formal, new_formal) = REWORD.REWORDED
        oakfield, birchwood = SchoolFactory(), SchoolFactory()
        unedited = LetterTemplate.objects.create(school=oakfield, key="second_warning", name="Second", body=old_second)
        edited = LetterTemplate.objects.create(
            school=birchwood, key="second_warning", name="Second", body=old_second + "\nOur own words."
        )
        formal = LetterTemplate.objects.create(school=oakfield, key="formal_warning", name="Formal", body=old_formal)
    finally:
        migrate_to(("letters", "0003_letters_say_we_wrote_only_when_we_did"))
    for template in (unedited, edited, formal):
        template.refresh_from_db()
    assert (unedited.body, formal.body) == (new_second, new_formal)
    # As shipped when the migration was written: what the next rewording starts from.
    assert new_second == {key: old for key, old, _ in AGREE.REWORDED}["second_warning"]
    assert edited.body.endswith("Our own words.") and "We wrote to you before" in edited.body
    assert list(LetterTemplateRevision.objects.filter(template=unedited).values_list("body", flat=True)) == [
        unedited.body
    ]
    assert not LetterTemplateRevision.objects.filter(template=edited).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_unedited_letters_learn_to_say_one_session_was():
    migrate_to(("letters", "0004_letters_withdrawn_when_the_pupil_moves"))
    try:
        school = SchoolFactory()
        for key, old, _ in AGREE.REWORDED:
            LetterTemplate.objects.create(school=school, key=key, name=key, body=old)
        edited = LetterTemplate.objects.create(
            school=SchoolFactory(), key="first_reminder", name="Ours", body=AGREE.REWORDED[0][1] + "\nOurs."
        )
    finally:
        migrate_to(("letters", "0005_letters_agree_with_their_numbers"))
    for key, _, new in AGREE.REWORDED:
        assert LetterTemplate.objects.get(school=school, key=key).body == new
        # As shipped now, but for the greeting and the letter of concern's two lines, changed since (0008, 0009).
        assert new == shipped_before_0009(key).replace(GREET.NEW, GREET.OLD, 1)
    edited.refresh_from_db()
    assert edited.body.endswith("Ours.") and "sessions_missed }} sessions" in edited.body


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_concern_letter_under_its_shipped_name_takes_the_new_name_and_a_schools_own_name_stays():
    rename = importlib.import_module("letters.migrations.0006_concern_letter_named_for_what_it_says")
    migrate_to(("letters", "0005_letters_agree_with_their_numbers"))
    try:
        shipped = LetterTemplate.objects.create(school=SchoolFactory(), key="second_warning", name=rename.OLD)
        own = LetterTemplate.objects.create(school=SchoolFactory(), key="second_warning", name="Our second letter")
    finally:
        migrate_to_latest()
    shipped.refresh_from_db()
    own.refresh_from_db()
    assert (shipped.name, own.name) == ("Letter of concern about attendance", "Our second letter")
    assert DEFAULT_TEMPLATES["second_warning"].name == rename.NEW


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_letters_that_greet_by_name_greet_by_salutation_and_others_stay_as_written():
    migrate_to(("letters", "0007_letters_keep_who_they_were_sent_to"))
    try:
        school = SchoolFactory()
        shipped = LetterTemplate.objects.create(
            school=school,
            key="first_reminder",
            name="First",
            body=shipped_before_0009("first_reminder").replace(GREET.NEW, GREET.OLD, 1),
        )
        edited = LetterTemplate.objects.create(
            school=school, key="second_warning", name="Ours", body="Dear {{ carer.name }},\n\nOur own words."
        )
        own = LetterTemplate.objects.create(
            school=school, key="formal_warning", name="Formal", body="Dear Parent/Carer of {{ pupil.forename }},\n\nHi."
        )
        later = LetterTemplate.objects.create(
            school=school, key="congratulations", name="Well done", body="Hello.\n\nDear {{ carer.name }},"
        )
    finally:
        migrate_to(("letters", "0008_letters_greet_by_salutation"))
    for template in (shipped, edited, own, later):
        template.refresh_from_db()
    assert shipped.body == shipped_before_0009("first_reminder")  # as shipped then: 0009 rewords a line of it
    assert edited.body == "Dear {{ carer.salutation }},\n\nOur own words."
    assert own.body.startswith("Dear Parent/Carer of") and later.body.endswith("Dear {{ carer.name }},")
    assert list(LetterTemplateRevision.objects.filter(template=edited).values_list("body", flat=True)) == [edited.body]
    assert not LetterTemplateRevision.objects.filter(template__in=[own, later]).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_letter_of_concerns_two_lines_are_reworded_wherever_they_stand_as_shipped():
    migrate_to(("letters", "0008_letters_greet_by_salutation"))
    try:
        school = SchoolFactory()
        shipped = LetterTemplate.objects.create(
            school=school, key="second_warning", name="Concern", body=shipped_before_0009("second_warning")
        )
        first = LetterTemplate.objects.create(
            school=school, key="first_reminder", name="First", body=shipped_before_0009("first_reminder")
        )
        old_line = CONCERN.REWORDED[0][0]
        edited = LetterTemplate.objects.create(
            school=SchoolFactory(), key="second_warning", name="Ours", body="Our own opening.\n" + old_line + "Bye."
        )
        own = LetterTemplate.objects.create(
            school=school, key="formal_warning", name="Formal", body="- 3 sessions were authorised and 0 were not\n"
        )
    finally:
        migrate_to(("letters", "0009_concern_letter_says_what_its_figures_mean"))
    for template in (shipped, edited, own):
        template.refresh_from_db()
    assert shipped.body == shipped_before_0010("second_warning")
    first.refresh_from_db()
    assert first.body == DEFAULT_TEMPLATES["first_reminder"].body and "attendance.joined" in first.body
    assert edited.body == "Our own opening.\n" + CONCERN.REWORDED[0][1] + "Bye."
    assert own.body == "- 3 sessions were authorised and 0 were not\n"
    assert LetterTemplateRevision.objects.filter(template__in=[shipped, edited, first]).count() == 3
    assert not LetterTemplateRevision.objects.filter(template=own).exists()

    migrate_to(("letters", "0008_letters_greet_by_salutation"))
    shipped.refresh_from_db()
    assert shipped.body == shipped_before_0009("second_warning")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_letters_with_the_years_figures_learn_to_say_when_a_pupil_joined():
    migrate_to(("letters", "0009_concern_letter_says_what_its_figures_mean"))
    keys = ("second_warning", "formal_warning", "attendance_contract", "la_referral_notice", "termly_report")
    try:
        school = SchoolFactory()
        shipped = {
            key: LetterTemplate.objects.create(school=school, key=key, name=key, body=shipped_before_0010(key))
            for key in keys
        }
        old_line = JOINED.REWORDED[1][0]
        edited = LetterTemplate.objects.create(
            school=SchoolFactory(), key="formal_warning", name="Ours", body=f"Our own opening.\n{old_line} low."
        )
        own = LetterTemplate.objects.create(
            school=school, key="first_reminder", name="Ours", body="Up to today, attendance this school year is low."
        )
    finally:
        migrate_to(("letters", "0010_letters_say_when_a_pupil_joined"))
    for template in (*shipped.values(), edited, own):
        template.refresh_from_db()
    assert {key: template.body for key, template in shipped.items()} == {
        key: DEFAULT_TEMPLATES[key].body for key in keys
    }
    assert all("attendance.joined" in shipped[key].body for key in keys[:4])
    assert "did not miss a single session" in shipped["termly_report"].body
    assert edited.body == f"Our own opening.\n{JOINED.REWORDED[1][1]} low."
    assert own.body == "Up to today, attendance this school year is low."
    assert LetterTemplateRevision.objects.filter(template__in=[*shipped.values(), edited]).count() == 6
    assert not LetterTemplateRevision.objects.filter(template=own).exists()

    migrate_to(("letters", "0009_concern_letter_says_what_its_figures_mean"))
    for key, template in shipped.items():
        template.refresh_from_db()
        assert template.body == shipped_before_0010(key)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_0011_gives_posted_letters_the_day_their_record_says_as_corrected(school, family, office):
    from datetime import timedelta

    from django.utils import timezone

    from interventions.models import ActionLog
    from interventions.services import action_correct
    from letters import services
    from letters.models import Letter
    from tests.factories import PupilFactory
    from tests.letters.conftest import queue_letters

    corrected, plain, unrecorded = queue_letters(
        school, [family, PupilFactory(school=school), PupilFactory(school=school)]
    )
    ids = [corrected.pk, plain.pk, unrecorded.pk]
    Letter.objects.filter(pk__in=ids).update(status="printed", printed_at=timezone.now() - timedelta(days=7))
    services.letters_mark_posted(school=school, letter_ids=ids, user=office)
    today = timezone.localdate()
    record = ActionLog.objects.get(pupil=corrected.pupil, kind="letter")
    action_correct(
        action=record,
        user=office,
        reason="Friday",
        occurred_on=today - timedelta(days=3),
        outcome="Posted 1st",
        notes="",
    )
    ActionLog.objects.filter(pupil=unrecorded.pupil, kind="letter").delete()
    marked = timezone.now() - timedelta(days=1)
    Letter.objects.filter(pk=unrecorded.pk).update(posted_at=marked)

    migrate_to(("letters", "0010_letters_say_when_a_pupil_joined"))
    migrate_to_latest()
    posted_on = dict(Letter.objects.filter(pk__in=ids).values_list("pk", "posted_on"))
    assert posted_on == {
        corrected.pk: today - timedelta(days=3),  # as its corrected record says
        plain.pk: today,
        unrecorded.pk: timezone.localdate(marked),  # no record: the day it was marked posted
    }


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_0012_links_each_posted_letter_to_the_entry_that_records_its_posting(school, family, office):
    from datetime import timedelta

    from django.utils import timezone

    from interventions.models import ActionLog
    from interventions.services import action_correct
    from letters import services
    from letters.models import Letter
    from tests.factories import PupilFactory
    from tests.letters.conftest import queue_letters

    other = PupilFactory(school=school)
    worded, plain, unposted = queue_letters(school, [family, other, PupilFactory(school=school)])
    ids = [worded.pk, plain.pk]
    Letter.objects.filter(pk__in=[*ids, unposted.pk]).update(
        status="printed", printed_at=timezone.now() - timedelta(days=7)
    )
    services.letters_mark_posted(school=school, letter_ids=ids, user=office)
    record = {letter.pk: Letter.objects.get(pk=letter.pk).posting_record_id for letter in (worded, plain)}
    # Its words corrected (the reference gone from them), and an entry on another pupil quoting it.
    action_correct(
        action=ActionLog.objects.get(pk=record[worded.pk]),
        user=office,
        reason="x",
        occurred_on=timezone.localdate(),
        outcome="Posted 1st",
        notes="",
    )
    ActionLog.objects.create(
        school=school,
        pupil=other,
        kind="letter",
        occurred_on=timezone.localdate(),
        outcome="Posted",
        notes=f"Reference {worded.reference}, said on the wrong pupil",
    )
    Letter.objects.update(posting_record=None)  # as letters were before 0012

    migrate_to(("letters", "0011_letters_know_the_day_they_were_posted"))
    migrate_to_latest()
    linked = dict(Letter.objects.values_list("pk", "posting_record_id"))
    assert linked == {worded.pk: record[worded.pk], plain.pk: record[plain.pk], unposted.pk: None}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_0012_does_not_take_a_hand_logged_letter_entry_for_the_posting_record(school, family, office, attendance_lead):
    from datetime import timedelta

    from django.utils import timezone

    from interventions.models import ActionLog
    from interventions.services import action_log
    from letters import services
    from letters.models import Letter
    from tests.letters.conftest import queue_letters

    [letter] = queue_letters(school, [family])
    Letter.objects.filter(pk=letter.pk).update(status="printed", printed_at=timezone.now() - timedelta(days=7))
    # Logged by hand on the same pupil, by someone else, quoting the reference as the record does: written
    # before the real record, so taking the earliest entry that names the letter would take this one.
    action_log(
        pupil=family,
        user=attendance_lead,
        kind="letter",
        occurred_on=timezone.localdate() - timedelta(days=2),
        outcome="Posted",
        notes=f"Reference {letter.reference}, copy sent to dad",
    )
    services.letters_mark_posted(school=school, letter_ids=[letter.pk], user=office)
    record = Letter.objects.get(pk=letter.pk).posting_record_id
    Letter.objects.update(posting_record=None, posted_on=None)

    migrate_to(("letters", "0010_letters_say_when_a_pupil_joined"))
    migrate_to_latest()
    letter.refresh_from_db()
    assert (letter.posting_record_id, letter.posted_on) == (record, timezone.localdate())
    assert ActionLog.objects.filter(kind="letter").count() == 2
