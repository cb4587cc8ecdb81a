"""Forms for the senior leaders' lists: filters, and recording and updating referrals."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from crispy_forms.helper import FormHelper
from django import forms
from django.http import QueryDict
from django.utils import timezone

from pupils.calendar import long_date
from pupils.models import Pupil, RegistrationGroup, School, YearGroup
from pupils.selectors import registration_group_list

from .forms import action_day_check
from .models import Referral, Stage
from .services import REFERRAL_IN_THE_FUTURE

#: The escalations list looks back this far unless asked otherwise.
DEFAULT_WEEKS = 4


class _NoTagHelper(FormHelper):
    form_tag = False
    disable_csrf = True


class _MarksInvalid:
    """For forms drawn field by field (not through crispy): flag fields with errors for Bootstrap and screen readers."""

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        for name in self.errors:  # type: ignore[attr-defined]
            if name in self.fields:  # type: ignore[attr-defined]
                self.mark_invalid(name)

    def mark_invalid(self, name: str) -> None:
        """Flag one field; also for an error a service found after the form's own checks passed."""
        attrs = self.fields[name].widget.attrs  # type: ignore[attr-defined]
        attrs["class"] = f"{attrs.get('class', '')} is-invalid".strip()
        attrs["aria-invalid"] = "true"


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _small(form: forms.Form) -> None:
    """Compact Bootstrap controls for a filter bar drawn field by field."""
    for field in form.fields.values():
        is_select = isinstance(field.widget, forms.Select)
        field.widget.attrs["class"] = "form-select form-select-sm" if is_select else "form-control form-control-sm"


class EscalationFilterForm(_MarksInvalid, forms.Form):
    start = forms.DateField(label="From", required=False, widget=_date_input())
    end = forms.DateField(label="To", required=False, widget=_date_input())
    stage = forms.ModelChoiceField(
        queryset=Stage.objects.none(), required=False, to_field_name="key", label="Moved to", empty_label="Any stage"
    )
    registration_group = forms.ModelChoiceField(
        queryset=RegistrationGroup.objects.none(), required=False, label="Class", empty_label="Any class"
    )
    year_group = forms.ModelChoiceField(
        queryset=YearGroup.objects.none(), required=False, label="Year", empty_label="Any year"
    )

    def __init__(self, data: Any = None, *, school: School, stages: Any, today: date, **kwargs: Any) -> None:
        # Always bound, with the default period filled in, so the date boxes show the period on the page.
        data = data.copy() if data is not None else QueryDict(mutable=True)
        for name, default in (("start", today - timedelta(weeks=DEFAULT_WEEKS)), ("end", today)):
            if not data.get(name):
                data[name] = default.isoformat()
        super().__init__(data, **kwargs)
        self.today = today
        self.fields["stage"].queryset = stages
        # Reception first, as the register lists classes.
        self.fields["registration_group"].queryset = registration_group_list(school=school)
        self.fields["year_group"].queryset = YearGroup.objects.filter(school=school, pupils__isnull=False).distinct()
        _small(self)
        self.helper = _NoTagHelper()

    @property
    def default_start(self) -> date:
        return self.today - timedelta(weeks=DEFAULT_WEEKS)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "The end of the period must be on or after its start.")
        elif end and end > self.today:
            self.add_error(
                "end", f"The period cannot end after today ({long_date(self.today)}): nothing has happened yet."
            )
        return data

    def period(self) -> tuple[date, date]:
        """The chosen period, or the last four weeks to today where a date is missing or the form is invalid."""
        data = self.cleaned_data if self.is_valid() else {}
        return data.get("start") or self.default_start, data.get("end") or self.today

    def choice(self, name: str) -> Any:
        return self.cleaned_data.get(name) if self.is_valid() else None


class ReferralFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Any status"), ("open", "Open (not yet closed or declined)")], required=False
    )
    to = forms.ChoiceField(choices=[("", "Any service"), *Referral.To.choices], required=False, label="Referred to")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [*self.fields["status"].choices, *Referral.Status.choices]
        _small(self)
        self.helper = _NoTagHelper()

    def choice(self, name: str) -> str:
        return self.cleaned_data.get(name, "") if self.is_bound and self.is_valid() else ""


#: A referral that has ended needs its outcome written down.
NEEDS_OUTCOME = (Referral.Status.DECLINED, Referral.Status.CLOSED)


class ReferralUpdateForm(_MarksInvalid, forms.Form):
    # The date the person saw, to tell their change from someone else's made meanwhile.
    made_on_shown = forms.DateField(required=False, widget=forms.HiddenInput)
    # Left out (a page loaded before it was there), the referral keeps its date.
    made_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control form-control-sm"}, format="%Y-%m-%d"),
    )
    status = forms.ChoiceField(
        choices=Referral.Status.choices, widget=forms.Select(attrs={"class": "form-select form-select-sm"})
    )
    outcome = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.TextInput(attrs={"class": "form-control form-control-sm", "placeholder": "Outcome"}),
    )

    def __init__(self, *args: Any, referral: Referral, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.referral = referral
        self.helper = _NoTagHelper()

    def clean_made_on(self) -> date | None:
        day, shown = self.cleaned_data["made_on"], self.cleaned_data.get("made_on_shown")
        if "made_on" not in self.data:  # a page from before the date was on it: the referral keeps its date
            return None
        if day is None:
            raise forms.ValidationError("Enter the date the referral was made.")
        if day == (shown or self.referral.made_on):
            return None  # not changed by this person
        return action_day_check(day, joined=self.referral.pupil.start_on, future=REFERRAL_IN_THE_FUTURE)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("status") in NEEDS_OUTCOME and not (data.get("outcome") or "").strip():
            self.add_error("outcome", "Say what the outcome was: a declined or closed referral needs one.")
        return data


class ReferralForm(forms.Form):
    # No service is chosen for you: one click must not record a referral to the first one in the list.
    to = forms.ChoiceField(choices=[("", "Choose a service…"), *Referral.To.choices], label="Referred to")
    made_on = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    status = forms.ChoiceField(choices=Referral.Status.choices, initial=Referral.Status.MADE)
    outcome = forms.CharField(
        max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Outcome or notes"
    )

    def __init__(self, *args: Any, pupil: Pupil, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pupil = pupil
        self.fields["made_on"].initial = timezone.localdate()
        self.helper = _NoTagHelper()

    def clean_made_on(self) -> date:
        return action_day_check(self.cleaned_data["made_on"], joined=self.pupil.start_on, future=REFERRAL_IN_THE_FUTURE)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("status") in NEEDS_OUTCOME and not (data.get("outcome") or "").strip():
            self.add_error("outcome", "Say what the outcome was: a declined or closed referral needs one.")
        return data
