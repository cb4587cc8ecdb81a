"""The office's forms: they check and convert input; services decide and save."""

from __future__ import annotations

from datetime import date
from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from .codes import NOT_COMPULSORY_AGE, PRESENT_BY_SESSION, UNEXPLAINED, Category, code_table
from .models import Pupil, StaffMembership

#: The largest file the office page accepts (a year of marks for a big secondary is about 40 MB).
DEFAULT_UPLOAD_MAX_BYTES = 200 * 1024 * 1024

#: Code groups in the order the office meets them when a parent rings.
_GROUPS = (
    (Category.AUTHORISED, "Authorised absence"),
    (Category.UNAUTHORISED, "Unauthorised absence"),
    (Category.PRESENT, "Present"),
    (Category.AEA, "Approved educational activity"),
    (Category.NOT_POSSIBLE, "Not a possible session"),
)


def _helper(*, labels: bool = True) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False  # the template owns <form>, its action and its hx-* attributes
    helper.disable_csrf = True
    if not labels:
        helper.label_class = "visually-hidden"
    return helper


def codes_in_force(
    day: date, *, exclude: frozenset[str] = frozenset(), first: tuple[str, ...] = ()
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The codes that may be recorded on `day`, grouped for a <select>: (group, [(code, "code: meaning")]).

    Codes in `first` lead, in a group of their own, ahead of the DfE categories.
    """
    valid = {c.code: c for c in code_table().values() if c.is_valid_on(day) and c.code not in exclude}
    leading = [valid.pop(code) for code in first if code in valid]
    groups = [("Most often", leading)] if leading else []
    groups += [(label, [c for c in valid.values() if c.category == category]) for category, label in _GROUPS]
    # A group left empty (Present, once present marks are left out) would show as a bare heading.
    return [(label, [(c.code, f"{c.code}: {c.description}") for c in codes]) for label, codes in groups if codes]


class ImportForm(forms.Form):
    KIND_CHOICES = [
        ("marks", "Attendance marks: a marks CSV or a CTF XML file"),
        ("pupils", "Pupils: a pupils CSV (new pupils, or changes to the roll)"),
    ]

    kind = forms.ChoiceField(
        label="What the file holds", choices=KIND_CHOICES, initial="marks", widget=forms.RadioSelect
    )
    file = forms.FileField(
        label="File",
        help_text="CSV saved as UTF-8, or a CTF XML export from the MIS. A file with any problem changes nothing.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xml,.txt,text/csv,text/xml,application/xml"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper()

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        limit = getattr(settings, "OFFICE_UPLOAD_MAX_BYTES", DEFAULT_UPLOAD_MAX_BYTES)
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {filesizeformat(upload.size)}; the most the page takes is {filesizeformat(limit)}. "
                "Split it by date, or import it with manage.py import_marks."
            )
        return upload


class MarkForm(forms.Form):
    """One session's new code and the reason for it.

    Neither is required here: the service checks both (and whether the code may be
    used that day) and names every problem at once.
    """

    code = forms.CharField(label="Code", max_length=4, strip=True, required=False)
    reason = forms.CharField(label="Reason", max_length=200, required=False)

    def __init__(self, *args: Any, datalist: str = "", inline: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # In a grid cell the labels are for screen readers only; the placeholders say the same.
        self.helper = _helper(labels=not inline)
        code = self.fields["code"].widget.attrs
        code.update({"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"})
        code["placeholder"] = "Code, e.g. I" if inline else "For example I, M, C, O or /"
        if datalist:
            code["list"] = datalist
        reason = self.fields["reason"].widget.attrs
        reason["placeholder"] = "Reason (kept in its history)"
        if inline:
            code["class"] = "form-control-sm"
            reason["class"] = "form-control-sm"


#: Not what a parent's reason for an absence can turn an N into: present marks, a school closure, not on roll.
NOT_A_REASON = frozenset({UNEXPLAINED, *PRESENT_BY_SESSION, "L", "#", "Z", NOT_COMPULSORY_AGE})


class ReasonReceivedForm(forms.Form):
    """A parent has rung: the N becomes the code their reason fits, with the reason kept."""

    on = forms.DateField(widget=forms.HiddenInput)
    code = forms.ChoiceField(label="Code")
    reason = forms.CharField(label="Reason given", max_length=200)

    def __init__(self, *args: Any, on: date, pupil: Pupil, **kwargs: Any) -> None:
        # Each pupil's row has its own form (a row a day on the list of every one waiting): ids must differ,
        # names stay the same.
        kwargs.setdefault("auto_id", f"id_%s_{pupil.pk}_{on:%Y%m%d}")
        kwargs.setdefault("initial", {"on": on})
        super().__init__(*args, **kwargs)
        self.pupil = pupil
        # Most calls are about illness or an appointment: those two lead.
        leading = ("I", "M")
        self.fields["code"].choices = [
            ("", "Choose a code"),
            *codes_in_force(on, exclude=NOT_A_REASON, first=leading),
        ]
        self.fields["code"].label = f"New code for {pupil.full_name}"
        self.fields["reason"].label = f"Reason given for {pupil.full_name}"
        self.fields["reason"].widget.attrs["placeholder"] = "What was said"
        self.helper = _helper(labels=False)
        self.helper.layout = Layout(
            "on",
            Row(
                Column("code", css_class="col-md-5"),
                Column("reason", css_class="col-md-7"),
                css_class="g-1",
            ),
        )


class StaffAddForm(forms.Form):
    """Give a member of staff a role at the school (`services.staff_add`): one the person giving it may give."""

    name = forms.CharField(
        max_length=150,
        required=False,
        label="Their name",
        help_text="As pages and records show it: Priya Shah. Leave it empty for a colleague who already signs in here.",
    )
    username = forms.CharField(
        max_length=150,
        label="Username",
        help_text="What they sign in with: priya.shah. For a colleague who already signs in here, their username.",
    )
    email = forms.EmailField(required=False, label="E-mail address", help_text="For a forgotten password.")
    role = forms.ChoiceField()  # no role chosen for them: an attendance lead's rights are not a default
    classes = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Classes",
        help_text="A class teacher's classes: they see these pupils only. Other roles see the whole school.",
    )

    def __init__(self, *args: Any, classes: list[str], roles: list[str], **kwargs: Any) -> None:
        """`roles`: those the person filling it in may give (`Access.may_give`)."""
        super().__init__(*args, **kwargs)
        self.fields["classes"].choices = [(name, name) for name in classes]
        self.fields["role"].choices = [("", "Choose a role…")] + [
            (value, label) for value, label in StaffMembership.Role.choices if value in roles
        ]
        self.helper = _helper()

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip()
