"""Letter templates, and the letters queued, printed and posted from them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from interventions.models import StageChange
from pupils.models import Contact, Pupil, School


class LetterTemplate(models.Model):
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="letter_templates")
    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=200)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(help_text="Letter text with merge fields such as {{ pupil.forename }}.")
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["school", "name"]
        constraints = [models.UniqueConstraint(fields=["school", "key"], name="letter_template_unique_key")]

    def __str__(self) -> str:
        return self.name


class Letter(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting to print"
        PRINTED = "printed", "Printed"
        POSTED = "posted", "Posted"
        CANCELLED = "cancelled", "Cancelled"

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="letters")
    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="letters")
    template = models.ForeignKey(LetterTemplate, on_delete=models.PROTECT, related_name="letters")
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    stage_change = models.ForeignKey(
        StageChange,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="letters",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    queued_on = models.DateField()
    queued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    printed_at = models.DateTimeField(null=True, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    pdf = models.FileField(upload_to="letters/%Y/%m/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A stage change queues each of its letters once, however often the night re-runs.
            models.UniqueConstraint(
                fields=["stage_change", "template"],
                condition=Q(stage_change__isnull=False),
                name="letter_once_per_stage_change",
            ),
        ]
        indexes = [models.Index(fields=["school", "status"], name="letter_school_status")]

    def __str__(self) -> str:
        return f"{self.template.name} for {self.pupil}"
