"""Ladders and their stages, where each pupil stands on them, and the work that follows."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from pupils.models import Pupil, School, StaffMembership


class Ladder(models.Model):
    """A school's graduated-response ladder. The file form lives in `interventions/ladders/`."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="ladders")
    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=200, blank=True, help_text="Where this ladder came from.")
    # Ladder-wide settings that are not stages: descent rules, minimum sessions, notes.
    settings = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["school", "key"]
        constraints = [
            models.UniqueConstraint(fields=["school", "key"], name="ladder_unique_key"),
            models.UniqueConstraint(
                fields=["school"],
                condition=Q(is_active=True),
                name="ladder_one_active_per_school",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.school.urn})"


class Stage(models.Model):
    class Entry(models.TextChoices):
        AUTOMATIC = "automatic", "Automatic"
        APPROVAL = "approval", "Proposed, needs approval"
        MANUAL = "manual", "Only by a person's decision"

    ladder = models.ForeignKey(Ladder, on_delete=models.CASCADE, related_name="stages")
    key = models.SlugField(max_length=60)
    position = models.PositiveSmallIntegerField()
    track = models.CharField(max_length=20, default="falling")
    name = models.CharField(max_length=200)
    label = models.CharField(max_length=20)
    colour = models.CharField(max_length=7, default="#6c757d")
    description = models.TextField(blank=True)
    roles = models.JSONField(default=list, blank=True)
    entry = models.CharField(max_length=10, choices=Entry.choices, default=Entry.AUTOMATIC)
    criteria = models.JSONField(null=True, blank=True)
    actions = models.JSONField(default=list, blank=True)
    letters = models.JSONField(default=list, blank=True)
    review_every_weeks = models.PositiveSmallIntegerField(null=True, blank=True)
    monitoring = models.CharField(max_length=40, blank=True)
    # Everything else the file said about this stage (notes, rewards, to-confirm marks).
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["ladder", "position"]
        constraints = [
            models.UniqueConstraint(fields=["ladder", "key"], name="stage_unique_key"),
            models.UniqueConstraint(fields=["ladder", "position"], name="stage_unique_position"),
        ]

    def __str__(self) -> str:
        return stage_title(self.label, self.name)


def stage_title(label: str, name: str) -> str:
    """A stage as people name it: "Stage 2 Concern", but "Expect" rather than "Expect Expect"."""
    if name.lower().startswith(label.lower()):
        return name
    return f"{label} {name}".strip()


class Placement(models.Model):
    """Where a pupil stands now on a ladder. History is in StageChange."""

    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="placements")
    ladder = models.ForeignKey(Ladder, on_delete=models.CASCADE, related_name="placements")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="placements")
    since = models.DateField()
    reasons = models.JSONField(default=list, blank=True)
    # When the pupil first looked well enough to come down a stage (for sustained improvement).
    improving_since = models.DateField(null=True, blank=True)
    # Year-to-date attendance on entering the stage, for "continued despite support".
    entry_attendance_pct = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    # Last night's figures, so dashboards and class lists read one row per pupil.
    attendance_pct = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    attendance_change = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Points up or down over the last 4 school weeks.",
    )
    lates_half_term = models.PositiveSmallIntegerField(default=0)
    persistent = models.BooleanField(default=False)
    severe = models.BooleanField(default=False)
    computed_on = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    #: Last night's figures: written by the night, read by the dashboards.
    FIGURES = ("attendance_pct", "attendance_change", "lates_half_term", "persistent", "severe", "computed_on")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pupil", "ladder"], name="placement_one_per_ladder")]
        indexes = [models.Index(fields=["ladder", "stage"], name="placement_ladder_stage")]

    def __str__(self) -> str:
        return f"{self.pupil} at {self.stage.label}"


class StageChange(models.Model):
    class Kind(models.TextChoices):
        INITIAL = "initial", "First placement"
        AUTOMATIC = "automatic", "Automatic"
        APPROVED = "approved", "Approved proposal"
        MANUAL = "manual", "Moved by a person"
        KEPT = "kept", "Kept from the last ladder"

    #: The kinds the nightly job makes: decided from a day's register once it has closed.
    BY_THE_NIGHT = (Kind.INITIAL, Kind.AUTOMATIC)
    #: The kinds that put a pupil on a ladder without moving them: not escalations, not overnight moves.
    PLACED_NOT_MOVED = (Kind.INITIAL, Kind.KEPT)

    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="stage_changes")
    ladder = models.ForeignKey(Ladder, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    on = models.DateField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    reasons = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    #: For a KEPT change: the change on the ladder this one replaced that put the pupil at the stage. The
    #: work that change gave (tasks, letters, reviews) counts as this one's: none of it is given twice.
    kept_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["pupil", "-on", "-created_at"]
        constraints = [
            # The nightly job's backstop: one automatic move per pupil, ladder and night.
            models.UniqueConstraint(
                fields=["pupil", "ladder", "on"],
                condition=Q(kind__in=["initial", "automatic"]),
                name="stage_change_one_automatic_per_night",
            ),
        ]
        indexes = [models.Index(fields=["ladder", "on"], name="stage_change_ladder_on")]

    def __str__(self) -> str:
        return f"{self.pupil}: {self.from_stage and self.from_stage.label} → {self.to_stage.label} on {self.on}"

    @property
    def is_escalation(self) -> bool:
        return self.from_stage is None or self.to_stage.position > self.from_stage.position


class Proposal(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting decision"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn (no longer indicated)"

    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="proposals")
    ladder = models.ForeignKey(Ladder, on_delete=models.CASCADE, related_name="proposals")
    from_stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    proposed_on = models.DateField()
    reasons = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-proposed_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["pupil", "ladder"],
                condition=Q(status="pending"),
                name="proposal_one_pending_per_ladder",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pupil} → {self.to_stage.label} ({self.get_status_display()})"


class Task(models.Model):
    class Kind(models.TextChoices):
        ACTION = "action", "Action"
        REVIEW = "review", "Review"
        NEXT_STEP = "next_step", "Next step"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="tasks")
    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="tasks")
    stage_change = models.ForeignKey(
        StageChange,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tasks",
    )
    template_key = models.CharField(max_length=80, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ACTION)
    title = models.CharField(max_length=300)
    role = models.CharField(max_length=20, choices=StaffMembership.Role.choices, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
    )
    due_on = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # Set by the night: still open after its due date (so the morning lists can sort and count it).
    is_overdue = models.BooleanField(default=False)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_on", "id"]
        constraints = [
            # A stage change creates each of its tasks once, however often the night re-runs.
            models.UniqueConstraint(
                fields=["stage_change", "template_key"],
                condition=Q(stage_change__isnull=False),
                name="task_once_per_stage_change",
            ),
        ]
        indexes = [models.Index(fields=["school", "status", "due_on"], name="task_school_status_due")]

    def __str__(self) -> str:
        return self.title

    @classmethod
    def overdue_on(cls, day: date) -> Q:
        """Overdue on the morning of `day`: still open, and due before it.

        The one definition: the night closing the register of day D flags what is
        overdue on D + 1, and a task reopened by hand is flagged by the same rule.
        """
        return Q(status=cls.Status.OPEN, due_on__lt=day)

    def is_overdue_on(self, day: date) -> bool:
        return self.status == self.Status.OPEN and self.due_on < day


class ActionLog(models.Model):
    """Something a member of staff did for a pupil: a call, a meeting, a letter, a referral."""

    class Kind(models.TextChoices):
        PHONE_CALL = "phone_call", "Phone call"
        PUPIL_CONVERSATION = "pupil_conversation", "Conversation with pupil"
        PARENT_CONVERSATION = "parent_conversation", "Conversation with parent/carer"
        MEETING = "meeting", "Meeting"
        HOME_VISIT = "home_visit", "Home visit"
        LETTER = "letter", "Letter"
        REFERRAL = "referral", "Referral"
        SUPPORT_PLAN = "support_plan", "Support plan"
        STAGE_ACTION = "stage_action", "Ladder action"
        OTHER = "other", "Other"

    # The kinds that count as contact with the family for "no contact in N days".
    FAMILY_CONTACT = frozenset({"phone_call", "parent_conversation", "meeting", "home_visit"})

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="actions")
    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="actions")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=300, blank=True)
    occurred_on = models.DateField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    outcome = models.CharField(max_length=300, blank=True)
    notes = models.TextField(blank=True)
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="actions")
    # The referral this entry records (`services.referral_record`) or whose change it logs (`referral_update`).
    referral = models.ForeignKey("Referral", null=True, blank=True, on_delete=models.SET_NULL, related_name="entries")
    # Logged with one click (My classes), nothing typed: the only kind a person may take back.
    one_click = models.BooleanField(default=False)
    # Logged by a task's Done button (`services.task_complete`): what its Undo takes back, and nothing else.
    by_done_button = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_on", "-created_at"]
        indexes = [models.Index(fields=["pupil", "kind", "occurred_on"], name="action_pupil_kind_on")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.occurred_on}"

    @property
    def latest_correction(self) -> ActionCorrection | None:
        """The last time someone corrected this entry (from `corrections`, prefetched by `selectors.pupil_actions`)."""
        corrections = list(self.corrections.all())
        return corrections[-1] if corrections else None


class ActionCorrection(models.Model):
    """A logged action as it read before someone corrected it, and why: the record keeps both.

    A logged action is evidence (a penalty notice or a prosecution may rest on
    it), so a correction never overwrites it silently: each one keeps what the
    entry said until then, who changed it, when and why (`services.action_correct`).
    """

    #: What the entry said before this correction: the fields of ActionLog a correction may change.
    KEPT = ("kind", "title", "occurred_on", "outcome", "notes")

    action = models.ForeignKey(ActionLog, on_delete=models.CASCADE, related_name="corrections")
    kind = models.CharField(max_length=20, choices=ActionLog.Kind.choices)
    title = models.CharField(max_length=300, blank=True)
    occurred_on = models.DateField()
    outcome = models.CharField(max_length=300, blank=True)
    notes = models.TextField(blank=True)
    reason = models.CharField(max_length=500)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action} corrected at {self.at:%Y-%m-%d %H:%M}"

    @classmethod
    def keep(cls, action: ActionLog, *, reason: str, by: Any) -> ActionCorrection:
        """Keep what `action` says now, before it is changed: who is changing it and why."""
        return cls.objects.create(action=action, reason=reason, by=by, **{f: getattr(action, f) for f in cls.KEPT})


class Referral(models.Model):
    """A referral to a service outside school, and where it has got to."""

    class To(models.TextChoices):
        LA_ATTENDANCE = "la_attendance", "LA attendance service"
        EARLY_HELP = "early_help", "Early help / MARF"
        CAMHS = "camhs", "CAMHS / mental health"
        SCHOOL_NURSE = "school_nurse", "School nurse"
        SOCIAL_CARE = "social_care", "Children's social care"
        PENALTY_NOTICE = "penalty_notice", "Penalty notice"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        CONSIDERING = "considering", "Being considered"
        MADE = "made", "Made"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        CLOSED = "closed", "Closed"

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="referrals")
    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="referrals")
    to = models.CharField(max_length=20, choices=To.choices)
    made_on = models.DateField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.MADE)
    outcome = models.TextField(blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-made_on", "-pk"]
        indexes = [models.Index(fields=["school", "status"], name="referral_school_status")]

    def __str__(self) -> str:
        return f"{self.get_to_display()} for {self.pupil} ({self.get_status_display()})"


class SchoolWeek(models.Model):
    """Whole-school attendance for one school week, written by the night for the dashboard chart."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="weeks")
    week_start = models.DateField()
    attendance_pct = models.DecimalField(max_digits=6, decimal_places=2, null=True)
    persistent_absence_pct = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        help_text="Share of pupils persistently absent, year to date at the week's end.",
    )
    pupils = models.PositiveIntegerField(default=0)
    year_attendance_pct = models.DecimalField(
        max_digits=6, decimal_places=2, null=True, help_text="Attendance over the year to date at the week's end."
    )
    severe_absence_pct = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        help_text="Share of pupils severely absent, year to date at the week's end.",
    )

    class Meta:
        ordering = ["school", "week_start"]
        constraints = [models.UniqueConstraint(fields=["school", "week_start"], name="school_week_unique")]

    def __str__(self) -> str:
        return f"{self.school.urn} week of {self.week_start}"


class PupilWeek(models.Model):
    """One pupil's attendance counts for one Monday-to-Sunday week, kept by the night.

    The night keeps these in step with the register incrementally (only the
    weeks whose marks changed are recounted), so a night's cost follows the
    day's marks rather than the year's. The counts are those of
    `pupils.statistics.AttendanceSummary`, counted only while the pupil was on roll.
    """

    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="+", db_index=False)
    week_start = models.DateField()
    present = models.PositiveSmallIntegerField(default=0)
    aea = models.PositiveSmallIntegerField(default=0)
    authorised = models.PositiveSmallIntegerField(default=0)
    unauthorised = models.PositiveSmallIntegerField(default=0)
    late_before_close = models.PositiveSmallIntegerField(default=0)
    late_after_close = models.PositiveSmallIntegerField(default=0)
    unexplained = models.PositiveSmallIntegerField(default=0)
    illness = models.PositiveSmallIntegerField(default=0)
    holiday = models.PositiveSmallIntegerField(default=0)
    not_possible = models.PositiveSmallIntegerField(default=0)

    COUNTS = (
        "present",
        "aea",
        "authorised",
        "unauthorised",
        "late_before_close",
        "late_after_close",
        "unexplained",
        "illness",
        "holiday",
        "not_possible",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pupil", "week_start"], name="pupil_week_unique")]

    def __str__(self) -> str:
        return f"{self.pupil_id} week of {self.week_start}"


class NightlyRun(models.Model):
    """One attempt at one school's night. A night is (school, run_on); at most one attempt runs at a time."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="nightly_runs")
    run_on = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    full = models.BooleanField(default=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    pupils = models.PositiveIntegerField(default=0)
    moved = models.PositiveIntegerField(default=0)
    proposed = models.PositiveIntegerField(default=0)
    tasks_created = models.PositiveIntegerField(default=0)
    letters_queued = models.PositiveIntegerField(default=0)
    reviews_created = models.PositiveIntegerField(default=0)
    tasks_overdue = models.PositiveIntegerField(default=0)
    weeks_recounted = models.PositiveIntegerField(
        default=0, help_text="Pupil-weeks recounted from the register (all of them on a full run)."
    )
    # What the stored weekly counts (PupilWeek) cover after this run: from this day,
    # and every mark changed before `changes_cutoff`. The next run recounts what changed since.
    weeks_from = models.DateField(null=True, blank=True)
    changes_cutoff = models.DateTimeField(null=True, blank=True)
    phases = models.JSONField(default=dict, blank=True, help_text="Milliseconds the night spent in each of its parts.")
    error = models.TextField(blank=True)
    # Its failure was the one that made the schedule give up, and NIGHTLY_ALERT_EMAILS were told:
    # once a night, however its attempts ended and however many more are made by hand.
    alerted = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["school", "run_on"], name="nightly_school_run_on")]
        constraints = [
            # The claim: a second attempt at a night that is still running fails to insert.
            models.UniqueConstraint(
                fields=["school", "run_on"],
                condition=Q(status="running"),
                name="nightly_one_running_per_night",
            ),
        ]

    def __str__(self) -> str:
        return f"Night of {self.run_on:%a %-d %b %Y} at {self.school.name}: {self.get_status_display().lower()}"

    #: The parts of a night, in the order it does them.
    PHASES = ("recount", "facts", "deciding", "moves", "figures", "reviews")

    @property
    def time_by_phase(self) -> str:
        """Where the night's time went: "recount 250 ms · facts 130 ms · ..."."""
        return " · ".join(f"{name} {self.phases[name]} ms" for name in self.PHASES if name in self.phases)

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
