"""The admin for letter templates, letter settings and the letters made from them.

Templates and settings are edited here as in the app (a template is checked
the same way on save). A letter is a record of what was sent to whom: it is
queued, printed, posted or cancelled by the app, which keeps who and when, so
letters, print batches and template revisions are read-only here and never deleted.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from pupils.admin import PUPIL_SEARCH_FIELDS, NoDeleteMixin, ReadOnlyMixin, SchoolOwnedAdmin, SchoolOwnedForm

from . import services
from .models import Letter, LetterSettings, LetterTemplate, LetterTemplateRevision, PrintBatch


class LetterTemplateForm(SchoolOwnedForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        problems = services.template_problems(subject=cleaned.get("subject", ""), body=cleaned.get("body", ""))
        for field, messages in problems.items():
            for message in messages:
                self.add_error(field, message)
        return cleaned


class RevisionInline(admin.TabularInline):
    model = LetterTemplateRevision
    extra = 0
    fields = ("saved_at", "saved_by", "name", "subject")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(LetterTemplate)
class LetterTemplateAdmin(NoDeleteMixin, SchoolOwnedAdmin):
    form = LetterTemplateForm
    list_display = ("name", "key", "layout", "subject", "school", "is_active", "updated_at")
    list_filter = ("is_active", "layout", "school")
    list_select_related = ("school",)
    search_fields = ("name", "key", "subject")
    readonly_fields = ("updated_at", "updated_by")
    inlines = [RevisionInline]


@admin.register(LetterTemplateRevision)
class LetterTemplateRevisionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("template", "saved_at", "saved_by")
    list_select_related = ("template", "saved_by")
    list_filter = ("template__school",)
    date_hierarchy = "saved_at"


@admin.register(LetterSettings)
class LetterSettingsAdmin(NoDeleteMixin, SchoolOwnedAdmin):
    list_display = ("school", "addressing", "rag_green_from", "rag_amber_from", "updated_at")
    list_select_related = ("school",)
    readonly_fields = ("updated_at", "updated_by")


@admin.register(PrintBatch)
class PrintBatchAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("pk", "school", "status", "total", "pages", "created_by", "created_at", "finished_at")
    list_filter = ("status", "school")
    list_select_related = ("school", "created_by")
    date_hierarchy = "created_at"


@admin.register(Letter)
class LetterAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("created_at", "pupil", "template", "status", "queued_on", "printed_at", "posted_on", "school")
    list_filter = ("status", "school")
    list_select_related = ("pupil", "template", "school")
    search_fields = ("template__name", "dedupe_key", *PUPIL_SEARCH_FIELDS)
    raw_id_fields = ("pupil", "contact", "stage_change", "print_batch")
    date_hierarchy = "queued_on"
