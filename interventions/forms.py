"""Forms check and convert input; services decide and save."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import date
from textwrap import shorten
from typing import Any

import django_filters
from crispy_forms.helper import FormHelper
from django import forms
from django.db.models import Q
from django.utils import timezone

from pupils.access import Access
from pupils.calendar import long_date
from pupils.flags import SEN_STATUS_FLAGS
from pupils.models import Flag, Pupil, RegistrationGroup, School, YearGroup
from pupils.selectors import registration_group_list

from .models import ActionLog, Ladder, Placement, Stage
from .services import (
    ACTION_IN_THE_FUTURE,
    CORRECTABLE_KINDS,
    CORRECTION_WITHOUT_REASON,
    OTHER_SAYS_NOTHING,
    stage_action_role,
)


class _NoTagHelper(FormHelper):
    form_tag = False
    disable_csrf = True


def before_joining(day: date, joined: date) -> str:
    """Why nothing logged on a pupil's record (an action, a referral) can be dated `day`, or "" if it can."""
    if day >= joined:
        return ""
    return (
        f"{long_date(day)} is before the pupil joined the school ({long_date(joined)}), as our records hold it: "
        "check the date, or correct their start date."
    )


def action_day_check(day: date, *, joined: date | None, future: str = ACTION_IN_THE_FUTURE) -> date:
    """The day an action happened (or a referral was made: `future` says which), if it can have: not in the
    future, not before the pupil joined."""
    if day > timezone.localdate():
        raise forms.ValidationError(future)
    if joined is not None and (problem := before_joining(day, joined)):
        raise forms.ValidationError(problem)
    return day


#: A logged action's notes: several paragraphs, not a document (that belongs in the MIS or the DSL's file).
NOTES_LENGTH = 5000


class ActionForm(forms.Form):
    kind = forms.ChoiceField(label="What happened")
    occurred_on = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    outcome = forms.CharField(max_length=300, required=False)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=NOTES_LENGTH)
    next_step = forms.CharField(max_length=300, required=False, label="Next step (becomes a task)")
    next_step_due = forms.DateField(
        required=False, label="Next step due", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(
        self,
        *args: Any,
        stage: Stage | None,
        joined: date | None,
        access: Access,
        done: Mapping[str, date] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.joined = joined  # the pupil's first day on roll: nothing here happened before it
        # The stage's actions already done for the pupil (`selectors.stage_actions_done`): still offered, as
        # one may be done again, but said to be done, so nobody does it twice not knowing.
        self.done = dict(done or {})
        self.helper = _NoTagHelper()
        # A person is offered the stage's actions that are theirs to do (`Access.may_do`): a class
        # teacher is not offered the attendance lead's statutory checks.
        self.stage_actions = [
            a
            for a in (stage.actions if stage is not None else [])
            if access.may_do(role=stage_action_role(a), assigned_to_id=None)
        ]
        choices: list[tuple[str, Any]] = [("", "Choose what happened…")]
        if self.stage_actions:
            choices.append(
                (
                    f"Actions at {stage.name}",
                    [(f"stage:{a['key']}", self._stage_action_label(a)) for a in self.stage_actions],
                )
            )
        common = [(k, label) for k, label in ActionLog.Kind.choices if k != ActionLog.Kind.STAGE_ACTION]
        # A heading only to tell them from the stage's own: alone, it would head a list of one group.
        choices += [("Common actions", common)] if self.stage_actions else common
        self.fields["kind"].choices = choices
        self.fields["kind"].error_messages["required"] = "Choose what happened."
        self.fields["occurred_on"].initial = timezone.localdate()
        self.stage = stage

    def _stage_action_label(self, action: Mapping[str, Any]) -> str:
        done = self.done.get(action["key"])
        if done is None:
            return shorten(action["title"], 90, placeholder="…")
        return f"{shorten(action['title'], 75, placeholder='…')} (done {done.day} {done:%b})"

    @property
    def cache_key(self) -> str:
        """The unbound form renders the same for everyone offered the same actions, done on the same days, on a
        day: a key for caching it."""
        offered = (
            repr([(self.stage.pk, self.stage.name), self.stage_actions, sorted(self.done.items())])
            if self.stage is not None
            else "none"
        )
        return f"{zlib.crc32(offered.encode())}.{timezone.localdate()}"

    def clean_occurred_on(self) -> Any:
        return action_day_check(self.cleaned_data["occurred_on"], joined=self.joined)

    def clean_next_step_due(self) -> Any:
        day = self.cleaned_data["next_step_due"]
        if day is not None and day < timezone.localdate():
            raise forms.ValidationError(f"{long_date(day)} has passed: a next step is due today or later.")
        return day

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if bool(data.get("next_step")) != bool(data.get("next_step_due")) and "next_step_due" not in self.errors:
            self.add_error("next_step_due", "A next step needs both what to do and when it is due.")
        if data.get("kind") == ActionLog.Kind.OTHER and not (data.get("outcome") or data.get("notes")):
            self.add_error("notes", OTHER_SAYS_NOTHING)
        return data

    def action_kind_and_title(self) -> tuple[str, str, str]:
        """(kind, title, stage action key): the key is blank for the common actions."""
        kind = self.cleaned_data["kind"]
        if kind.startswith("stage:"):
            key = kind.removeprefix("stage:")
            title = next(a["title"] for a in self.stage_actions if a["key"] == key)
            return ActionLog.Kind.STAGE_ACTION, title, key
        return kind, ActionLog.Kind(kind).label, ""


class ActionCorrectionForm(forms.Form):
    """Correct a logged action: its date, what happened (among the kinds that may change) and its words, and why."""

    kind = forms.ChoiceField(label="What happened", required=False)
    occurred_on = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    outcome = forms.CharField(max_length=ActionLog._meta.get_field("outcome").max_length, required=False)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=NOTES_LENGTH)
    # How many times the entry had been corrected when the form was opened (`services.action_correct`).
    seen = forms.IntegerField(widget=forms.HiddenInput, required=False)
    reason = forms.CharField(
        max_length=500,
        label="Why it is corrected",
        help_text="Kept on the record beside what the entry said before, with your name.",
    )

    def __init__(self, *args: Any, action: ActionLog, joined: date | None, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "kind": action.kind,
                "occurred_on": action.occurred_on,
                "outcome": action.outcome,
                "notes": action.notes,
                "seen": action.corrections.count(),
            },
        )
        super().__init__(*args, **kwargs)
        self.joined = joined
        self.helper = _NoTagHelper()
        if action.kind in CORRECTABLE_KINDS:
            self.fields["kind"].choices = [(k, ActionLog.Kind(k).label) for k in CORRECTABLE_KINDS]
            self.fields["kind"].required = True
        else:  # a ladder action, a letter or a referral keeps its kind
            del self.fields["kind"]
        self.fields["reason"].error_messages["required"] = CORRECTION_WITHOUT_REASON

    def clean_occurred_on(self) -> Any:
        return action_day_check(self.cleaned_data["occurred_on"], joined=self.joined)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.TextInput(attrs={"placeholder": "Reason (kept on the record)"})
    )


class TaskDoneForm(forms.Form):
    # As long as the record it becomes (ActionLog.outcome) holds.
    outcome = forms.CharField(max_length=ActionLog._meta.get_field("outcome").max_length, required=False, strip=True)


class MoveForm(forms.Form):
    stage = forms.ModelChoiceField(
        queryset=Stage.objects.none(),
        label="Move to stage",
        empty_label="Choose a stage…",
        error_messages={
            "required": "Choose the stage to move to.",
            "invalid_choice": "Choose one of this ladder's stages.",
        },
    )
    reason = forms.CharField(
        max_length=500,
        label="Reason (kept on the pupil's record)",
        error_messages={"required": "Give a reason: it is kept on the pupil's record."},
    )

    def __init__(self, *args: Any, ladder: Ladder, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = ladder.stages.all()
        self.helper = _NoTagHelper()


class FlagsForm(forms.Form):
    flags = forms.ModelMultipleChoiceField(
        queryset=Flag.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, school: School, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["flags"].queryset = Flag.objects.filter(school=school)
        self.helper = _NoTagHelper()


TREND_CHOICES = [("improving", "Improving"), ("declining", "Declining")]
# A pupil's trend: year-to-date attendance up or down by at least this many points over 4 school weeks.
TREND_POINTS = 0.5


def name_matches(value: str, *, pupil: str = "") -> Q:
    """Every word is part of the forename or the surname, or is the UPN: "lucy ad" finds Lucy Adams.
    `pupil`: the path to the pupil ("pupil__" from a placement)."""
    found = Q()
    for word in value.split():
        found &= (
            Q(**{f"{pupil}forename__icontains": word})
            | Q(**{f"{pupil}surname__icontains": word})
            | Q(**{f"{pupil}upn__iexact": word})
        )
    return found


class PlacementFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(method="filter_name", label="Name or UPN", max_length=100)
    registration_group = django_filters.ModelChoiceFilter(
        field_name="pupil__registration_group",
        queryset=RegistrationGroup.objects.none(),
        label="Class",
        empty_label="Any class",
    )
    year_group = django_filters.ModelChoiceFilter(
        field_name="pupil__year_group", queryset=YearGroup.objects.none(), label="Year", empty_label="Any year"
    )
    sen = django_filters.ChoiceFilter(
        field_name="pupil__sen", choices=Pupil.Sen.choices, label="SEN", empty_label="Any"
    )
    flag = django_filters.ModelChoiceFilter(
        field_name="pupil__flags",
        queryset=Flag.objects.none(),
        label="Flag",
        to_field_name="key",
        empty_label="Any flag",
    )
    stage = django_filters.ModelChoiceFilter(
        field_name="stage", queryset=Stage.objects.none(), to_field_name="key", empty_label="Any stage"
    )
    trend = django_filters.ChoiceFilter(choices=TREND_CHOICES, method="filter_trend", label="Trend", empty_label="Any")

    class Meta:
        model = Placement
        fields: list[str] = []

    def __init__(self, *args: Any, school: School, ladder: Ladder, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Reception first, as the register lists classes.
        self.filters["registration_group"].queryset = registration_group_list(school=school)
        self.filters["year_group"].queryset = YearGroup.objects.filter(school=school, pupils__isnull=False).distinct()
        # SEN support and an EHCP have the SEN filter: listed under Flag too, they would be there twice.
        self.filters["flag"].queryset = Flag.objects.filter(school=school).exclude(key__in=SEN_STATUS_FLAGS.values())
        self.filters["stage"].queryset = ladder.stages.all()
        for field in self.form.fields.values():
            field.widget.attrs["class"] = "form-select form-select-sm"
        name = self.form.fields["name"].widget
        name.input_type = "search"
        name.attrs.update({"class": "form-control form-control-sm", "placeholder": "e.g. Adams", "autocomplete": "off"})

    def filter_name(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(name_matches(value, pupil="pupil__"))

    def filter_trend(self, queryset: Any, name: str, value: str) -> Any:
        if value == "improving":
            return queryset.filter(attendance_change__gte=TREND_POINTS)
        if value == "declining":
            return queryset.filter(attendance_change__lte=-TREND_POINTS)
        return queryset
