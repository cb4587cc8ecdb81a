"""The admin for ladders, where pupils stand on them, and the work that follows.

Ladders and their stages are configuration: names, labels and colours are
edited here, but their rules (criteria, actions, letters, settings) come from
the ladder file, which is checked when it is loaded; a hand edit here would skip
that check. Placements, stage changes and proposals are records the nightly job
and staff decisions write with who and when, so they are read-only here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.defaultfilters import pluralize

from pupils.admin import (
    PUPIL_SEARCH_FIELDS,
    ConstraintsForm,
    NoDeleteMixin,
    ReadOnlyMixin,
    SchoolOwnedAdmin,
)

from .models import (
    ActionCorrection,
    ActionLog,
    Ladder,
    NightlyRun,
    Placement,
    Proposal,
    PupilWeek,
    Referral,
    SchoolWeek,
    Stage,
    StageChange,
    Task,
)

LADDER_RULES = "From the ladder file, which is checked when it is loaded: change the file, not this."


class StageInline(admin.TabularInline):
    model = Stage
    form = ConstraintsForm
    fields = ("position", "key", "label", "name", "entry", "colour", "review_every_weeks", "monitoring")
    extra = 0
    show_change_link = True


@admin.register(Ladder)
class LadderAdmin(NoDeleteMixin, SchoolOwnedAdmin):
    list_display = ("name", "key", "school", "is_active", "source", "updated_at")
    list_filter = ("is_active", "school")
    list_select_related = ("school",)
    search_fields = ("name", "key", "school__name", "=school__urn")
    readonly_fields = ("settings", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("school", "key", "name", "description", "source", "is_active")}),
        ("Rules", {"fields": ("settings",), "description": LADDER_RULES}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    inlines = (StageInline,)


@admin.register(Stage)
class StageAdmin(SchoolOwnedAdmin):
    owner_field = "ladder"
    list_display = ("label", "name", "ladder", "position", "entry", "track", "review_every_weeks")
    list_filter = ("entry", "track", "ladder__school")
    list_select_related = ("ladder__school",)
    search_fields = ("name", "label", "key")
    readonly_fields = ("roles", "criteria", "actions", "letters", "extra")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "ladder",
                    "key",
                    "position",
                    "track",
                    "label",
                    "name",
                    "colour",
                    "description",
                    "entry",
                    "review_every_weeks",
                    "monitoring",
                )
            },
        ),
        ("Rules", {"fields": readonly_fields, "description": LADDER_RULES}),
    )


@admin.register(Placement)
class PlacementAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "pupil",
        "stage",
        "since",
        "attendance_pct",
        "attendance_change",
        "persistent",
        "severe",
        "computed_on",
        "ladder",
    )
    list_filter = ("persistent", "severe", "ladder__school")
    list_select_related = ("pupil", "stage", "ladder__school")
    search_fields = PUPIL_SEARCH_FIELDS
    raw_id_fields = ("pupil",)


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("on", "pupil", "from_stage", "to_stage", "kind", "decided_by", "ladder", "created_at")
    list_filter = ("kind", "ladder__school")
    list_select_related = ("pupil", "from_stage", "to_stage", "decided_by", "ladder__school")
    search_fields = PUPIL_SEARCH_FIELDS
    raw_id_fields = ("pupil",)
    date_hierarchy = "on"
    show_full_result_count = False


@admin.register(Proposal)
class ProposalAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Approving one moves the pupil and sets off tasks and letters: that is the app's job, not an edit."""

    list_display = ("proposed_on", "pupil", "from_stage", "to_stage", "status", "decided_by", "decided_at")
    list_filter = ("status", "ladder__school")
    list_select_related = ("pupil", "from_stage", "to_stage", "decided_by")
    search_fields = PUPIL_SEARCH_FIELDS
    raw_id_fields = ("pupil",)
    date_hierarchy = "proposed_on"


@admin.register(Task)
class TaskAdmin(NoDeleteMixin, SchoolOwnedAdmin):
    list_display = ("title", "pupil", "kind", "status", "role", "assigned_to", "due_on", "school")
    list_filter = ("status", "kind", "role", "school")
    list_select_related = ("pupil", "assigned_to", "school")
    search_fields = ("title", *PUPIL_SEARCH_FIELDS)
    raw_id_fields = ("pupil",)
    autocomplete_fields = ("assigned_to",)
    readonly_fields = ("stage_change", "template_key", "completed_at", "completed_by", "created_at")
    date_hierarchy = "due_on"


class ActionCorrectionInline(ReadOnlyMixin, admin.TabularInline):
    """What the entry said before each correction: history, written only by `services.action_correct`."""

    model = ActionCorrection
    fields = ("at", "by", "reason", *ActionCorrection.KEPT)
    readonly_fields = fields
    extra = 0


@admin.register(ActionCorrection)
class ActionCorrectionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("at", "action", "reason", "by")
    list_filter = (("action__school", admin.RelatedFieldListFilter),)
    list_select_related = ("action", "by")
    search_fields = ("=action__pupil__upn", "reason")
    raw_id_fields = ("action", "by")
    date_hierarchy = "at"


@admin.register(ActionLog)
class ActionLogAdmin(NoDeleteMixin, SchoolOwnedAdmin):
    inlines = (ActionCorrectionInline,)
    list_display = ("occurred_on", "pupil", "kind", "title", "outcome", "by", "school")
    list_filter = ("kind", "school")
    list_select_related = ("pupil", "by", "school")
    search_fields = ("title", "outcome", *PUPIL_SEARCH_FIELDS)
    raw_id_fields = ("pupil", "task")
    autocomplete_fields = ("by",)
    readonly_fields = ("created_at",)
    date_hierarchy = "occurred_on"
    #: What a logged entry says is evidence: once written, it changes only through a correction in the app,
    #: which keeps what it said before (`services.action_correct`).
    evidence = ("pupil", "kind", "title", "occurred_on", "by", "outcome", "notes", "task")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        return readonly if obj is None else (*readonly, *self.evidence)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"by": request.user.pk, **super().get_changeform_initial_data(request)}


@admin.register(NightlyRun)
class NightlyRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "run_on",
        "school",
        "status",
        "full",
        "started_at",
        "duration",
        "what_it_did",
        "short_error",
    )
    list_filter = ("status", "full", "school")
    list_select_related = ("school",)
    date_hierarchy = "run_on"
    search_fields = ("school__name", "school__urn", "error")
    exclude = ("phases",)  # shown in words, as time_by_phase
    readonly_fields = ("duration", "time_by_phase")

    @admin.display(description="time by phase")
    def time_by_phase(self, run: NightlyRun) -> str:
        return run.time_by_phase or "-"

    @admin.display(description="what it did")
    def what_it_did(self, run: NightlyRun) -> str:
        """The run's counts in one column, so the list fits a laptop screen beside the admin's menu."""
        if run.status != NightlyRun.Status.DONE:
            return "-"
        return (
            f"{run.pupils} pupil{pluralize(run.pupils)}, {run.moved} moved, {run.proposed} proposed, "
            f"{run.tasks_created} task{pluralize(run.tasks_created)}, "
            f"{run.letters_queued} letter{pluralize(run.letters_queued)}"
        )

    @admin.display(description="error")
    def short_error(self, run: NightlyRun) -> str:
        return run.error[:80]

    @admin.display(description="duration", ordering="finished_at")
    def duration(self, run: NightlyRun) -> str:
        seconds = run.duration_s
        return "-" if seconds is None else f"{seconds:.1f} s"


@admin.register(SchoolWeek)
class SchoolWeekAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Figures the night writes for the dashboard chart."""

    list_display = ("week_start", "school", "attendance_pct", "persistent_absence_pct", "pupils")
    list_filter = ("school",)
    list_select_related = ("school",)
    date_hierarchy = "week_start"


@admin.register(Referral)
class ReferralAdmin(admin.ModelAdmin):
    list_display = ("pupil", "to", "made_on", "status", "by", "school")
    list_filter = ("status", "to", "school")
    search_fields = ("pupil__upn", "pupil__surname", "outcome")
    raw_id_fields = ("pupil", "by")
    list_select_related = ("pupil", "by", "school")
    date_hierarchy = "made_on"

    def has_delete_permission(self, request: HttpRequest, obj: Referral | None = None) -> bool:
        return False


@admin.register(PupilWeek)
class PupilWeekAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The night's stored weekly counts: derived from the register, never edited by hand."""

    list_display = (
        "pupil",
        "week_start",
        "present",
        "aea",
        "authorised",
        "unauthorised",
        "late_before_close",
        "late_after_close",
    )
    raw_id_fields = ("pupil",)
    list_select_related = ("pupil",)
    search_fields = ("pupil__upn",)
    show_full_result_count = False
