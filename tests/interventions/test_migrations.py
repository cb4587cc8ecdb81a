"""Data migrations: what they change in a database that already holds nights."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.utils import timezone

from interventions import nightly, services
from interventions.models import Ladder, NightlyRun, Proposal, StageChange, Task
from tests.factories import TODAY, PupilFactory, SchoolFactory, UserFactory
from tests.interventions.conftest import SIMPLE_LADDER
from tests.migrating import migrate_to, migrate_to_latest

BEFORE, AFTER = ("interventions", "0007_nightly_run_phases"), ("interventions", "0008_chart_counts_leavers")
GUARD = importlib.import_module("interventions.migrations.0009_legal_stages_need_compulsory_school_age")
GUARD_TARGET = ("interventions", "0009_legal_stages_need_compulsory_school_age")
REBAND = importlib.import_module("interventions.migrations.0010_dfe_bands_without_floors")
REBAND_TARGET = ("interventions", "0010_dfe_bands_without_floors")
UNAUTHORISED = importlib.import_module("interventions.migrations.0014_dfe_irregular_attendance_is_unauthorised")


@pytest.fixture(autouse=True)
def _latest_schema_after():
    """Each test stops part-way through the migrations: put the schema back for the tests that follow
    (a test that stopped at what was once the latest would leave out every migration since)."""
    yield
    migrate_to_latest()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize(
    "before",
    [
        BEFORE,
        ("interventions", "0011_open_work_someone_can_do"),
        ("interventions", "0014_dfe_irregular_attendance_is_unauthorised"),
    ],
)
def test_nights_charted_before_the_chart_counted_differently_are_not_built_on(before):
    """The chart now counts leavers (0008), and only pupils of compulsory school age (0012), and the weeks
    leave out Year 11 study leave (0015): the next night must recount and redraw the whole year, not add a week."""
    then = migrate_to(before)
    try:
        school = SchoolFactory()
        # The night as that release wrote it (today's model has columns it did not).
        then_night = then.get_model("interventions", "NightlyRun").objects.create(
            school_id=school.pk,
            run_on=TODAY - timedelta(days=1),
            status=NightlyRun.Status.DONE,
            started_at=timezone.now(),
            finished_at=timezone.now(),
            changes_cutoff=timezone.now() - timedelta(minutes=1),
            weeks_from=TODAY - timedelta(days=60),
        )
    finally:
        migrate_to_latest()
    night = NightlyRun.objects.get(pk=then_night.pk)
    assert (night.status, night.changes_cutoff) == (NightlyRun.Status.DONE, None)
    assert nightly._last_done(school=school, as_of=TODAY, weeks_from=night.weeks_from) is None
    # An earlier night written by today's code is built on: it is the migration that set this one aside.
    today_night = NightlyRun.objects.create(
        school=school,
        run_on=TODAY - timedelta(days=2),
        status=NightlyRun.Status.DONE,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        changes_cutoff=timezone.now() - timedelta(minutes=1),
        weeks_from=night.weeks_from,
    )
    assert nightly._last_done(school=school, as_of=TODAY, weeks_from=night.weeks_from) == today_night


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize(
    ("before", "changes"),
    [
        (AFTER, GUARD.GUARDED),
        (GUARD_TARGET, REBAND.REBANDED),
        (("interventions", "0013_action_logged_in_one_click"), UNAUTHORISED.CHANGED),
    ],
)
def test_stages_loaded_as_shipped_get_the_new_criteria_and_changed_ones_are_left(before, changes):
    migrate_to(before)
    try:
        oakfield, birchwood = SchoolFactory(), SchoolFactory()
        stages = {}
        for school in (oakfield, birchwood):
            ladders = {  # each ladder once: loading it again would replace its stages
                name: services.ladder_load(school=school, document=services.ladder_file_read(name), activate=False)[0]
                for name in {name for name, *_ in changes}
            }
            for name, key, old, _ in changes:
                stage = ladders[name].stages.get(key=key)
                stage.criteria = old if school == oakfield else {"attendance": {"at_most": 40}}  # Birchwood's own
                stage.save()
                stages[school.pk, name, key] = stage
    finally:
        migrate_to_latest()
    for (school_id, name, key), stage in stages.items():
        stage.refresh_from_db()
        if school_id == oakfield.pk:
            # As the file ships them now: later migrations carry an earlier one's criteria on.
            assert stage.criteria == services.ladder_file_read(name)["stages"][stage.position]["criteria"]
            assert stage.criteria != next(old for n, k, old, _ in changes if (n, k) == (name, key))
        else:
            assert stage.criteria == {"attendance": {"at_most": 40}}, name


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_open_work_nobody_could_do_goes_to_the_lead_and_reviews_of_stages_left_are_cancelled():
    then = migrate_to(REBAND_TARGET)
    try:
        school = SchoolFactory()
        ladder, _ = services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
        pupil = PupilFactory(school=school)
        concern, pa = ladder.stages.get(key="concern"), ladder.stages.get(key="pa")
        # The stage changes as that release wrote them (today's model has a column it did not).
        changes = then.get_model("interventions", "StageChange").objects
        left = changes.create(
            pupil_id=pupil.pk,
            ladder_id=ladder.pk,
            to_stage_id=concern.pk,
            on=TODAY - timedelta(days=14),
            kind="initial",
        )
        now = changes.create(
            pupil_id=pupil.pk,
            ladder_id=ladder.pk,
            from_stage_id=concern.pk,
            to_stage_id=pa.pk,
            on=TODAY,
            kind="automatic",
        )
        left, now = (StageChange(pk=change.pk) for change in (left, now))

        def task(change, key, **fields):
            return Task.objects.create(
                school=school, pupil=pupil, stage_change=change, template_key=key, title=key, due_on=TODAY, **fields
            )

        old_review = task(left, "review", kind="review", role="attendance_lead")
        current_review = task(now, "review", kind="review", role="attendance_lead")
        for_la = task(now, "aim-meeting", role="la_officer")
        done_by_la = task(left, "plan", role="la_officer", status="done")
    finally:
        migrate_to_latest()
    for row in (old_review, current_review, for_la, done_by_la):
        row.refresh_from_db()
    assert old_review.status == "cancelled" and current_review.status == "open"
    assert (for_la.role, for_la.status) == ("attendance_lead", "open")
    assert done_by_la.role == "la_officer"  # done work keeps its history


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_dfe_ladder_as_shipped_has_its_note_on_the_la_trigger_brought_up_to_date():
    migrate_to(("interventions", "0013_action_logged_in_one_click"))
    try:
        school = SchoolFactory()
        ladder, _ = services.ladder_load(school=school, document=services.ladder_file_read("dfe"), activate=False)
        stage = ladder.stages.get(key="listen-and-understand")
        stage.criteria = UNAUTHORISED.CHANGED[0][2]
        stage.save()
        notes = ladder.settings["to_confirm"]
        # The note as the file says it now: 0014 wrote NOTE_NOW, which 0019 put in plainer words.
        now = {before: after for _, before, after in CATCH_UP.NOTES}[UNAUTHORISED.NOTE_NOW]
        assert now in notes
        ladder.settings["to_confirm"] = [UNAUTHORISED.NOTE_BEFORE if n == now else n for n in notes]
        ladder.save()
    finally:
        migrate_to_latest()
    ladder.refresh_from_db()
    assert ladder.settings["to_confirm"] == notes
    assert UNAUTHORISED.NOTE_BEFORE not in ladder.settings["to_confirm"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_moves_left_pending_on_a_replaced_ladder_are_withdrawn_and_others_kept():
    from interventions.models import Proposal

    migrate_to(("interventions", "0015_weeks_count_without_study_leave"))
    try:
        school, unladdered = SchoolFactory(), SchoolFactory()
        old, _ = services.ladder_load(school=school, document=SIMPLE_LADDER)
        new, _ = services.ladder_load(school=school, document={**SIMPLE_LADDER, "key": "new", "name": "New"})
        idle, _ = services.ladder_load(school=unladdered, document=SIMPLE_LADDER)
        Ladder = type(old)
        Ladder.objects.filter(pk=new.pk).update(is_active=True)  # as an activation before 0016 left it

        def propose(ladder, pupil):
            stages = {s.key: s for s in ladder.stages.all()}
            return Proposal.objects.create(
                pupil=pupil, ladder=ladder, from_stage=stages["concern"], to_stage=stages["pa"], proposed_on=TODAY
            )

        stranded = propose(old, PupilFactory(school=school))
        live = propose(new, PupilFactory(school=school))
        elsewhere = propose(idle, PupilFactory(school=unladdered))
    finally:
        migrate_to_latest()
    for proposal in (stranded, live, elsewhere):
        proposal.refresh_from_db()
    assert (stranded.status, stranded.decision_reason) == ("withdrawn", "The school's ladder is now New")
    assert (live.status, elsewhere.status) == ("pending", "pending")


CATCH_UP = importlib.import_module("interventions.migrations.0019_shipped_ladders_catch_up")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_shipped_ladders_loaded_before_catch_up_with_the_files_where_the_school_left_them_as_shipped():
    migrate_to(("interventions", "0018_nightly_run_alerted"))
    try:
        school, edited_school = SchoolFactory(), SchoolFactory()
        ladders = {}
        for at, key in ((school, "dfe"), (school, "generic"), (edited_school, "dfe")):
            ladder, _ = services.ladder_load(school=at, document=services.ladder_file_read(key), activate=False)
            # As loaded before: the notes and description then, no logged_as, no when on the follow-up.
            then = {after: before for k, before, after in CATCH_UP.NOTES if k == key}
            ladder.settings["to_confirm"] = [then.get(note, note) for note in ladder.settings["to_confirm"]]
            for k, before, _ in CATCH_UP.DESCRIPTIONS:
                if k == key:
                    ladder.description = before
            ladder.save()
            for stage in ladder.stages.all():
                stage.actions = [{f: v for f, v in a.items() if f not in ("logged_as", "when")} for a in stage.actions]
                stage.save()
            ladders[at.pk, key] = ladder
        # The other school rewrote a note and its follow-up action: theirs stay as they made them.
        edited = ladders[edited_school.pk, "dfe"]
        edited.settings["to_confirm"][0] = "Our own note"
        edited.save()
        monitor = edited.stages.get(key="monitor")
        monitor.actions[0]["when"] = {"flag": "young_carer"}
        monitor.actions[1]["title"] = "Meet the parents"  # the key kept, the action theirs
        monitor.save()
    finally:
        migrate_to_latest()

    for (school_id, key), ladder in ladders.items():
        ladder.refresh_from_db()
        fresh, _ = services.ladder_load(school=SchoolFactory(), document=services.ladder_file_read(key), activate=False)
        assert ladder.description == fresh.description
        if school_id == school.pk:
            assert ladder.settings["to_confirm"] == fresh.settings["to_confirm"]
            assert {s.key: s.actions for s in ladder.stages.all()} == {s.key: s.actions for s in fresh.stages.all()}
    edited.refresh_from_db()
    assert edited.settings["to_confirm"][0] == "Our own note"
    assert edited.settings["to_confirm"][1:] == fresh.settings["to_confirm"][1:]
    monitor = edited.stages.get(key="monitor")
    assert monitor.actions[0]["when"] == {"flag": "young_carer"}
    assert "logged_as" not in monitor.actions[1]  # a teacher's chat with the pupil does not do their meeting


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_dfe_first_reminder_goes_only_to_pupils_there_for_attendance_unless_the_school_changed_its_letters():
    migrate_to(("interventions", "0019_shipped_ladders_catch_up"))
    try:
        monitors = []
        for letters in (["first_reminder"], ["first_reminder", "second_warning"]):
            ladder, _ = services.ladder_load(
                school=SchoolFactory(), document=services.ladder_file_read("dfe"), activate=False
            )
            monitor = ladder.stages.get(key="monitor")
            monitor.letters = letters  # as loaded before, and as a school changed it
            monitor.save()
            monitors.append(monitor)
    finally:
        migrate_to(("interventions", "0020_dfe_first_reminder_only_for_attendance"))
    shipped, theirs = monitors
    shipped.refresh_from_db()
    theirs.refresh_from_db()
    fresh, _ = services.ladder_load(school=SchoolFactory(), document=services.ladder_file_read("dfe"), activate=False)
    assert shipped.letters == fresh.stages.get(key="monitor").letters
    assert shipped.letters == [{"letter": "first_reminder", "when": {"attendance": {"below": 95}}}]
    assert theirs.letters == ["first_reminder", "second_warning"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_dfe_ladder_as_shipped_stops_proposing_enforcement_for_severe_absence_alone():
    enforce_for = importlib.import_module(
        "interventions.migrations.0022_dfe_enforce_is_for_the_penalty_rule_not_illness"
    )
    migrate_to(("interventions", "0021_stage_kept_when_a_ladder_replaces_another"))
    try:
        shipped, theirs = (
            services.ladder_load(school=SchoolFactory(), document=services.ladder_file_read("dfe"), activate=False)[0]
            for _ in range(2)
        )
        for ladder in (shipped, theirs):  # as loaded before
            then = {now: before for before, now in enforce_for.NOTES}
            ladder.settings["to_confirm"] = [then.get(note, note) for note in ladder.settings["to_confirm"]]
            ladder.save()
            enforce = ladder.stages.get(key="enforce")
            enforce.criteria, enforce.description = enforce_for.CRITERIA[0], enforce_for.DESCRIPTIONS[0] + "\n"
            enforce.save()
            listen = ladder.stages.get(key="listen-and-understand")
            listen.actions[0] = enforce_for.LA_CHECK
            listen.save()
        # Moves to Enforce waiting for approval: one from severe absence alone, one at the penalty-notice count.
        enforce = shipped.stages.get(key="enforce")
        pupils = [PupilFactory(school=shipped.school) for _ in range(2)]
        severe_only, penalty = (
            Proposal.objects.create(pupil=pupil, ladder=shipped, to_stage=enforce, proposed_on=TODAY, reasons=reasons)
            for pupil, reasons in zip(
                pupils,
                (
                    ["of compulsory school age", "attendance 41.2% year to date ≤ 50%"],
                    ["of compulsory school age", "12 unauthorised absence sessions in the last 10 school weeks ≥ 10"],
                ),
                strict=True,
            )
        )
        # The other school set its own line at 40% and asked for the LA checks for everyone at Listen, as titled.
        enforce = theirs.stages.get(key="enforce")
        enforce.criteria["all"][1]["any"][1] = {"attendance": {"at_most": 40}}
        enforce.save()
        listen = theirs.stages.get(key="listen-and-understand")
        listen.actions[0] = {**enforce_for.LA_CHECK, "title": "Check the LA duties"}
        listen.save()
    finally:
        migrate_to(("interventions", "0022_dfe_enforce_is_for_the_penalty_rule_not_illness"))

    fresh, _ = services.ladder_load(school=SchoolFactory(), document=services.ladder_file_read("dfe"), activate=False)
    shipped.refresh_from_db()
    assert {s.key: (s.criteria, s.description, s.actions) for s in shipped.stages.all()} == {
        s.key: (s.criteria, s.description, s.actions) for s in fresh.stages.all()
    }
    assert shipped.settings["to_confirm"] == fresh.settings["to_confirm"]
    assert not any("attendance" in str(c) for c in shipped.stages.get(key="enforce").criteria["all"])
    enforce, listen = theirs.stages.get(key="enforce"), theirs.stages.get(key="listen-and-understand")
    assert enforce.criteria["all"][1]["any"][1] == {"attendance": {"at_most": 40}}
    assert listen.actions[0] == {**enforce_for.LA_CHECK, "title": "Check the LA duties"}
    severe_only.refresh_from_db()
    penalty.refresh_from_db()
    assert (severe_only.status, penalty.status) == ("withdrawn", "pending")
    assert severe_only.decision_reason.startswith("Enforce is now for the penalty-notice threshold")

    migrate_to(("interventions", "0021_stage_kept_when_a_ladder_replaces_another"))
    back = shipped.stages.get(key="enforce")
    assert (back.criteria, back.description.strip()) == (enforce_for.CRITERIA[0], enforce_for.DESCRIPTIONS[0])


@pytest.mark.django_db  # only because every test here puts the schema back after it
def test_what_0022_rewrites_is_what_the_dfe_ladder_said_before_it():
    """Against a copy of the file as shipped before (tests/interventions/dfe_before_0022.yaml), not the migration's
    own constants: a ladder loaded then matches them word for word, so the migration reaches it."""
    from pathlib import Path

    import yaml

    enforce_for = importlib.import_module(
        "interventions.migrations.0022_dfe_enforce_is_for_the_penalty_rule_not_illness"
    )
    before = yaml.safe_load((Path(__file__).parent / "dfe_before_0022.yaml").read_text(encoding="utf-8"))
    stages = {stage["key"]: stage for stage in before["stages"]}
    assert stages["enforce"]["criteria"] == enforce_for.CRITERIA[0]
    assert stages["enforce"]["description"].strip() == enforce_for.DESCRIPTIONS[0]
    assert stages["listen-and-understand"]["actions"][0] == enforce_for.LA_CHECK
    assert all(note in before["to_confirm"] for note, _ in enforce_for.NOTES)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_pupils_approved_onto_enforce_for_severe_absence_alone_get_a_review_for_the_lead():
    review_for = importlib.import_module(
        "interventions.migrations.0024_review_pupils_approved_onto_enforce_for_severe_absence"
    )
    before, after = (
        ("interventions", "0023_action_corrections_keep_what_an_entry_said"),
        ("interventions", "0024_review_pupils_approved_onto_enforce_for_severe_absence"),
    )
    migrate_to(before)
    try:
        shipped, theirs = (
            services.ladder_load(school=SchoolFactory(), document=services.ladder_file_read("dfe"), activate=True)[0]
            for _ in range(2)
        )
        assert shipped.stages.get(key="enforce").criteria == review_for.PENALTY_ONLY  # as 0022 left it
        lead = UserFactory()
        severe = ["of compulsory school age", "attendance 41.2% year to date ≤ 50%"]
        penalty = ["of compulsory school age", "12 unauthorised absence sessions in the last 10 school weeks ≥ 10"]

        def approved_onto_enforce(ladder, reasons, **pupil):
            child = PupilFactory(school=ladder.school, **pupil)
            proposal = Proposal.objects.create(
                pupil=child,
                ladder=ladder,
                to_stage=ladder.stages.get(key="enforce"),
                proposed_on=TODAY,
                reasons=reasons,
            )
            services.proposal_approve(proposal=proposal, user=lead, reason="Agreed at panel")
            return child

        ill = approved_onto_enforce(shipped, severe, forename="Noah", surname="Ellis")
        approved_onto_enforce(shipped, penalty)
        approved_onto_enforce(shipped, severe, leaving_on=TODAY - timedelta(days=30))
        moved_by_hand = PupilFactory(school=shipped.school)
        services.pupil_move(
            pupil=moved_by_hand, stage=shipped.stages.get(key="enforce"), user=lead, reason="Fines agreed with the LA"
        )
        # The other school wrote its own Enforce rule, with severe absence in it: its moves are its own.
        own_rule = theirs.stages.get(key="enforce")
        own_rule.criteria = {"attendance": {"at_most": 50}}
        own_rule.save()
        approved_onto_enforce(theirs, severe)
        # A third school has since replaced its DfE ladder: the old one keeps its placements, but is not in use.
        replaced = services.ladder_load(
            school=SchoolFactory(), document=services.ladder_file_read("dfe"), activate=True
        )[0]
        approved_onto_enforce(replaced, severe)
        Ladder.objects.filter(pk=replaced.pk).update(is_active=False)
    finally:
        migrate_to(after)

    def reviews():
        return Task.objects.filter(template_key=review_for.TASK_KEY)

    # One only: not the truant, the leaver, the one moved by hand, the other school's or the replaced ladder's.
    (review,) = reviews()
    assert (review.pupil, review.role, review.status, review.due_on) == (
        ill,
        "attendance_lead",
        "open",
        timezone.localdate(),
    )
    assert review.title.startswith("Review whether Noah Ellis should stay at Enforce: moved there for severe absence")
    assert review.stage_change == StageChange.objects.filter(pupil=ill).latest("pk")

    review_for.tasks_give(django_apps, None)  # again: still one
    assert reviews().count() == 1

    migrate_to(before)
    assert not reviews().exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_0025_links_each_referrals_own_entry_and_its_changes_where_that_is_certain():
    from interventions.models import ActionLog, Referral

    school = SchoolFactory()
    pupil, other_pupil = PupilFactory(school=school), PupilFactory(school=school)
    lead, dsl = UserFactory(), UserFactory()
    day = timezone.localdate() - timedelta(days=3)
    # Two referrals to "Other" on one day, recorded by different people; one to CAMHS, later accepted.
    food = services.referral_record(pupil=pupil, user=lead, to="other", made_on=day, outcome="Food bank")
    uniform = services.referral_record(pupil=pupil, user=dsl, to="other", made_on=day, outcome="Uniform")
    camhs = services.referral_record(pupil=other_pupil, user=lead, to="camhs", made_on=day)
    services.referral_update(referral=camhs, user=lead, status="accepted", outcome="Seen")
    services.referral_update(referral=food, user=lead, status="closed", outcome="Parcel given")
    by_hand = services.action_log(pupil=pupil, user=lead, kind="referral", occurred_on=day, notes="Asked the nurse")
    ActionLog.objects.update(referral=None)  # as entries were before 0025

    migrate_to(("interventions", "0024_review_pupils_approved_onto_enforce_for_severe_absence"))
    migrate_to_latest()
    linked = dict(ActionLog.objects.values_list("pk", "referral_id"))
    entries = ActionLog.objects.filter(kind="referral")
    assert linked[entries.get(title="Referral: Other", by=lead).pk] == food.pk
    assert linked[entries.get(title="Referral: Other", by=dsl).pk] == uniform.pk
    assert linked[entries.get(title="Referral: CAMHS / mental health").pk] == camhs.pk
    assert linked[entries.get(title="Referral to CAMHS / mental health: accepted").pk] == camhs.pk
    # The pupil has two referrals to "Other": which one a change was to is not certain, so it stays unlinked.
    assert linked[entries.get(title="Referral to Other: closed").pk] is None
    assert linked[by_hand.pk] is None
    assert Referral.objects.count() == 3
