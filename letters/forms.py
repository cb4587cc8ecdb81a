"""Forms check and convert input; services decide and save."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import date, time
from typing import Any

from crispy_forms.helper import FormHelper
from django import forms
from django.utils import timezone

from pupils.calendar import HOLIDAY, WEEKEND, long_date
from pupils.models import HalfTerm, RegistrationGroup, School
from pupils.selectors import registration_group_list
from pupils.services import school_calendar

from . import rendering, services
from .merge import DETAIL_KEYS
from .models import Letter, LetterSettings, LetterTemplate
from .selectors import LETTERHEAD_DETAILS, TemplateText


class _NoTagHelper(FormHelper):
    form_tag = False
    disable_csrf = True


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Letter.Status.choices])
    template = forms.ChoiceField(required=False, label="Letter")
    group = forms.ModelChoiceField(
        queryset=RegistrationGroup.objects.none(), required=False, label="Class", empty_label="Any class"
    )
    q = forms.CharField(required=False, label="Pupil", max_length=80)

    def __init__(self, *args: Any, school: School, templates: list[TemplateText], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # With no filters chosen, the queue shows what is waiting to print.
        self.fields["status"].initial = Letter.Status.QUEUED
        self.fields["template"].choices = [("", "Any letter"), *((t.key, t.name) for t in templates)]
        self.fields["group"].queryset = registration_group_list(school=school)  # Reception first, as the register
        self.fields["q"].widget.attrs.update({"placeholder": "Name or UPN", "class": "form-control form-control-sm"})
        for name in ("status", "template", "group"):
            self.fields[name].widget.attrs["class"] = "form-select form-select-sm"

    def filters(self) -> dict[str, Any]:
        """The filters for `selectors.letter_list`: waiting letters unless another status is chosen."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        status = data.get("status", "") if self.is_bound else Letter.Status.QUEUED
        group = data.get("group")
        return {
            "status": status,
            "template_key": data.get("template", ""),
            "class_id": group.pk if group else None,
            "search": data.get("q", ""),
        }


class IdsField(forms.Field):
    """Letter ids ticked on a page. Any ids: services only ever touch the school's own letters."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        try:
            return [int(v) for v in value or []]
        except (TypeError, ValueError):
            raise forms.ValidationError("Choose letters from the list.") from None


class LetterIdsForm(forms.Form):
    """Letters chosen on the queue page: ticked ones, or every waiting letter matching the filters."""

    letter = IdsField(required=False)
    scope = forms.ChoiceField(choices=[("selected", "Selected"), ("all", "All matching")], required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("scope") != "all" and not data.get("letter"):
            raise forms.ValidationError("Tick at least one letter first.")
        return data


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=200)
    subject = forms.CharField(max_length=200, required=False, help_text="One line. Merge fields work here too.")
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "class": "font-monospace", "spellcheck": "true"}),
        help_text="Leave a blank line between paragraphs. Start lines with '- ' for a list.",
    )
    layout = forms.ChoiceField(choices=LetterTemplate.Layout.choices)
    is_active = forms.BooleanField(required=False, label="Offer this letter when composing and in bulk letters")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _NoTagHelper()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # The same check the service makes on save, so problems show on the form with their lines.
        for name, messages in services.template_problems(
            subject=data.get("subject", ""), body=data.get("body", "")
        ).items():
            for message in messages:
                self.add_error(name, message)
        return data


class NewTemplateForm(TemplateForm):
    key = forms.SlugField(
        max_length=60,
        label="Short name",
        help_text="Letters, numbers, hyphens and underscores, such as 'holiday_request'. Ladders use it to name letters.",
    )

    field_order = ["key", "name", "subject", "body", "layout", "is_active"]

    def __init__(self, *args: Any, existing: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.existing = existing

    def clean_key(self) -> str:
        key = self.cleaned_data["key"].lower()
        if key in self.existing or key == "new":
            raise forms.ValidationError("This school already has a letter with that short name.")
        return key


class DetailsForm(forms.Form):
    """Details staff give a letter: they fill the meeting, review and note merge fields."""

    meeting_on = forms.DateField(required=False, label="Meeting date", widget=forms.DateInput(attrs={"type": "date"}))
    meeting_time = forms.TimeField(required=False, label="Meeting time", widget=forms.TimeInput(attrs={"type": "time"}))
    meeting_place = forms.CharField(required=False, max_length=120, label="Meeting place")
    review_on = forms.DateField(required=False, label="Review date", widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Personal note",
        help_text="Printed after the letter's main text, where its template leaves room for a note (every letter shipped with the app does).",
    )

    #: A meeting with a family is held in these hours (evening meetings included).
    EARLIEST, LATEST = time(7, 0), time(19, 0)

    def __init__(self, *args: Any, school: School, asked: Collection[str] | None = None, **kwargs: Any) -> None:
        """`asked`: the details the letter's template prints (`services.letter_details_asked`); the others
        are left out, so nobody arranges a meeting on a letter that never mentions it. None: all of them."""
        super().__init__(*args, **kwargs)
        if asked is not None:
            for name in set(DETAIL_KEYS) - set(asked):
                del self.fields[name]
        self.initial = dict(self.initial)  # not the letter's own details
        # A letter's details keep dates and times as ISO text: as values, so unchanged ones are seen as unchanged.
        for name, parse in (
            ("meeting_on", date.fromisoformat),
            ("review_on", date.fromisoformat),
            ("meeting_time", time.fromisoformat),
        ):
            if isinstance(value := self.initial.get(name), str) and value:
                self.initial[name] = parse(value)
        self.helper = _NoTagHelper()
        self.calendar = school_calendar(school)
        self.today = timezone.localdate()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        meeting_on, meeting_time, review_on = data.get("meeting_on"), data.get("meeting_time"), data.get("review_on")
        if meeting_time and not meeting_on:
            self.add_error("meeting_on", "Give the meeting's date as well as its time.")
        # A date already in a queued letter may have passed while it waited: only new dates are checked.
        if meeting_on and "meeting_on" in self.changed_data and (problem := self._day_problem(meeting_on)):
            self.add_error("meeting_on", f"The meeting cannot be then: {problem}.")
        if meeting_time and "meeting_time" in self.changed_data and not self.EARLIEST <= meeting_time <= self.LATEST:
            self.add_error(
                "meeting_time",
                f"{meeting_time:%H:%M} is outside the hours a meeting is held"
                f" ({self.EARLIEST:%H:%M} to {self.LATEST:%H:%M}).",
            )
        if review_on and "review_on" in self.changed_data and (problem := self._day_problem(review_on)):
            self.add_error("review_on", f"The review cannot be then: {problem}.")
        elif (
            review_on and meeting_on and review_on < meeting_on and {"review_on", "meeting_on"} & set(self.changed_data)
        ):
            self.add_error("review_on", "The review comes after the meeting: choose a later date.")
        return data

    def _day_problem(self, day: date) -> str:
        """Why a meeting or review cannot be on `day`: it has passed or the school is closed."""
        when = long_date(day)
        if day < self.today:
            return f"{when} has passed"
        closed = self.calendar.closed_reason(day)
        if closed == WEEKEND:
            return f"{when} is a weekend"
        if closed == HOLIDAY:
            return f"{when} is in a school holiday (outside the school's term dates)"
        return ""

    def details(self) -> dict[str, str]:
        data = self.cleaned_data
        values = {
            "meeting_on": data.get("meeting_on"),
            "meeting_time": data["meeting_time"].strftime("%H:%M") if data.get("meeting_time") else "",
            "meeting_place": data.get("meeting_place", ""),
            "review_on": data.get("review_on"),
            "note": data.get("note", ""),
        }
        return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items() if v}


class ComposeForm(DetailsForm):
    template = forms.ChoiceField(label="Letter")
    token = forms.CharField(widget=forms.HiddenInput, max_length=40)

    field_order = ["template", "meeting_on", "meeting_time", "meeting_place", "review_on", "note", "token"]

    def __init__(self, *args: Any, templates: list[TemplateText], **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("token", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        self.texts = {t.key: t for t in templates if t.is_active}
        self.fields["template"].choices = [(key, text.name) for key, text in self.texts.items()]

    def clean_token(self) -> str:
        token = self.cleaned_data["token"]
        if not token.isalnum():
            raise forms.ValidationError("This form is out of date: please reload the page.")
        return token

    def text(self) -> TemplateText:
        return self.texts[self.cleaned_data["template"]]

    def details(self) -> dict[str, str]:
        """Only the details the chosen letter prints: a meeting given for a letter that never mentions one
        is not kept as if it had been sent."""
        asked = services.letter_details_asked(self.text())
        return {key: value for key, value in super().details().items() if key in asked}


def period_choices(*, school: School, today: date) -> list[tuple[str, str]]:
    """Terms and half-terms that have started, newest first, as 'start:end:name' values."""
    half_terms = list(
        HalfTerm.objects.filter(school=school, start_on__lte=today)
        .select_related("academic_year")
        .order_by("-start_on")
    )
    terms: dict[tuple[int, str], list[HalfTerm]] = {}
    for half in half_terms:
        terms.setdefault((half.academic_year_id, half.term), []).append(half)
    choices = []
    for (_, term), halves in terms.items():
        start, end = min(h.start_on for h in halves), max(h.end_on for h in halves)
        name = f"{term.capitalize()} term {halves[0].academic_year.name}"
        choices.append((f"{start}:{end}:{name}", f"{name} ({start:%-d %b} to {end:%-d %b %Y})"))
        for half in sorted(halves, key=lambda h: h.start_on, reverse=True):
            label = f"{half.name} {half.academic_year.name}"
            choices.append(
                (
                    f"{half.start_on}:{half.end_on}:{label}",
                    f"— {label} ({half.start_on:%-d %b} to {half.end_on:%-d %b})",
                )
            )
    return choices[:18]


class BulkForm(forms.Form):
    template = forms.ChoiceField(label="Letter")
    period = forms.ChoiceField(required=False, label="Period")
    start = forms.DateField(required=False, label="Or from", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="to", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, school: School, templates: list[TemplateText], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _NoTagHelper()
        self.today = timezone.localdate()
        self.calendar = school_calendar(school)
        self.texts = {t.key: t for t in templates if t.is_active and t.layout != LetterTemplate.Layout.LETTER}
        self.fields["template"].choices = [(key, text.name) for key, text in self.texts.items()]
        periods = period_choices(school=school, today=self.today)
        self.fields["period"].choices = [*periods, ("", "Other dates (below)")]
        self.fields["period"].initial = periods[0][0] if periods else ""

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("period"):
            start, end, name = data["period"].split(":", 2)
            data["start"], data["end"], data["period_name"] = date.fromisoformat(start), date.fromisoformat(end), name
        elif data.get("start") and data.get("end"):
            data["period_name"] = ""  # named below, from the days actually counted
        else:
            raise forms.ValidationError("Choose a term or half-term, or give the first and last days.")
        if data["end"] < data["start"]:
            self.add_error("end", "The period must end on or after the day it starts.")
        elif data["start"] > self.today:
            self.add_error("start", "The period has not started yet.")
        else:
            # Only days that have happened can be counted: a period still running is counted up to the
            # register's day (today on a school day, else the last one), and the letters say so.
            last = self.calendar.register_day(self.today)
            data["cut_short"] = data["end"] > last
            data["period_running"] = data["period_name"] or _days(data["start"], data["end"])  # as asked
            data["end"] = max(data["start"], min(data["end"], last))
            if not data["period_name"]:  # dates given: the letters name the days they count
                data["period_name"] = _days(data["start"], data["end"])
            elif data["cut_short"]:  # the letters say so too: "100% attendance in Autumn 2 so far"
                data["period_name"] = f"{data['period_name']} so far"
        return data

    @property
    def is_certificate(self) -> bool:
        text = self.texts.get(self.cleaned_data.get("template", ""))
        return bool(text and text.layout == LetterTemplate.Layout.CERTIFICATE)


def _days(start: date, end: date) -> str:
    return f"{start:%-d %B} to {end:%-d %B %Y}"


class SettingsForm(forms.Form):
    address = forms.CharField(
        required=False,
        max_length=500,
        label="School address",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One line per address line, postcode last. Printed under the school's name.",
    )
    phone = forms.CharField(
        required=False,
        max_length=School._meta.get_field("phone").max_length,
        label="Phone number",
        help_text="For families to call the office.",
    )
    email = forms.EmailField(required=False, label="E-mail address")
    signatory_name = forms.CharField(
        required=False,
        max_length=School._meta.get_field("signatory_name").max_length,
        label="Who signs letters",
        help_text="Their name, as it is printed.",
    )
    signatory_role = forms.CharField(
        required=False,
        max_length=School._meta.get_field("signatory_role").max_length,
        label="Their role",
        help_text="Printed under the name, like Headteacher: check it when you change who signs.",
    )
    addressing = forms.ChoiceField(
        choices=LetterSettings.Addressing.choices, widget=forms.RadioSelect, label="Who letters go to"
    )
    rag_green_from = forms.DecimalField(
        label="Green from (%)",
        min_value=0,
        max_value=100,
        max_digits=5,
        decimal_places=2,
        help_text="Attendance at or above this is green.",
    )
    rag_amber_from = forms.DecimalField(
        label="Amber from (%)",
        min_value=0,
        max_value=100,
        max_digits=5,
        decimal_places=2,
        help_text="At or above this, and below green, is amber; below it is red.",
    )
    footer = forms.CharField(
        max_length=300, required=False, label="Footer line", widget=forms.Textarea(attrs={"rows": 2})
    )
    logo = forms.FileField(
        required=False, label="Logo", help_text="PNG or JPEG, at most 500 KB. Printed at the top of every letter."
    )
    remove_logo = forms.BooleanField(required=False, label="Remove the current logo")

    def __init__(self, *args: Any, has_logo: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not has_logo:  # nothing to remove
            del self.fields["remove_logo"]
        self.helper = _NoTagHelper()

    @classmethod
    def initial_from(cls, settings: LetterSettings) -> dict[str, Any]:
        return {
            **{name: getattr(settings.school, name) for name in LETTERHEAD_DETAILS},
            "addressing": settings.addressing,
            "rag_green_from": settings.rag_green_from,
            "rag_amber_from": settings.rag_amber_from,
            "footer": settings.footer,
        }

    def clean_logo(self) -> Any:
        upload = self.cleaned_data.get("logo")
        if not upload:
            return None
        if upload.size > rendering.LOGO_MAX_BYTES:
            raise forms.ValidationError("The logo must be 500 KB or smaller.")
        head = upload.read(16)
        upload.seek(0)
        if rendering.image_type(head) is None:
            raise forms.ValidationError("The logo must be a PNG or JPEG image.")
        return upload

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        green, amber = data.get("rag_green_from"), data.get("rag_amber_from")
        if green is not None and amber is not None and amber > green:
            self.add_error("rag_amber_from", "Amber must start at or below green.")
        return data
