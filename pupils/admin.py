"""The admin for schools, pupils and the register.

Configuration (schools, calendars, year groups, classes, flags, pupils, contacts,
staff) is edited here. Records the app keeps with who and when (marks and their
history, imports) are shown read-only: a change made here would skip that history.
Nothing that a mark hangs from may be deleted here, because deleting cascades to
the register.

The read-only and no-delete mixins, the school-aware form and the list filters
are shared with the interventions and letters admins.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from .models import (
    AcademicYear,
    AttendanceCode,
    AttendanceMark,
    AuditEvent,
    Contact,
    Flag,
    HalfTerm,
    ImportBatch,
    MarkChange,
    Pupil,
    RegistrationGroup,
    School,
    StaffMembership,
    YearGroup,
)
from .services import PRIMARY_YEAR_GROUPS

PUPIL_SEARCH_FIELDS = ("=pupil__upn", "pupil__surname", "pupil__forename")


class NoDeleteMixin:
    """Records are never deleted (product.md, "Trust"): leavers get a date, letters are cancelled."""

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ReadOnlyMixin(NoDeleteMixin):
    """Rows only the app writes, through services that keep who and when."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ConstraintsForm(forms.ModelForm):
    """Checks every constraint, including those naming a field that is not on the form.

    Django skips a constraint when one of its fields is not on the form, and
    here some never are (a row's `school` or `ladder` is read-only once set): a
    duplicate would then reach the database and be a 500, not a message.
    """

    def validate_unique(self) -> None:
        super().validate_unique()
        on_form, failed = set(self.fields), set(self.errors)
        for constraint in self.instance._meta.constraints:
            fields = set(getattr(constraint, "fields", ()))
            if fields and not fields <= on_form and not fields & failed:
                try:
                    constraint.validate(type(self.instance), self.instance)
                except ValidationError as error:
                    self.add_error(None, error)


class SchoolOwnedForm(ConstraintsForm):
    """A form for a row that belongs to one school.

    Year groups, classes, flags and pupils look alike in every school ("Year 4",
    "4B"), so once the school is known only its own are offered, and a choice
    from another school is refused. Before that (the add page) each choice is
    labelled with its school.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        school_id = getattr(self.instance, "school_id", None)
        for field in self._school_scoped_fields().values():
            if school_id:
                field.queryset = field.queryset.filter(school_id=school_id)
            else:
                field.queryset = field.queryset.select_related("school")
                field.label_from_instance = _labelled_with_school

    def _school_scoped_fields(self) -> dict[str, forms.ModelChoiceField]:
        return {
            name: field
            for name, field in self.fields.items()
            if isinstance(field, forms.ModelChoiceField) and _has_school(field.queryset.model)
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        school = cleaned.get("school") or getattr(self.instance, "school", None)
        if school is None:
            return cleaned
        for name in self._school_scoped_fields():
            value = cleaned.get(name)
            chosen = list(value) if isinstance(value, QuerySet) else [value] if value else []
            if any(obj.school_id != school.pk for obj in chosen):
                self.add_error(name, f"Choose from {school.name}'s own.")
        return cleaned


def _has_school(model: type[Model]) -> bool:
    return any(field.name == "school" for field in model._meta.fields)


def _labelled_with_school(obj: Any) -> str:
    return f"{obj} ({obj.school.name})"


class SchoolOwnedAdmin(admin.ModelAdmin):
    """A row that belongs to its owner for good: moving a pupil, class or ladder to
    another school would take its records with it. The owner is chosen when adding."""

    form = SchoolOwnedForm
    owner_field = "school"

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        return readonly if obj is None else (*readonly, self.owner_field)


class YearGroupFilter(admin.SimpleListFilter):
    """By year group code, across schools: "Year 4" means the same everywhere."""

    title = "year group"
    parameter_name = "year"
    field_path = "year_group__code"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return PRIMARY_YEAR_GROUPS

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(**{self.field_path: self.value()})
        return queryset


class ClassFilter(admin.SimpleListFilter):
    """Classes are named alike in every school, so they are offered once a school is chosen."""

    title = "class"
    parameter_name = "class"
    field_path = "registration_group"
    school_parameter = "school__id__exact"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[int, str]]:
        school_id = request.GET.get(self.school_parameter, "")
        if not school_id.isdigit():
            return []
        return [(g.pk, g.name) for g in RegistrationGroup.objects.filter(school_id=school_id)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(**{self.field_path: self.value()})
        return queryset


class FlagFilter(admin.SimpleListFilter):
    """By the standard flags every school has; a school's own flags are on the pupil page."""

    title = "flag"
    parameter_name = "flag"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(Flag.STANDARD.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(flags__key=self.value())
        return queryset


@admin.register(School)
class SchoolAdmin(admin.ModelAdmin):
    list_display = ("name", "urn", "phone", "email", "signatory_name", "created_at")
    search_fields = ("name", "=urn")
    readonly_fields = ("created_at",)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        """Only a school created by mistake, one by one: one that has never held a pupil (so no records)."""
        return obj is not None and not obj.pupils.exists() and super().has_delete_permission(request, obj)


class HalfTermForm(SchoolOwnedForm):
    """A half-term's school is always its academic year's, so it is not asked for."""

    class Meta:
        model = HalfTerm
        fields = ("academic_year", "name", "term", "start_on", "end_on")

    def clean(self) -> dict[str, Any]:
        year = self.cleaned_data.get("academic_year")
        if year is not None:
            self.instance.school = year.school
        return super().clean()


class HalfTermInline(admin.TabularInline):
    model = HalfTerm
    form = HalfTermForm
    fields = ("name", "term", "start_on", "end_on")
    extra = 0


@admin.register(AcademicYear)
class AcademicYearAdmin(SchoolOwnedAdmin):
    list_display = ("name", "school", "start_on", "end_on")
    list_filter = ("school",)
    list_select_related = ("school",)
    search_fields = ("name", "school__name", "=school__urn")
    inlines = (HalfTermInline,)


@admin.register(HalfTerm)
class HalfTermAdmin(admin.ModelAdmin):
    form = HalfTermForm
    list_display = ("name", "term", "start_on", "end_on", "academic_year", "school")
    list_filter = ("term", "school")
    list_select_related = ("academic_year", "school")
    readonly_fields = ("school",)
    date_hierarchy = "start_on"


@admin.register(YearGroup)
class YearGroupAdmin(SchoolOwnedAdmin):
    list_display = ("name", "code", "position", "school")
    list_filter = ("school",)
    list_select_related = ("school",)
    search_fields = ("name", "=code")


@admin.register(RegistrationGroup)
class RegistrationGroupAdmin(SchoolOwnedAdmin):
    list_display = ("name", "year_group", "school")
    list_filter = ("school", YearGroupFilter)
    list_select_related = ("school", "year_group")
    search_fields = ("name", "school__name", "=school__urn")


@admin.register(Flag)
class FlagAdmin(SchoolOwnedAdmin):
    list_display = ("name", "key", "is_standard", "school")
    list_filter = ("is_standard", "school")
    list_select_related = ("school",)
    search_fields = ("name", "key")


class ContactInline(admin.TabularInline):
    model = Contact
    fields = ("name", "salutation", "relationship", "address", "email", "phone", "receives_letters", "priority")
    extra = 0
    formfield_overrides = {
        # One row per contact stays readable with a short address box.
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 3, "cols": 30})},
    }


@admin.register(Pupil)
class PupilAdmin(NoDeleteMixin, SchoolOwnedAdmin):
    list_display = (
        "upn",
        "surname",
        "forename",
        "year_group",
        "registration_group",
        "sen",
        "school",
        "start_on",
        "leaving_on",
    )
    list_display_links = ("upn", "surname", "forename")
    list_filter = (
        "school",
        YearGroupFilter,
        ClassFilter,
        "sen",
        FlagFilter,
        ("leaving_on", admin.EmptyFieldListFilter),
    )
    list_select_related = ("school", "year_group", "registration_group")
    search_fields = ("=upn", "surname", "forename")
    filter_horizontal = ("flags",)
    readonly_fields = ("created_at", "updated_at")
    inlines = (ContactInline,)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("name", "pupil", "relationship", "phone", "email", "receives_letters", "priority")
    list_filter = ("receives_letters", "pupil__school")
    list_select_related = ("pupil",)
    search_fields = ("name", "email", "phone", *PUPIL_SEARCH_FIELDS)
    raw_id_fields = ("pupil",)


@admin.register(AttendanceCode)
class AttendanceCodeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Mirrors `pupils/data/codes.csv`, re-synced after every migrate: change the file, not this."""

    list_display = ("code", "description", "category", "valid_from", "valid_to")
    list_filter = ("category",)
    search_fields = ("=code", "description")


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "school",
        "kind",
        "filename",
        "status",
        "rows",
        "inserted",
        "updated",
        "unchanged",
        "created_by",
    )
    list_filter = ("status", "kind", "school")
    list_select_related = ("school", "created_by")
    search_fields = ("filename", "=sha256")
    date_hierarchy = "created_at"


class CodeFilter(admin.SimpleListFilter):
    """From the code table: the default filter would scan every mark for its distinct codes."""

    title = "code"
    parameter_name = "code"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(c.code, str(c)) for c in AttendanceCode.objects.all()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(code=self.value())
        return queryset


class MarkChangeInline(ReadOnlyMixin, admin.TabularInline):
    model = MarkChange
    fields = ("changed_at", "old_code", "new_code", "old_minutes_late", "old_comment", "reason", "changed_by", "batch")
    readonly_fields = fields
    extra = 0


@admin.register(AttendanceMark)
class AttendanceMarkAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The register: tens of millions of rows, so every list query here stays on an index.

    Read-only, because a correction must keep the earlier value in MarkChange,
    which only the register's own services do.
    """

    list_display = ("date", "session", "pupil", "code", "minutes_late", "comment", "source", "changed_at")
    list_filter = (("pupil__school", admin.RelatedFieldListFilter), "session", CodeFilter)
    list_select_related = ("pupil",)
    # Exact UPN only: a name search would join every mark to every pupil.
    search_fields = ("=pupil__upn",)
    raw_id_fields = ("pupil", "batch", "recorded_by")
    date_hierarchy = "date"
    # Newest first on the date index, not the model's pupil-name order (a sort of the whole table).
    ordering = ("-date",)
    sortable_by = ("date",)
    show_full_result_count = False
    inlines = (MarkChangeInline,)


@admin.register(MarkChange)
class MarkChangeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("changed_at", "mark", "old_code", "new_code", "reason", "changed_by", "batch")
    list_filter = (("mark__pupil__school", admin.RelatedFieldListFilter),)
    list_select_related = ("mark", "changed_by", "batch")
    search_fields = ("=mark__pupil__upn",)
    raw_id_fields = ("mark", "batch", "changed_by")
    date_hierarchy = "changed_at"
    show_full_result_count = False


@admin.register(StaffMembership)
class StaffMembershipAdmin(SchoolOwnedAdmin):
    list_display = ("user", "role", "school")
    list_filter = ("role", "school")
    list_select_related = ("user", "school")
    search_fields = ("user__username", "user__email", "user__first_name", "user__last_name")
    autocomplete_fields = ("user",)
    filter_horizontal = ("classes",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Who looked at or changed what: nobody edits it, here or anywhere."""

    list_display = ("at", "user", "verb", "what", "pupil", "school")
    list_filter = ("verb", "school")
    list_select_related = ("user", "pupil", "school")
    search_fields = ("what", "user__username", *PUPIL_SEARCH_FIELDS)
    raw_id_fields = ("pupil",)
    date_hierarchy = "at"
    show_full_result_count = False
