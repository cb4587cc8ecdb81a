"""The admin for letter templates and the letters made from them.

Templates are edited here. A letter is a record of what was sent to whom: it is
queued, printed, posted or cancelled by the app, which keeps who and when, so
letters are read-only here and never deleted.
"""

from __future__ import annotations

from django.contrib import admin

from pupils.admin import PUPIL_SEARCH_FIELDS, ReadOnlyMixin, SchoolOwnedAdmin

from .models import Letter, LetterTemplate


@admin.register(LetterTemplate)
class LetterTemplateAdmin(SchoolOwnedAdmin):
    list_display = ("name", "key", "subject", "school", "is_active", "updated_at")
    list_filter = ("is_active", "school")
    list_select_related = ("school",)
    search_fields = ("name", "key", "subject")
    readonly_fields = ("updated_at",)


@admin.register(Letter)
class LetterAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("created_at", "pupil", "template", "status", "queued_on", "printed_at", "posted_at", "school")
    list_filter = ("status", "school")
    list_select_related = ("pupil", "template", "school")
    search_fields = ("template__name", *PUPIL_SEARCH_FIELDS)
    raw_id_fields = ("pupil", "contact", "stage_change")
    date_hierarchy = "queued_on"
