"""Letter templates, the school's letter settings, and the letters queued, printed and posted from them."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from interventions.models import StageChange
from pupils.models import Contact, Pupil, School

#: The footer every school starts with: how to ask for the letter in another form.
DEFAULT_FOOTER = (
    "If you would like this letter in large print, in another language or read to you, please ask the school office."
)


class LetterTemplate(models.Model):
    class Layout(models.TextChoices):
        LETTER = "letter", "Letter"
        REPORT = "report", "Letter with a table of figures and a red/amber/green colour"
        CERTIFICATE = "certificate", "Certificate (no address, for giving in school)"

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="letter_templates")
    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=200)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(help_text="Letter text with merge fields such as {{ pupil.forename }}.")
    layout = models.CharField(max_length=12, choices=Layout.choices, default=Layout.LETTER)
    is_active = models.BooleanField(default=True, help_text="Offered when composing letters and bulk letters.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["school", "name"]
        constraints = [models.UniqueConstraint(fields=["school", "key"], name="letter_template_unique_key")]

    def __str__(self) -> str:
        return self.name


class LetterTemplateRevision(models.Model):
    """A template's wording as it was saved: who changed a school's letters, and when."""

    template = models.ForeignKey(LetterTemplate, on_delete=models.CASCADE, related_name="revisions")
    name = models.CharField(max_length=200)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    layout = models.CharField(max_length=12, choices=LetterTemplate.Layout.choices)
    saved_at = models.DateTimeField(auto_now_add=True)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["template", "-saved_at"]

    def __str__(self) -> str:
        return f"{self.template} as saved {self.saved_at:%Y-%m-%d %H:%M}"


class LetterSettings(models.Model):
    """A school's letterhead and letter choices. Schools without a row get the defaults."""

    class Addressing(models.TextChoices):
        HOUSEHOLD = "household", "One letter per home, addressed to every carer there who receives post"
        EACH = "each", "A letter for each carer who receives post"
        JOINT = "joint", "One letter, addressed to every carer who receives post, sent to the first carer's address"

    school = models.OneToOneField(School, on_delete=models.CASCADE, related_name="letter_settings")
    logo = models.FileField(
        upload_to="letters/logos/",
        blank=True,
        help_text="PNG or JPEG, at most 500 KB. Printed at the top right of every letter.",
    )
    addressing = models.CharField(max_length=10, choices=Addressing.choices, default=Addressing.HOUSEHOLD)
    rag_green_from = models.DecimalField(
        "green from (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("96"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Attendance at or above this is green.",
    )
    rag_amber_from = models.DecimalField(
        "amber from (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("90"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Attendance at or above this (and below green) is amber; below it is red.",
    )
    footer = models.CharField(max_length=300, blank=True, default=DEFAULT_FOOTER)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "letter settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(rag_amber_from__lte=models.F("rag_green_from")),
                name="letter_settings_amber_below_green",
            ),
        ]

    def __str__(self) -> str:
        return f"Letter settings for {self.school}"


class PrintBatch(models.Model):
    """Letters printed together as one PDF, one letter per page. The PDF is kept as it was printed."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to start"
        RUNNING = "running", "Printing"
        DONE = "done", "Printed"
        FAILED = "failed", "Failed"

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="print_batches")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0, help_text="Letters laid out so far, for the progress bar.")
    phase = models.CharField(max_length=80, blank=True)
    pages = models.PositiveIntegerField(default=0)
    pdf = models.FileField(upload_to="letters/batches/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "print batches"

    def __str__(self) -> str:
        return f"Print batch {self.pk} ({self.get_status_display()}, {self.total} letters)"

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


class Letter(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting to print"
        PRINTED = "printed", "Printed"
        POSTED = "posted", "Posted"
        CANCELLED = "cancelled", "Cancelled"

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="letters")
    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="letters")
    template = models.ForeignKey(LetterTemplate, on_delete=models.PROTECT, related_name="letters")
    # The carer the letter goes to; with household or joint addressing, the first carer of the group.
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    addressing = models.CharField(
        max_length=10, choices=LetterSettings.Addressing.choices, default=LetterSettings.Addressing.HOUSEHOLD
    )
    stage_change = models.ForeignKey(
        StageChange,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="letters",
    )
    # What makes this letter the same letter if someone (or the night) asks for it again:
    # "stage:<change>:<template>:<carer>", "bulk:...", "compose:<form token>:<carer>". Empty: no check.
    dedupe_key = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    queued_on = models.DateField(help_text="The letter's figures count the register up to this day.")
    queued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # For termly reports and certificates: the period the letter reports on.
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    period_name = models.CharField(max_length=80, blank=True)
    # Staff-given details for the merge fields: meeting_on, meeting_time, meeting_place, review_on, note.
    details = models.JSONField(default=dict, blank=True)
    print_batch = models.ForeignKey(
        PrintBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="letters"
    )
    printed_at = models.DateTimeField(null=True, blank=True)
    printed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    posted_at = models.DateTimeField(null=True, blank=True)  # when someone marked it posted
    # The day it went in the post, as its entry on the pupil's record says: corrected with that entry.
    posted_on = models.DateField(null=True, blank=True)
    # That entry: what `services.letters_mark_posted` wrote on the pupil's record for posting it.
    posting_record = models.OneToOneField(
        "interventions.ActionLog", null=True, blank=True, on_delete=models.SET_NULL, related_name="posted_letter"
    )
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Cancelled because the pupil moved stage before it printed: the move that made it out of date.
    superseded_by = models.ForeignKey(
        StageChange, null=True, blank=True, on_delete=models.SET_NULL, related_name="superseded_letters"
    )
    # Withdrawn unprinted for another reason the system saw (the pupil had left), in words for its page.
    withdrawn_because = models.CharField(max_length=200, blank=True)
    sent_to_name = models.CharField(
        max_length=500, blank=True, help_text="Who the letter was addressed to when it printed, as printed."
    )
    sent_to_address = models.TextField(blank=True, help_text="The address it printed with, one line per line.")
    pdf = models.FileField(upload_to="letters/%Y/%m/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    pages = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # However often the night re-runs or a form is sent, a letter is queued once.
            models.UniqueConstraint(
                fields=["school", "dedupe_key"],
                condition=~Q(dedupe_key=""),
                name="letter_once_per_dedupe_key",
            ),
            models.CheckConstraint(
                condition=Q(period_start__isnull=True) | Q(period_end__gte=models.F("period_start")),
                name="letter_period_ends_after_start",
            ),
        ]
        indexes = [models.Index(fields=["school", "status"], name="letter_school_status")]

    def __str__(self) -> str:
        return f"{self.template.name} for {self.pupil}"

    @property
    def reference(self) -> str:
        return f"L{self.pk:06d}" if self.pk else "L000000"
