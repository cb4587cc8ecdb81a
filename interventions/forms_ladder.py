"""Forms for the ladder pages: the ladder as YAML text."""

from __future__ import annotations

from typing import Any

import yaml
from crispy_forms.helper import FormHelper
from django import forms

from .ladder_format import yaml_problem


class _NoTagHelper(FormHelper):
    form_tag = False
    disable_csrf = True


class LadderYamlForm(forms.Form):
    """The ladder file as text (docs/ladder-format.md). Turns it into a document; the service checks the rest."""

    text = forms.CharField(
        label="Ladder (YAML)",
        max_length=200_000,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 30, "class": "font-monospace small", "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _NoTagHelper()

    def clean_text(self) -> dict[str, Any]:
        text = self.cleaned_data["text"]
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise forms.ValidationError(f"This is not valid YAML, at {yaml_problem(exc)}.") from exc
        if not isinstance(document, dict):
            raise forms.ValidationError("A ladder is a YAML mapping: it starts with key:, name: and stages:.")
        self.cleaned_data["document"] = document
        return text
