"""Schools, their calendars, pupils, contacts and the attendance register."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from . import flags
from .codes import Category
from .upn import validate_upn


class School(models.Model):
    urn = models.CharField(
        "URN",
        max_length=10,
        unique=True,
        validators=[RegexValidator(r"^\d{6}$", "a URN is six digits, like 137654 (Get Information about Schools)")],
        help_text="The school's unique reference number: six digits.",
    )
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True, help_text="One line per address line.")
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    signatory_name = models.CharField(max_length=120, blank=True)
    signatory_role = models.CharField(max_length=120, blank=True, default="Headteacher")
    session_minutes = models.PositiveSmallIntegerField(
        default=195,
        validators=[MinValueValidator(30)],
        help_text="Length of one teaching session, for hours of lost learning.",
    )
    time_zone = models.CharField(max_length=64, default="Europe/London")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.urn})"


class AcademicYear(models.Model):
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="academic_years")
    name = models.CharField(max_length=9, help_text="For example 2025/26.")
    start_on = models.DateField()
    end_on = models.DateField()

    class Meta:
        ordering = ["school", "start_on"]
        constraints = [
            models.UniqueConstraint(fields=["school", "name"], name="academic_year_unique_name"),
            models.CheckConstraint(
                condition=Q(end_on__gt=models.F("start_on")),
                name="academic_year_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class HalfTerm(models.Model):
    class Term(models.TextChoices):
        AUTUMN = "autumn", "Autumn"
        SPRING = "spring", "Spring"
        SUMMER = "summer", "Summer"

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="half_terms")
    academic_year = models.ForeignKey(AcademicYear, on_delete=models.CASCADE, related_name="half_terms")
    name = models.CharField(max_length=60)
    term = models.CharField(max_length=6, choices=Term.choices)
    start_on = models.DateField()
    end_on = models.DateField()

    class Meta:
        ordering = ["school", "start_on"]
        constraints = [
            models.UniqueConstraint(fields=["school", "start_on"], name="half_term_unique_start"),
            models.CheckConstraint(
                condition=Q(end_on__gte=models.F("start_on")),
                name="half_term_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.start_on:%-d %b %Y} to {self.end_on:%-d %b %Y})"


class YearGroup(models.Model):
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="year_groups")
    code = models.CharField(max_length=4, help_text="N, R, 1 to 13.")
    name = models.CharField(max_length=40)
    position = models.SmallIntegerField(default=0)

    class Meta:
        ordering = ["school", "position"]
        constraints = [models.UniqueConstraint(fields=["school", "code"], name="year_group_unique_code")]

    def __str__(self) -> str:
        return self.name


class RegistrationGroup(models.Model):
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="registration_groups")
    name = models.CharField(max_length=40)
    year_group = models.ForeignKey(YearGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["school", "name"]
        constraints = [models.UniqueConstraint(fields=["school", "name"], name="registration_group_unique_name")]

    def __str__(self) -> str:
        return self.name


class Flag(models.Model):
    """A fact about a pupil that ladders can test: national ones, or the school's own."""

    # Keys every school has; ladders may rely on them.
    STANDARD = flags.STANDARD

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="flags")
    key = models.SlugField(max_length=40)
    name = models.CharField(max_length=80)
    is_standard = models.BooleanField(default=False)

    class Meta:
        ordering = ["school", "-is_standard", "name"]
        constraints = [models.UniqueConstraint(fields=["school", "key"], name="flag_unique_key")]

    def __str__(self) -> str:
        return self.name


class Pupil(models.Model):
    class Sen(models.TextChoices):
        NONE = "N", "No special educational need"
        SUPPORT = "K", "SEN support"
        EHCP = "E", "Education, health and care plan"

    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="pupils")
    upn = models.CharField("UPN", max_length=13, validators=[validate_upn])
    surname = models.CharField(max_length=80)
    forename = models.CharField(max_length=80)
    date_of_birth = models.DateField()
    year_group = models.ForeignKey(YearGroup, on_delete=models.PROTECT, related_name="pupils")
    registration_group = models.ForeignKey(
        RegistrationGroup,
        on_delete=models.PROTECT,
        related_name="pupils",
        verbose_name="class",
    )
    sen = models.CharField("SEN status", max_length=1, choices=Sen.choices, default=Sen.NONE)
    flags = models.ManyToManyField(Flag, blank=True, related_name="pupils")
    start_on = models.DateField("on roll from", help_text="The pupil's first day on the admission register.")
    leaving_on = models.DateField("left on", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["surname", "forename"]
        constraints = [
            # Counted per enrolment: the same UPN may be on two schools' rolls.
            models.UniqueConstraint(fields=["school", "upn"], name="pupil_unique_upn_per_school"),
            models.CheckConstraint(
                condition=Q(leaving_on__isnull=True) | Q(leaving_on__gte=models.F("start_on")),
                name="pupil_leaves_after_start",
            ),
        ]
        indexes = [models.Index(fields=["school", "registration_group"], name="pupil_school_class")]

    def __str__(self) -> str:
        return f"{self.forename} {self.surname}"

    @property
    def full_name(self) -> str:
        return f"{self.forename} {self.surname}"

    @property
    def has_left(self) -> bool:
        """Whether the pupil's leaving day has passed: they are no longer on roll."""
        return self.leaving_on is not None and self.leaving_on < timezone.localdate()


class Contact(models.Model):
    """A parent or carer."""

    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=160)
    salutation = models.CharField(
        max_length=80,
        blank=True,
        help_text='How letters greet them, as the MIS has it: "Mrs Barker". Blank: by their name.',
    )
    relationship = models.CharField(max_length=40, blank=True, default="Parent/carer")
    address = models.TextField(blank=True, help_text="One line per address line.")
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    receives_letters = models.BooleanField(default=True)
    priority = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["pupil", "priority", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def address_lines(self) -> list[str]:
        return [line.strip() for line in self.address.splitlines() if line.strip()]


class AttendanceCode(models.Model):
    """The DfE code table, mirrored from `pupils/data/codes.csv` after each migrate."""

    code = models.CharField(max_length=2, primary_key=True)
    category = models.CharField(
        max_length=12,
        choices=[(c.value, c.name.replace("_", " ").lower()) for c in Category],
    )
    description = models.CharField(max_length=200)
    valid_from = models.DateField(null=True, blank=True)
    valid_to = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code}: {self.description}"


class ImportBatch(models.Model):
    """One file handed to an importer, and what became of it."""

    class Kind(models.TextChoices):
        PUPILS = "pupils", "Pupils CSV"
        MARKS = "marks", "Marks CSV"
        CTF = "ctf", "CTF XML"
        CALENDAR = "calendar", "Calendar CSV"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Imported"
        FAILED = "failed", "Rejected"

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="imports")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    filename = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    rows = models.PositiveIntegerField(default=0)
    inserted = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.filename} ({self.get_status_display()})"


class AttendanceMark(models.Model):
    """One mark for one pupil, one date, one session: the register.

    Kept narrow on purpose (tens of millions of rows at local-authority scale):
    the code is the 1-2 character DfE code, classified by `pupils.codes`.
    """

    class Session(models.IntegerChoices):
        AM = 0, "AM"
        PM = 1, "PM"

        @classmethod
        def in_words(cls, sessions: Iterable[int]) -> str:
            """Sessions in words: "AM", "AM and PM"."""
            return " and ".join(cls(session).label for session in sessions)

    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="marks", db_index=False)
    date = models.DateField()
    session = models.PositiveSmallIntegerField(choices=Session.choices)
    code = models.CharField(max_length=2)
    minutes_late = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.CharField(max_length=200, blank=True, default="")
    # Provenance only, and import batches are never deleted: no database-level foreign key, because
    # checking one row by row costs about 5 s per million imported marks.
    batch = models.ForeignKey(
        ImportBatch,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["pupil", "date", "session"]
        constraints = [
            # Also the index every per-pupil and per-window query uses.
            models.UniqueConstraint(fields=["pupil", "date", "session"], name="mark_one_per_session"),
        ]
        # No index on date alone: every query by date also names the pupils, and the unique
        # (pupil, date, session) index serves those; each extra index slows imports. Today's
        # unexplained absences (N) are the exception: the morning lists ask for them by date.
        # The night asks which of a school's pupils have marks changed since its last run:
        # by pupil, then time, so each school reads only its own pupils' changes, not the
        # whole local authority's day.
        indexes = [
            models.Index(fields=["date", "pupil"], condition=Q(code="N"), name="mark_unexplained_on"),
            models.Index(fields=["pupil", "changed_at"], name="mark_pupil_changed"),
        ]

    def __str__(self) -> str:
        return f"{self.pupil_id} {self.date} {self.get_session_display()} {self.code}"

    @property
    def source(self) -> str:
        if self.batch_id:
            return f"import #{self.batch_id}"
        return f"user #{self.recorded_by_id}" if self.recorded_by_id else "unknown"


class MarkChange(models.Model):
    """A mark's earlier value, kept whenever a mark is corrected."""

    mark = models.ForeignKey(AttendanceMark, on_delete=models.CASCADE, related_name="history")
    old_code = models.CharField(max_length=2)
    new_code = models.CharField(max_length=2)
    old_minutes_late = models.PositiveSmallIntegerField(null=True, blank=True)
    old_comment = models.CharField(max_length=200, blank=True, default="")
    reason = models.CharField(max_length=200, blank=True)
    batch = models.ForeignKey(ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["mark", "-changed_at"]

    def __str__(self) -> str:
        return f"{self.old_code} → {self.new_code} at {self.changed_at:%Y-%m-%d %H:%M}"


class StaffMembership(models.Model):
    """A member of staff's role at one school. A person may hold several."""

    class Role(models.TextChoices):
        ATTENDANCE_LEAD = "attendance_lead", "Attendance lead"
        CLASS_TEACHER = "class_teacher", "Class teacher"
        SENIOR_LEADER = "senior_leader", "Senior leader"
        DSL = "dsl", "Designated safeguarding lead"
        OFFICE = "office", "Office / admin"
        LA_OFFICER = "la_officer", "Trust / LA officer (read only)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    classes = models.ManyToManyField(RegistrationGroup, blank=True, related_name="teachers")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "school", "role"], name="membership_unique_role")]

    def __str__(self) -> str:
        return f"{self.user} – {self.get_role_display()} at {self.school.name}"


class AuditEvent(models.Model):
    """Who looked at or changed what, and when. Leads and DSLs can read it; nobody edits it."""

    class Verb(models.TextChoices):
        VIEW = "view", "Viewed"
        CHANGE = "change", "Changed"
        EXPORT = "export", "Exported"

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="audit_events")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    pupil = models.ForeignKey(Pupil, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events")
    verb = models.CharField(max_length=6, choices=Verb.choices)
    what = models.CharField(max_length=300)
    path = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["school", "-at"], name="audit_school_at")]

    def __str__(self) -> str:
        return f"{self.user} {self.get_verb_display().lower()} {self.what}"
