"""Queueing letters: from the night's stage changes, from staff, in bulk; each letter once."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from interventions import services as interventions_services
from interventions.models import StageChange
from letters import merge, selectors, services
from letters.models import Letter, LetterSettings, PrintBatch
from pupils.models import AttendanceMark, AuditEvent
from pupils.services import school_calendar
from tests.factories import ContactFactory, PupilFactory
from tests.interventions.conftest import SIMPLE_LADDER, fill_register

AS_OF = date(2025, 11, 26)


@pytest.fixture
def ladder(school):
    loaded, _ = interventions_services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
    return loaded


def move(pupil, ladder, stage_key):
    stage = ladder.stages.get(key=stage_key)
    before = StageChange.objects.filter(pupil=pupil, ladder=ladder).order_by("-pk").first()
    return StageChange.objects.create(
        pupil=pupil,
        ladder=ladder,
        from_stage=before.to_stage if before else None,
        to_stage=stage,
        on=AS_OF,
        kind="manual" if before else "initial",
    )


def test_entering_a_stage_queues_its_letters_once(school, ladder, family):
    change = move(family, ladder, "concern")

    assert services.letters_queue_for_stage_change(stage_change=change, letter_keys=["first_reminder"], on=AS_OF) == 1
    assert services.letters_queue_for_stage_change(stage_change=change, letter_keys=["first_reminder"], on=AS_OF) == 0

    letter = Letter.objects.get()
    assert (letter.template.key, letter.stage_change, letter.queued_on, letter.status) == (
        "first_reminder",
        change,
        AS_OF,
        "queued",
    )
    assert selectors.recipient_of(letter).name == "Sarah Smith"


def test_the_nights_signal_reaches_the_letters_app(school, ladder, family):
    change = move(family, ladder, "pa")

    _, letters = interventions_services.stage_work_create(
        change=change, calendar=school_calendar(school), teachers={}, user=None
    )

    assert letters == 1
    assert Letter.objects.get().template.key == "second_warning"


def test_moving_on_withdraws_the_earlier_stages_unprinted_letters(school, ladder, family, attendance_lead, client):
    first = move(family, ladder, "concern")
    services.letters_queue_for_stage_change(stage_change=first, letter_keys=["first_reminder"], on=AS_OF)
    composed = services.letter_queue(school=school, pupil=family, key="formal_warning", on=AS_OF).letters[0]
    other = PupilFactory(school=school)
    elsewhere = move(other, ladder, "concern")
    services.letters_queue_for_stage_change(stage_change=elsewhere, letter_keys=["first_reminder"], on=AS_OF)

    later = move(family, ladder, "pa")
    services.letters_queue_for_stage_change(stage_change=later, letter_keys=["second_warning"], on=AS_OF)

    letters = {(letter.pupil, letter.template.key): letter for letter in Letter.objects.all()}
    stale = letters[(family, "first_reminder")]
    assert (stale.status, stale.superseded_by) == ("cancelled", later)
    assert letters[(family, "second_warning")].status == "queued"
    assert letters[(family, "formal_warning")].status == "queued" == composed.status  # a person chose to send it
    assert letters[(other, "first_reminder")].status == "queued"  # another pupil's letters are untouched
    assert AuditEvent.objects.filter(what__contains=f"letter {stale.reference} (").exists()

    client.force_login(attendance_lead)
    page = client.get(reverse("letters:letter", args=[school.urn, stale.pk])).content.decode()
    assert f"{family.forename} moved to {later.to_stage.name} before it printed" in page


@pytest.mark.parametrize(
    "letter_is",
    [{"status": "printed"}, {"print_batch": "printing"}, {"details": {"meeting_on": "2025-12-03"}}],
    ids=["printed", "printing", "meeting-arranged"],
)
def test_a_letter_printed_printing_or_personalised_is_not_withdrawn_by_a_later_move(school, ladder, family, letter_is):
    first = move(family, ladder, "concern")
    services.letters_queue_for_stage_change(stage_change=first, letter_keys=["first_reminder"], on=AS_OF)
    if letter_is.get("print_batch"):
        letter_is = {"print_batch": PrintBatch.objects.create(school=school, status="running")}
    Letter.objects.update(**letter_is)
    status = Letter.objects.get().status
    later = move(family, ladder, "pa")
    services.letters_queue_for_stage_change(stage_change=later, letter_keys=["second_warning"], on=AS_OF)
    assert Letter.objects.get(template__key="first_reminder").status == status


def test_a_move_up_to_a_stage_with_no_letter_keeps_the_earlier_letter(school, ladder, family):
    # Concern's reminder is the family's only word in writing if PA sends nothing: it still goes.
    first = move(family, ladder, "concern")
    services.letters_queue_for_stage_change(stage_change=first, letter_keys=["first_reminder"], on=AS_OF)
    services.letters_queue_for_stage_change(stage_change=move(family, ladder, "pa"), letter_keys=[], on=AS_OF)
    assert Letter.objects.get().status == "queued"


def test_a_move_down_withdraws_the_earlier_letter_even_with_no_letter_of_its_own(school, ladder, family):
    move(family, ladder, "concern")
    higher = move(family, ladder, "pa")
    services.letters_queue_for_stage_change(stage_change=higher, letter_keys=["second_warning"], on=AS_OF)
    lower = move(family, ladder, "concern")
    services.letters_queue_for_stage_change(stage_change=lower, letter_keys=[], on=AS_OF)
    assert (Letter.objects.get().status, Letter.objects.get().superseded_by) == ("cancelled", lower)


def test_a_new_ladders_first_placement_withdraws_nothing(school, ladder, family):
    first = move(family, ladder, "concern")
    services.letters_queue_for_stage_change(stage_change=first, letter_keys=["first_reminder"], on=AS_OF)
    other, _ = interventions_services.ladder_load(
        school=school, document={**SIMPLE_LADDER, "key": "other", "name": "Other"}, activate=True
    )
    placed = StageChange.objects.create(
        pupil=family, ladder=other, to_stage=other.stages.get(key="pa"), on=AS_OF, kind="initial"
    )
    services.letters_queue_for_stage_change(stage_change=placed, letter_keys=[], on=AS_OF)
    assert Letter.objects.get().status == "queued"


def test_re_running_the_move_changes_nothing_more(school, ladder, family):
    first = move(family, ladder, "concern")
    services.letters_queue_for_stage_change(stage_change=first, letter_keys=["first_reminder"], on=AS_OF)
    later = move(family, ladder, "pa")
    for _ in range(2):
        services.letters_queue_for_stage_change(stage_change=later, letter_keys=["second_warning"], on=AS_OF)
    assert sorted(Letter.objects.values_list("template__key", "status")) == [
        ("first_reminder", "cancelled"),
        ("second_warning", "queued"),
    ]
    assert AuditEvent.objects.filter(what__contains="withdrawn unprinted").count() == 1


def test_the_letter_quotes_the_stage_it_was_queued_for(school, ladder, family, office):
    change = move(family, ladder, "pa")
    services.letters_queue_for_stage_change(stage_change=change, letter_keys=["first_reminder"], on=AS_OF)
    letter = selectors.letters_for_render(Letter.objects.all())[0]

    (facts,) = selectors.letter_facts([letter], school=school, settings=LetterSettings(school=school), dated=AS_OF)

    assert (facts.stage.name, facts.stage.since) == (change.to_stage.name, AS_OF)


def test_a_letter_queued_by_a_saturday_night_counts_up_to_friday_and_says_so(school, family):
    saturday = date(2025, 11, 29)
    fill_register(family, date(2025, 11, 27), date(2025, 11, 28), lambda day, session: "/")  # to Friday
    services.letter_queue(school=school, pupil=family, key="first_reminder", on=saturday)
    letter = selectors.letters_for_render(Letter.objects.all())[0]

    (facts,) = selectors.letter_facts([letter], school=school, settings=LetterSettings(school=school), dated=saturday)

    assert facts.as_of == facts.period.end == date(2025, 11, 28)


def test_a_letter_queued_before_the_days_register_is_taken_says_the_last_day_it_counts(school, family):
    # A move approved on Wednesday 26th before the morning register: the letter's figures, and its
    # "up to", are Tuesday's, the last day with marks, not a day no register yet covers.
    AttendanceMark.objects.filter(pupil=family, date=AS_OF).delete()
    services.letter_queue(school=school, pupil=family, key="first_reminder", on=AS_OF)
    letter = selectors.letters_for_render(Letter.objects.all())[0]

    (facts,) = selectors.letter_facts([letter], school=school, settings=LetterSettings(school=school), dated=AS_OF)

    assert facts.as_of == date(2025, 11, 25)
    assert merge.merge_context(facts)["attendance"]["as_of"] == "25 November 2025"


def test_a_letter_for_each_carer_when_the_school_chooses(school, ladder, family):
    LetterSettings.objects.create(school=school, addressing="each")
    family.contacts.update(receives_letters=True)
    change = move(family, ladder, "concern")

    assert services.letters_queue_for_stage_change(stage_change=change, letter_keys=["first_reminder"], on=AS_OF) == 2
    assert services.letters_queue_for_stage_change(stage_change=change, letter_keys=["first_reminder"], on=AS_OF) == 0
    assert sorted(selectors.recipient_of(x).name for x in Letter.objects.all()) == ["David Smith", "Sarah Smith"]


def test_one_letter_per_home_by_default(school, family):
    family.contacts.update(receives_letters=True)
    ContactFactory(pupil=family, name="Dan Jones", address="3 Mill Lane\nOakfield", priority=3)

    queued = services.letter_queue(school=school, pupil=family, key="first_reminder", on=AS_OF)

    assert [selectors.recipient_of(x).name for x in queued.letters] == ["Sarah Smith and David Smith", "Dan Jones"]


def test_the_same_compose_form_sent_twice_queues_once(school, family, attendance_lead):
    first = services.letter_queue(
        school=school, pupil=family, key="formal_warning", on=AS_OF, user=attendance_lead, dedupe="compose:abc"
    )
    again = services.letter_queue(
        school=school, pupil=family, key="formal_warning", on=AS_OF, user=attendance_lead, dedupe="compose:abc"
    )

    assert (first.created, again.created) == (1, 0)
    assert again.letters == first.letters


def test_a_pupil_of_another_school_cannot_be_written_to(school, other_school):
    with pytest.raises(ValidationError, match="not at this school"):
        services.letter_queue(school=school, pupil=PupilFactory(school=other_school), key="first_reminder", on=AS_OF)


def test_termly_reports_go_once_to_every_pupil_on_roll_at_the_end_with_a_register_in_the_term(school, family):
    left = PupilFactory(school=school, surname="Gone", leaving_on=date(2025, 7, 18), start_on=date(2021, 9, 1))
    later = PupilFactory(school=school, surname="Later", start_on=date(2025, 10, 1))
    fill_register(later, date(2025, 10, 1), AS_OF, lambda day, session: "/\\"[session])
    moved_away = PupilFactory(school=school, surname="Moved", start_on=date(2021, 9, 1), leaving_on=date(2025, 10, 10))
    fill_register(moved_away, date(2025, 9, 1), date(2025, 10, 10), lambda day, session: "/\\"[session])
    PupilFactory(school=school, surname="Unmarked", start_on=date(2025, 11, 26))  # nothing to report yet
    args = {
        "school": school,
        "key": "termly_report",
        "start": date(2025, 9, 1),
        "end": AS_OF,
        "period_name": "Autumn",
        "on": AS_OF,
    }

    first = services.letters_bulk_queue(**args)
    again = services.letters_bulk_queue(**args)

    assert (first.created, again.created) == (2, 0)
    assert {x.pupil for x in again.letters} == {family, later}
    assert not {left, moved_away} & {x.pupil for x in first.letters}
    assert Letter.objects.count() == 2


def autumn_certificates(school):
    """The office's 100% certificates for the autumn term so far."""
    return services.letters_bulk_queue(
        school=school,
        key="certificate_100",
        start=date(2025, 9, 1),
        end=AS_OF,
        period_name="Autumn",
        on=AS_OF,
        full_attendance_only=True,
    )


def test_reports_for_a_term_past_go_only_to_families_still_at_the_school(school, family):
    """An autumn report run in late November is not sent to a family who left in early November."""
    left_since = PupilFactory(school=school, surname="Since", start_on=date(2021, 9, 1), leaving_on=date(2025, 11, 7))
    fill_register(left_since, date(2025, 9, 1), date(2025, 11, 7), lambda day, session: "/\\"[session])

    queued = services.letters_bulk_queue(
        school=school, key="termly_report", start=date(2025, 9, 1), end=date(2025, 10, 24), period_name="A1", on=AS_OF
    )

    assert {x.pupil for x in queued.letters} == {family}


def test_a_report_or_certificate_gives_a_joiners_own_first_day_and_a_leavers_last(school, family):
    later = PupilFactory(school=school, surname="Later", start_on=date(2025, 10, 1))
    fill_register(later, date(2025, 10, 1), AS_OF, lambda day, session: "/\\"[session])
    (letter,) = autumn_certificates(school).letters
    later.leaving_on = date(2025, 11, 21)  # left after it was queued: the letter says when they were last here
    later.save()
    loaded = selectors.letters_for_render(Letter.objects.filter(pk=letter.pk))

    (facts,) = selectors.letter_facts(loaded, school=school, settings=LetterSettings(school=school), dated=AS_OF)

    assert (facts.period.start, facts.period.end) == (date(2025, 10, 1), date(2025, 11, 21))
    on_roll = AttendanceMark.objects.filter(pupil=later, date__lte=later.leaving_on)
    assert facts.period.summary.possible == on_roll.count() > 0
    assert facts.period.summary.absent == 0
    assert merge.merge_context(facts)["period"]["start"] == "1 October 2025"


def test_termly_report_colours_follow_the_schools_thresholds(school, family, office):
    # Alex misses one session in ten: 90.0% (amber with 96/90, green with 90/80).
    (letter,) = services.letters_bulk_queue(
        school=school, key="termly_report", start=date(2025, 9, 1), end=AS_OF, period_name="Autumn", on=AS_OF
    ).letters
    loaded = selectors.letters_for_render(Letter.objects.filter(pk=letter.pk))

    def colour(settings):
        return selectors.letter_facts(loaded, school=school, settings=settings, dated=AS_OF)[0].rag

    assert colour(LetterSettings(school=school)) == "amber"
    assert colour(LetterSettings(school=school, rag_green_from=Decimal(90), rag_amber_from=Decimal(80))) == "green"
    assert colour(LetterSettings(school=school, rag_green_from=Decimal(99), rag_amber_from=Decimal(95))) == "red"


def test_certificates_are_made_only_for_full_attendance(school, family):
    perfect = PupilFactory(school=school, surname="Perfect")
    fill_register(perfect, date(2025, 9, 1), AS_OF, lambda day, session: "L" if session == 0 else "\\")
    PupilFactory(school=school, surname="Unmarked")  # no possible sessions: no certificate

    queued = autumn_certificates(school)

    assert [x.pupil for x in queued.letters] == [perfect]
    assert queued.letters[0].contact is None


def test_a_period_that_ends_before_it_starts_is_refused(school):
    with pytest.raises(ValidationError, match="must end on or after"):
        services.letters_bulk_queue(
            school=school, key="termly_report", start=AS_OF, end=date(2025, 9, 1), period_name="x", on=AS_OF
        )


# --- a pupil who has left ----------------------------------------------------------------------


@pytest.fixture
def leavers_letters(school, ladder, family):
    """The ladder's letters to Alex, who left three days ago, and to pupils still here; and the ones
    a person chose to send Alex."""
    from django.utils import timezone

    today = timezone.localdate()
    leaving_soon = PupilFactory(school=school, surname="Brown", leaving_on=today + timedelta(days=10))
    staying = PupilFactory(school=school, surname="Ahmed")
    met = PupilFactory(school=school, forename="Cara", surname="Carter")
    letters = {}
    for name, pupil in (
        ("left", family),
        ("leaving soon", leaving_soon),
        ("staying", staying),
        ("left, with a meeting arranged", met),
    ):
        services.letters_queue_for_stage_change(
            stage_change=move(pupil, ladder, "concern"), letter_keys=["first_reminder"], on=AS_OF
        )
        letters[name] = Letter.objects.get(pupil=pupil)
    services.letter_details_update(
        letter=letters["left, with a meeting arranged"], details={"note": "Bring the letter"}, user=None
    )
    letters["left, queued by a person"] = services.letter_queue(
        school=school, pupil=family, key="formal_warning", on=AS_OF
    ).letters[0]
    for pupil in (family, met):
        pupil.leaving_on = today - timedelta(days=3)
        pupil.save()
    return letters


def test_a_ladder_letter_to_a_pupil_who_has_left_is_withdrawn_when_printing(school, leavers_letters, office):
    from django.utils import timezone

    batch = services.letters_print(school=school, letter_ids=None, user=office)

    left = Letter.objects.get(pk=leavers_letters["left"].pk)
    assert (left.status, left.print_batch, left.cancelled_by) == (Letter.Status.CANCELLED, None, office)
    gone = timezone.localdate() - timedelta(days=3)
    assert left.withdrawn_because == f"Alex left the school on {gone.day} {gone:%b %Y}"
    assert (
        AuditEvent.objects.filter(pupil=left.pupil, what__contains=f"{left.reference} (First reminder)")
        .filter(what__contains="withdrawn unprinted: Alex left the school")
        .exists()
    )
    # Still on roll (leaving later), or chosen by a person: printed.
    printed = {
        name for name, letter in leavers_letters.items() if letter.pk in set(batch.letters.values_list("pk", flat=True))
    }
    assert printed == {"leaving soon", "staying", "left, with a meeting arranged", "left, queued by a person"}


def test_only_the_chosen_letters_are_withdrawn(school, leavers_letters, office):
    services.letters_print(school=school, letter_ids=[leavers_letters["staying"].pk], user=office)
    assert Letter.objects.get(pk=leavers_letters["left"].pk).status == Letter.Status.QUEUED


def test_the_office_is_told_which_letters_were_withdrawn_and_sees_who_has_left(client, school, leavers_letters, office):
    client.force_login(office)
    queue = client.get(reverse("letters:queue", args=[school.urn])).content.decode()
    row = queue[queue.index(leavers_letters["left"].reference) :]
    assert '<span class="badge text-bg-warning">Left ' in row[: row.index("</tr>")]
    staying = queue[queue.index(leavers_letters["staying"].reference) :]
    assert "Left " not in staying[: staying.index("</tr>")]

    response = client.post(reverse("letters:print", args=[school.urn]), {"scope": "all"}, follow=True)

    assert "Withdrawn, not printed, as the pupil has left the school: Alex Smith (First reminder)." in (
        response.content.decode()
    )
    page = client.get(reverse("letters:letter", args=[school.urn, leavers_letters["left"].pk])).content.decode()
    assert "Alex left the school on" in page and "before it printed." in page
    assert "This letter was withdrawn" in page
