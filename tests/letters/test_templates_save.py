"""Saving templates and settings: a bad template is refused with its line, and nothing is saved."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from letters import services
from letters.defaults import DEFAULT_TEMPLATES
from letters.models import LetterSettings, LetterTemplate, LetterTemplateRevision

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def save(school, user, **changes):
    default = DEFAULT_TEMPLATES["first_reminder"]
    fields = {"name": default.name, "subject": default.subject, "body": default.body, "layout": "letter"}
    return services.letter_template_save(school=school, key="first_reminder", user=user, **{**fields, **changes})


def test_saving_a_default_makes_the_schools_copy_and_keeps_a_revision(school, attendance_lead):
    template = save(school, attendance_lead, body="Dear {{ carer.name }},\n\nHello.")
    save(school, attendance_lead, body="Dear {{ carer.name }},\n\nHello again.")

    template.refresh_from_db()
    assert (template.body, template.updated_by) == ("Dear {{ carer.name }},\n\nHello again.", attendance_lead)
    assert list(LetterTemplateRevision.objects.values_list("body", flat=True)) == [
        "Dear {{ carer.name }},\n\nHello again.",
        "Dear {{ carer.name }},\n\nHello.",
    ]


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        (
            "body",
            "Dear {{ carer.name }},\n\n{{ pupil.nickname }}",
            "Line 3: '{{ pupil.nickname }}' is not a merge field.",
        ),
        ("body", "Dear {{ carer.name }},\n{% if meeting.date %}", "Line 2: '{% if %}' is not closed"),
        ("body", "{% load static %}", "Line 1: '{% load %}' cannot be used in letters."),
        ("subject", "About {{ pupil.first }}", "Line 1: '{{ pupil.first }}' is not a merge field."),
    ],
)
def test_a_bad_template_is_refused_with_its_line_and_nothing_is_saved(school, attendance_lead, field, text, message):
    with pytest.raises(ValidationError) as refused:
        save(school, attendance_lead, **{field: text})

    assert any(m.startswith(message) for m in refused.value.message_dict[field])
    assert not LetterTemplate.objects.exists()
    assert not LetterTemplateRevision.objects.exists()


def test_a_bad_edit_leaves_the_saved_template_as_it_was(school, attendance_lead):
    template = save(school, attendance_lead, body="Dear {{ carer.name }}")

    with pytest.raises(ValidationError):
        save(school, attendance_lead, body="Dear {{ carer.nmae }}")

    template.refresh_from_db()
    assert template.body == "Dear {{ carer.name }}"
    assert LetterTemplateRevision.objects.count() == 1


def test_settings_keep_colours_in_order(school, attendance_lead):
    with pytest.raises(ValidationError):
        services.letter_settings_save(
            school=school,
            user=attendance_lead,
            addressing="household",
            rag_green_from=Decimal(90),
            rag_amber_from=Decimal(95),
            footer="",
        )
    assert not LetterSettings.objects.exists()


def test_a_logo_must_be_a_small_png_or_jpeg(school, attendance_lead):
    args = {
        "school": school,
        "user": attendance_lead,
        "addressing": "each",
        "rag_green_from": Decimal(95),
        "rag_amber_from": Decimal(90),
        "footer": "Ask us",
    }
    with pytest.raises(ValidationError, match="PNG or JPEG"):
        services.letter_settings_save(**args, logo=SimpleUploadedFile("logo.gif", b"GIF89a...."))

    settings = services.letter_settings_save(**args, logo=SimpleUploadedFile("logo.png", PNG))

    assert (settings.addressing, settings.footer, settings.logo.read()) == ("each", "Ask us", PNG)
    assert services.letter_settings_save(**args, remove_logo=True).logo.name == ""
