"""mark_correct and mark_explain: one session's mark set by hand, with its history kept."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from pupils.models import AttendanceMark, AuditEvent, ImportBatch, MarkChange
from pupils.services import mark_correct, mark_explain
from tests.factories import MarkFactory
from tests.pupils.importing import database_picture

MONDAY = date(2025, 11, 24)


def correct(pupil, user, *, day=MONDAY, session=0, code="I", reason="Mum rang"):
    return mark_correct(pupil=pupil, date=day, session=session, code=code, reason=reason, user=user)


def test_keeps_the_old_values_and_stamps_the_change(pupil, attendance_lead, school):
    batch = ImportBatch.objects.create(school=school, kind="marks", filename="week.csv", status="done")
    earlier = timezone.now() - timedelta(days=3)
    old = MarkFactory(
        pupil=pupil, date=MONDAY, code="L", minutes_late=12, comment="bus", batch=batch, changed_at=earlier
    )
    mark = correct(pupil, attendance_lead, code="n", reason="  Not late:   absent  ")
    assert mark.pk == old.pk
    mark.refresh_from_db()
    assert (mark.code, mark.minutes_late, mark.comment, mark.batch_id, mark.recorded_by) == (
        "N",
        None,
        "bus",
        None,
        attendance_lead,
    )
    assert mark.changed_at > earlier
    change = MarkChange.objects.get()
    assert (change.old_code, change.new_code, change.old_minutes_late, change.old_comment) == ("L", "N", 12, "bus")
    assert (change.reason, change.changed_by, change.batch_id) == ("Not late: absent", attendance_lead, None)
    assert change.changed_at == mark.changed_at


def test_a_late_code_keeps_its_minutes(pupil, attendance_lead):
    MarkFactory(pupil=pupil, date=MONDAY, code="L", minutes_late=12)
    assert correct(pupil, attendance_lead, code="U").minutes_late == 12


def test_the_same_code_again_changes_nothing(pupil, attendance_lead):
    MarkFactory(pupil=pupil, date=MONDAY, code="N")
    correct(pupil, attendance_lead)
    before = database_picture(), AuditEvent.objects.count()
    correct(pupil, attendance_lead, reason="clicked twice")
    assert (database_picture(), AuditEvent.objects.count()) == before


@pytest.mark.parametrize(("session", "written", "stored"), [(0, "\\", "/"), (1, "/", "\\"), (0, "/", "/")])
def test_present_is_stored_as_the_sessions_own_mark(pupil, attendance_lead, session, written, stored):
    assert correct(pupil, attendance_lead, session=session, code=written, reason="Register").code == stored


def test_a_new_mark_has_no_history_but_is_audited(pupil, attendance_lead, school):
    mark = correct(pupil, attendance_lead, session=1, code="/", reason="Register not taken")
    assert (mark.session, mark.code, mark.recorded_by) == (1, "\\", attendance_lead)  # the afternoon's present mark
    assert not MarkChange.objects.exists()
    event = AuditEvent.objects.get()
    assert (event.school, event.pupil, event.user, event.verb) == (school, pupil, attendance_lead, "change")
    assert event.what == f"mark {pupil.upn} 2025-11-24 PM: no mark → \\ (Register not taken)"


def test_a_retired_sub_code_becomes_what_it_became_on_old_dates(pupil, attendance_lead, terms_2023):
    assert correct(pupil, attendance_lead, day=date(2023, 11, 20), code="I01").code == "I"


@pytest.mark.parametrize(
    ("day", "code", "field", "message"),
    [
        (
            date(2023, 11, 20),
            "J1",
            "code",
            "Code J1 cannot be used on Monday 20 November 2023: code 'J1' is only in force from 19 Aug 2024.",
        ),
        (
            MONDAY,
            "zz",
            "code",
            "ZZ is not an attendance code: choose one from the list, for example / or \\ (present), L (late), "
            "I (illness), M (medical appointment), O (unauthorised) or N (no reason yet).",
        ),
        (MONDAY, "", "code", "Enter an attendance code: a session cannot be set back to “no mark yet”."),
        (date(2025, 11, 22), "/", "__all__", "Saturday 22 November 2025 is a weekend, not a school day."),
        (
            date(2025, 10, 29),
            "/",
            "__all__",
            "Wednesday 29 October 2025 is outside the school's term dates, not a school day"
            " (if the school was open, correct its term dates first).",
        ),
    ],
)
def test_refuses_with_a_message_naming_the_problem_and_changes_nothing(
    pupil, attendance_lead, terms_2023, day, code, field, message
):
    MarkFactory(pupil=pupil, date=day, code="N")
    before = database_picture(), AuditEvent.objects.count()
    with pytest.raises(ValidationError) as refused:
        correct(pupil, attendance_lead, day=day, code=code)
    assert refused.value.message_dict == {field: [message]}
    assert (database_picture(), AuditEvent.objects.count()) == before


def test_refuses_a_day_still_to_come(pupil, attendance_lead):
    tomorrow = timezone.localdate() + timedelta(days=1)
    with pytest.raises(ValidationError) as refused:
        correct(pupil, attendance_lead, day=tomorrow)
    assert refused.value.messages == [
        f"{tomorrow:%A} {tomorrow.day} {tomorrow:%B %Y} is still to come: marks are recorded on the day or after it."
    ]
    assert not pupil.marks.exists()


def test_refuses_dates_before_the_pupil_started(pupil, attendance_lead):
    pupil.start_on = date(2025, 11, 25)
    pupil.save()
    with pytest.raises(ValidationError) as refused:
        correct(pupil, attendance_lead)
    assert refused.value.messages == [
        "Alex Smith was not on roll on Monday 24 November 2025 (on roll from Tuesday 25 November 2025)."
    ]


def test_refuses_dates_after_the_pupil_left(pupil, attendance_lead):
    pupil.leaving_on = date(2025, 10, 31)
    pupil.save()
    with pytest.raises(ValidationError, match=r"on roll from Wednesday 1 September 2021 to Friday 31 October 2025"):
        correct(pupil, attendance_lead)


def test_a_reason_is_required_to_change_a_mark_and_kept_short(pupil, attendance_lead):
    MarkFactory(pupil=pupil, date=MONDAY, code="N")
    with pytest.raises(ValidationError) as refused:
        correct(pupil, attendance_lead, reason="   ")
    assert refused.value.message_dict == {"reason": ["Give a reason: it is kept with the mark's history."]}
    with pytest.raises(ValidationError, match="Keep the reason to 200 characters"):
        correct(pupil, attendance_lead, reason="x" * 201)
    assert AttendanceMark.objects.get().code == "N" and not MarkChange.objects.exists()


def test_a_session_with_no_mark_yet_is_filled_without_a_reason(pupil, attendance_lead):
    """A first entry is not an amendment: the register's law asks a reason only of a change."""
    mark = correct(pupil, attendance_lead, code="/", reason="")
    assert (mark.code, mark.recorded_by) == ("/", attendance_lead)
    assert not MarkChange.objects.exists()
    assert AuditEvent.objects.filter(what=f"mark {pupil.upn} 2025-11-24 AM: no mark → /").exists()
    with pytest.raises(ValidationError, match="Give a reason"):
        correct(pupil, attendance_lead, code="I", reason="")  # now it is there, changing it needs one


def test_explaining_turns_every_n_that_day_into_the_code(pupil, attendance_lead):
    MarkFactory(pupil=pupil, date=MONDAY, session=0, code="N")
    MarkFactory(pupil=pupil, date=MONDAY, session=1, code="N")
    MarkFactory(pupil=pupil, date=MONDAY + timedelta(days=1), session=0, code="N")
    changed = mark_explain(pupil=pupil, date=MONDAY, code="I", reason="Dad rang", user=attendance_lead).marks
    assert [(m.session, m.code) for m in changed] == [(0, "I"), (1, "I")]
    assert pupil.marks.get(date=MONDAY + timedelta(days=1)).code == "N"
    assert mark_explain(pupil=pupil, date=MONDAY, code="I", reason="again", user=attendance_lead).marks == []
    assert MarkChange.objects.count() == 2


def test_explaining_with_a_bad_code_changes_nothing(pupil, attendance_lead):
    MarkFactory(pupil=pupil, date=MONDAY, session=0, code="N")
    MarkFactory(pupil=pupil, date=MONDAY, session=1, code="N")
    with pytest.raises(ValidationError):
        mark_explain(pupil=pupil, date=MONDAY, code="J1x", reason="x", user=attendance_lead)
    assert set(pupil.marks.values_list("code", flat=True)) == {"N"}


def test_two_people_filling_one_empty_session_at_once_leave_one_mark_and_a_clear_message(
    pupil, attendance_lead, monkeypatch
):
    """The second finds no row to lock (the first has not committed when it looks), then meets the first's."""
    MarkFactory(pupil=pupil, date=MONDAY, session=0, code="/")  # the first person's, just saved
    monkeypatch.setattr(AttendanceMark.objects, "select_for_update", lambda: AttendanceMark.objects.none())
    with pytest.raises(ValidationError, match="Someone has just marked this session"):
        correct(pupil, attendance_lead, code="O", reason="Not seen")
    assert list(pupil.marks.values_list("code", flat=True)) == ["/"]
