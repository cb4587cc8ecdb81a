"""The template language: Django syntax in a sandbox, checked on save with line numbers."""

from __future__ import annotations

import pytest

from letters import sandbox
from letters.defaults import DEFAULT_TEMPLATES
from letters.merge import FIELD_NAMES


def problems(source: str) -> list[str]:
    return [str(p) for p in sandbox.check(source, fields=FIELD_NAMES)]


@pytest.mark.parametrize("key", sorted(DEFAULT_TEMPLATES))
def test_every_shipped_template_passes_the_check(key):
    default = DEFAULT_TEMPLATES[key]

    assert problems(default.subject) == []
    assert problems(default.body) == []


def test_unknown_field_is_reported_with_its_line_and_a_suggestion():
    source = "Dear {{ carer.name }},\n\n{{ pupil.forname }} has missed school."

    assert problems(source) == [
        "Line 3: '{{ pupil.forname }}' is not a merge field. Did you mean '{{ pupil.forename }}'? "
        'The fields you can use are listed with the editor, under "Merge fields".'
    ]


def test_group_name_alone_is_not_a_field():
    (problem,) = problems("Hello\n{{ pupil }}")

    assert problem.startswith("Line 2: '{{ pupil }}' is a group of fields, not a field: use one of them")


def test_unknown_field_inside_an_if_is_found():
    source = (
        "Line one\n{% if meeting.date %}On {{ meeting.day }}{% endif %}\n{% if x %}{% elif review.when %}{% endif %}"
    )

    assert [p.split(":")[0] for p in problems(source)] == ["Line 2", "Line 3", "Line 3"]
    assert "meeting.day" in problems(source)[0]


def test_filter_arguments_are_checked_too():
    assert "'{{ pupil.nickname }}' is not a merge field" in problems("{{ pupil.forename|default:pupil.nickname }}")[0]


def test_syntax_error_names_its_line():
    assert problems("Dear {{ carer.name }},\n\n{% if meeting.date %}\nSee you then.") == [
        "Line 3: '{% if %}' is not closed: add '{% endif %}' where its text ends."
    ]


@pytest.mark.parametrize(
    "source",
    [
        "{% load static %}",
        "{% include 'base.html' %}",
        "{% url 'letters:queue' '1' %}",
        "{% static 'x.css' %}",
        "{% for x in pupil %}{% endfor %}",
        "{% debug %}",
        "{% extends 'base.html' %}",
    ],
)
def test_tags_beyond_if_and_comment_cannot_be_used(source):
    (problem,) = problems(source)

    assert problem.startswith("Line 1: '{% ")
    assert "cannot be used in letters. The tags you can use are {% if %}" in problem


def test_filters_outside_the_allowed_few_cannot_be_used():
    (problem,) = problems("{{ letter.date|safe }}")

    assert problem == (
        "Line 1: the filter '|safe' cannot be used in letters. "
        "The filters you can use are default, upper, lower, title, capfirst, pluralize, yesno."
    )


def test_private_attributes_are_refused():
    assert problems("{{ pupil.__class__ }}") == ["Line 1: merge fields cannot begin with an underscore."]


def test_stray_brackets_are_reported():
    assert problems("Dear {{ carer.name }},\nYou missed {{ attendance.sessions_missed sessions.") != []
    assert problems("Text\n\nand } } then }}") == [
        "Line 3: '}}' is not part of a merge field or tag: check the brackets are in pairs, "
        "like {{ pupil.forename }} or {% if meeting.date %}."
    ]


def test_empty_merge_field_is_explained():
    assert problems("{{ }}") == ["Line 1: '{{ }}' is empty: put a merge field inside, such as {{ pupil.forename }}."]


def test_rendering_uses_plain_data_and_no_autoescape():
    context = {"pupil": {"forename": "Zoë <b>"}, "meeting": {"date": ""}, "attendance": {"lates": 1}}
    source = "{{ pupil.forename|upper }} {% if meeting.date %}meet{% else %}call{% endif %} late{{ attendance.lates|pluralize }}"

    assert sandbox.render(source, context) == "ZOË <B> call late"


def test_the_engine_has_no_builtins_loaders_or_libraries():
    engine = sandbox.ENGINE

    assert engine.loaders == []
    assert engine.libraries == {}
    assert set(engine.template_builtins[0].tags) == {"if", "comment"}
    assert len(engine.template_builtins) == 1


def test_a_very_long_template_is_refused():
    assert "the most a letter may have is 20000" in problems("x" * 20_001)[0]


def test_fields_used_lists_the_merge_fields():
    assert sandbox.fields_used("{{ pupil.forename }} {% if meeting.date %}{{ meeting.time }}{% endif %}") == {
        "pupil.forename",
        "meeting.date",
        "meeting.time",
    }
