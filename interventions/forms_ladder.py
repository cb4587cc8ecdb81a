"""Forms for the ladder pages: the ladder as YAML text."""

from __future__ import annotations

from typing import Any

import yaml
from crispy_forms.helper import FormHelper
from django import forms

from .ladder_format import Problem, yaml_problem, yaml_slip


class _NoTagHelper(FormHelper):
    form_tag = False
    disable_csrf = True


class LadderYamlForm(forms.Form):
    """The ladder file as text (docs/ladder-format.md). Turns it into a document; the service checks the rest."""

    text = forms.CharField(
        label="Ladder (YAML)",
        max_length=200_000,
        strip=False,
        widget=forms.Textarea(
            # wrap off: one row a line, so "line 120" is the 120th row and the go-to-line links can find it
            attrs={"rows": 30, "class": "font-monospace small", "spellcheck": "false", "wrap": "off"}
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _NoTagHelper()
        #: Why the text is not a ladder document at all, for the page's list of problems (set by clean_text).
        self.problems: list[Problem] = []

    def clean_text(self) -> dict[str, Any]:
        text = self.cleaned_data["text"]
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            line, _, meaning = yaml_slip(exc)
            self.problems = [Problem("", f"this is not valid YAML: {meaning}", line)]
            raise forms.ValidationError(f"This is not valid YAML, at {yaml_problem(exc)}.") from exc
        if not isinstance(document, dict):
            message = "A ladder is a YAML mapping: it starts with key:, name: and stages:."
            self.problems = [Problem("", message)]
            raise forms.ValidationError(message)
        self.cleaned_data["document"] = document
        return text
