"""The merge fields: one documented list, filled in completely for every letter."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from letters import merge
from letters.defaults import DEFAULT_TEMPLATES
from letters.sandbox import fields_used
from pupils.statistics import AttendanceSummary

SCHOOL = merge.SchoolFacts("Oakfield Primary School", ("1 School Lane", "Oakfield"), "01632 960000")


def sample(**changes):
    facts = merge.sample_facts(school=SCHOOL, today=date(2025, 11, 26), green_from=Decimal(96), amber_from=Decimal(90))
    from dataclasses import replace

    return replace(facts, **changes)


def test_the_context_fills_exactly_the_documented_fields():
    context = merge.flatten(merge.merge_context(sample()))

    assert set(context) == merge.FIELD_NAMES


def test_the_context_holds_only_plain_values():
    values = merge.flatten(merge.merge_context(sample())).values()

    assert all(type(v) in (str, int) for v in values)


def test_every_field_has_a_description_and_an_example():
    assert all(f.description and f.example for f in merge.MERGE_FIELDS)


def test_figures_are_worded_as_letters_print_them():
    attendance = merge.merge_context(sample())["attendance"]

    # The sample: 215 present + 4 AEA attended, 15 authorised + 6 unauthorised missed.
    assert attendance["year_pct"] == "91.3%"
    assert (attendance["sessions_possible"], attendance["sessions_missed"]) == (240, 21)
    assert (attendance["days_missed"], attendance["weeks_missed"], attendance["hours_lost"]) == ("10.5", "2.1", "68.25")
    assert attendance["as_of"] == "26 November 2025"
    assert (attendance["persistent"], attendance["severe"]) == ("", "")  # 21 of 240 missed: 8.75%


@pytest.mark.parametrize(
    ("present", "absent", "persistent", "severe"),
    [(91, 9, "", ""), (90, 10, "yes", ""), (51, 49, "yes", ""), (50, 50, "yes", "yes"), (21, 79, "yes", "yes")],
)
def test_a_letter_can_say_whether_absence_is_persistent_or_severe(present, absent, persistent, severe):
    year = AttendanceSummary(present=present, authorised=absent, session_minutes=195)
    attendance = merge.merge_context(sample(year=year))["attendance"]

    assert (attendance["persistent"], attendance["severe"]) == (persistent, severe)


def test_staff_details_are_worded_for_a_letter():
    context = merge.merge_context(sample(details={"meeting_on": "2025-12-03", "meeting_time": "15:30"}))

    assert context["meeting"] == {"date": "Wednesday 3 December 2025", "time": "3:30pm", "place": ""}
    assert context["review"] == {"date": ""}
    assert context["note"] == ""


def test_the_period_carries_its_colour():
    period = merge.merge_context(sample())["period"]

    assert (period["pct"], period["rag"]) == ("90.0%", "Amber")


def test_every_shipped_letter_talks_about_figures_or_the_period():
    for key, default in DEFAULT_TEMPLATES.items():
        used = fields_used(default.body)
        assert used & {"attendance.year_pct", "period.pct", "period.name"}, key
        assert default.body.startswith("Dear {{ carer.salutation }},") or default.layout == "certificate", key


def test_letter_text_becomes_paragraphs_and_lists_escaped():
    from letters.rendering import text_to_html

    html = text_to_html("Dear <Sam>,\n\nFigures:\n- one & two\n- three\nAfter.\n\n\nBye\nnow")

    assert html == (
        "<p>Dear &lt;Sam&gt;,</p>\n<p>Figures:</p>\n<ul><li>one &amp; two</li><li>three</li></ul>\n"
        "<p>After.</p>\n<p>Bye<br>now</p>"
    )
