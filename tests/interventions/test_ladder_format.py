"""Ladder file validation: clear errors naming stage and field; seed gaps are warnings, resolved."""

from __future__ import annotations

import pytest
import yaml

from interventions import services
from interventions.ladder_format import problems_located, validate_ladder, yaml_problem


def doc(*stages, **top):
    return {"key": "t", "name": "T", "stages": [{"key": "base", "name": "Base"}, *stages], **top}


def messages(problems):
    return [str(p) for p in problems]


def test_unknown_criterion_is_an_error_naming_the_stage_and_field():
    check = validate_ladder(doc({"key": "s1", "name": "One", "criteria": {"attendence": {"below": 90}}}))
    assert not check.ok and check.resolved is None
    assert any(
        m.startswith("stage 's1', criteria") and "unknown criterion 'attendence'" in m for m in messages(check.errors)
    )


def test_unknown_field_in_a_criterion_is_an_error():
    check = validate_ladder(doc({"key": "s1", "name": "One", "criteria": {"attendance": {"lower_than": 90}}}))
    assert any("stage 's1'" in m and "lower_than" in m for m in messages(check.errors))


def test_automatic_stage_without_criteria_can_never_be_reached():
    check = validate_ladder(doc({"key": "s1", "name": "One"}))
    assert messages(check.errors) == [
        "stage 's1', criteria: an automatic stage needs criteria, or it can never be reached "
        "(use entry: manual for a stage only a person moves pupils to)"
    ]


def test_band_inside_a_more_concerning_band_is_unreachable():
    check = validate_ladder(
        doc(
            {"key": "narrow", "name": "Narrow", "criteria": {"attendance": {"at_least": 91, "below": 93}}},
            {"key": "wide", "name": "Wide", "criteria": {"attendance": {"below": 95}}},
        )
    )
    assert any(m.startswith("stage 'narrow'") and "could never be reached" in m for m in messages(check.errors))


def test_letter_template_that_does_not_exist_is_an_error():
    check = validate_ladder(
        doc({"key": "s1", "name": "One", "criteria": {"flag": "fsm"}, "letters": ["first_reminder", "nope"]}),
        letter_keys={"first_reminder"},
    )
    assert messages(check.errors) == [
        "stage 's1', letters › item 2: there is no letter template 'nope'; known: first_reminder"
    ]


def test_improving_stage_mirroring_another_improving_stage_is_a_cycle_error():
    check = validate_ladder(
        doc(
            {"key": "pa", "name": "PA", "criteria": {"attendance": {"below": 90}}},
            {"key": "i1", "name": "I1", "track": "improving", "mirrors": "i2"},
            {"key": "i2", "name": "I2", "track": "improving", "mirrors": "i1"},
        )
    )
    assert any(m.startswith("stage 'i1', mirrors") and "cycle" in m for m in messages(check.errors))


def test_duplicate_stage_keys_are_an_error():
    check = validate_ladder(doc({"key": "base", "name": "Again", "entry": "manual"}))
    assert "stage 'base', key: the key 'base' is used by 2 stages" in messages(check.errors)


def test_seed_gap_is_a_warning_and_goes_to_the_more_concerning_stage():
    check = validate_ladder(
        doc(
            {"key": "s1", "name": "One", "criteria": {"attendance": {"at_most": 95, "at_least": 93}}},
            {"key": "s2", "name": "Two", "criteria": {"attendance": {"at_most": 92.9, "at_least": 90.1}}},
        )
    )
    assert check.ok
    assert len(check.warnings) == 1
    assert "gap between 's2' (up to 92.9%) and 's1' (from 93%)" in str(check.warnings[0])
    resolved = check.resolved["stages"][2]["criteria"]["attendance"]
    assert resolved == {"at_least": 90.1, "below": 93.0}


def test_seed_overlap_is_a_warning_left_to_the_more_concerning_stage():
    check = validate_ladder(
        doc(
            {"key": "s2", "name": "Two", "criteria": {"attendance": {"at_most": 95, "at_least": 93}}},
            {"key": "s3", "name": "Three", "criteria": {"attendance": {"at_most": 93, "at_least": 90}}},
        )
    )
    assert check.ok
    assert ["overlap between 's3' (up to 93%) and 's2' (from 93%)" in str(w) for w in check.warnings] == [True]


@pytest.mark.parametrize("bad", [None, [], "text", {"key": "x"}])
def test_a_document_of_the_wrong_shape_is_rejected_not_crashed(bad):
    assert not validate_ladder(bad).ok


@pytest.mark.parametrize("bound", ["below", "at_most", "at_least", "above"])
@pytest.mark.parametrize("value", [-0.5, 100.1, 150])
def test_an_attendance_threshold_must_be_a_percentage(bound, value):
    check = validate_ladder(doc({"key": "s1", "name": "One", "criteria": {"any": [{"attendance": {bound: value}}]}}))
    assert messages(check.errors) == [
        f"stage 's1', criteria › any › item 1 › attendance › {bound}: "
        f"{value} is not a percentage: attendance thresholds run from 0 to 100"
    ]


@pytest.mark.parametrize("bound", ["below", "at_most", "at_least", "above"])
@pytest.mark.parametrize("value", [0, 100])
def test_the_ends_of_the_scale_are_thresholds_too(bound, value):
    assert validate_ladder(doc({"key": "s1", "name": "One", "criteria": {"attendance": {bound: value}}})).ok


def test_a_band_nested_in_a_band_open_at_the_bottom_is_how_ladders_are_written_and_not_warned_about():
    check = validate_ladder(
        doc(
            {"key": "s2", "name": "Two", "criteria": {"any": [{"attendance": {"at_most": 90}}, {"flag": "x"}]}},
            {"key": "s3", "name": "Three", "criteria": {"attendance": {"below": 80}}},
        )
    )
    assert check.ok and check.warnings == []


def test_bands_that_share_an_edge_are_warned_about_and_the_more_concerning_stage_wins():
    check = validate_ladder(
        doc(
            {"key": "s2", "name": "Two", "criteria": {"attendance": {"at_least": 90, "below": 95}}},
            {"key": "s3", "name": "Three", "criteria": {"attendance": {"at_most": 90}}},
        )
    )
    assert check.ok
    assert messages(check.warnings) == [
        "stage 's3', criteria › attendance: overlap between 's3' (up to 90%) and 's2' (from 90%): "
        "attendance in the overlap is placed at the more concerning stage 's3'"
    ]


def test_a_problem_names_its_line_and_counts_list_items_from_one():
    text = """key: t
name: T
stages:
  - key: base
    name: Base
  - key: s1
    name: One
    criteria: {flag: fsm}
    actions:
      - key: call
        title: Call home
      - key: meet
        title: Meet the family
        when:
          any:
            - flag: fsm
            - at_stage_for: {weeks: 2}
"""
    check = validate_ladder(yaml.safe_load(text))
    (problem,) = problems_located(check.errors, text)
    assert problem.line == 17  # the at_stage_for line
    assert str(problem).startswith(
        "line 17, stage 's1', actions › item 2 › when › any › item 2: an action's when is about the pupil's register"
    )


def test_a_missing_field_is_placed_at_the_nearest_line_written():
    text = "key: t\nname: T\nstages:\n  - key: base\n    name: Base\n  - key: s1\n    name: One\n"
    check = validate_ladder(yaml.safe_load(text))
    assert [str(p) for p in problems_located(check.errors, text)] == [
        "line 6, stage 's1', criteria: an automatic stage needs criteria, or it can never be reached "
        "(use entry: manual for a stage only a person moves pupils to)"
    ]


def test_mistakes_are_explained_in_words_an_attendance_lead_can_act_on():
    document = services.ladder_file_read("dfe")
    stages = document["stages"]
    stages[1]["colour"] = "greenish"
    stages[2]["criteria"] = {"count": {"measure": "unexplaned", "at_least": 3}}
    stages[2]["roles"] = ["teacher"]
    stages[3]["key"] = "Listen Now"
    del stages[4]["name"]
    errors = [str(p) for p in validate_ladder(document).errors]
    assert "stage 'monitor', colour: 'greenish' is not a colour: write # and six hex digits, like #8bc34a" in errors
    assert any(
        e.startswith("stage 'listen-and-understand', criteria › count › measure: 'unexplaned' is not a measure")
        and "(did you mean 'unexplained'?)" in e
        for e in errors
    )
    assert any("'teacher' is not a role this knows (did you mean 'class_teacher'?)" in e for e in errors)
    assert any("'Listen Now' is not a short name: use lower-case letters, digits, - and _" in e for e in errors)
    assert "stage 'formalise-support': 'name' is missing: add it" in errors


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("key: a\nname: b: c\n", "line 2, column 8: a colon where YAML did not expect one"),
        # A field one space too far in, after a value: YAML reads it as more of that value.
        (
            "key: a\nstages:\n- key: b\n  review_every_weeks: 4\n   monitoring: weekly\n",
            "line 5, column 14: this field's indentation does not line up with the fields above it",
        ),
        ("key: a\n\tname: b\n", "line 2, column 1: a tab: indent with spaces only"),
        ("key: a\nstages:\n  - key: b\n   name: c\n", "a line's indentation does not line up with the lines above it"),
        # A { left open on line 5: YAML notices on line 6, but line 5 is the one to fix.
        (
            "key: a\nstages:\n  - key: b\n    criteria:\n      attendance: {below: 95\n    name: B\n",
            "line 5, column 19: the { on this line is not closed with } (YAML noticed on line 6:",
        ),
        ("key: a\nstages: [x, y\nname: b\n", "line 2, column 9: the [ on this line is not closed with ]"),
    ],
)
def test_a_yaml_slip_is_named_with_its_line_and_what_to_do(text, words):
    with pytest.raises(yaml.YAMLError) as caught:
        yaml.safe_load(text)
    assert words in yaml_problem(caught.value)


def test_a_bound_that_must_be_exceeded_says_more_than():
    document = services.ladder_file_read("dfe")
    document["stages"][1]["criteria"] = {"bottom_percent": 0}
    assert "stage 'monitor', criteria › bottom_percent: should be more than 0, not 0" in [
        str(p) for p in validate_ladder(document).errors
    ]


def test_an_actions_when_is_checked_like_criteria_and_may_not_ask_about_the_ladder():
    action = {"key": "call", "title": "Call", "when": {"count": {"measure": "unexplained", "at_least": 1}}}
    stage = {"key": "s1", "name": "One", "criteria": {"attendance": {"below": 95}}, "actions": [action]}
    assert validate_ladder(doc(stage)).ok

    stage["actions"] = [{**action, "when": {"attendence": {"below": 90}}}]
    assert any("stage 's1'" in m and "attendence" in m for m in messages(validate_ladder(doc(stage)).errors))

    stage["actions"] = [{**action, "when": {"any": [{"flag": "young_carer"}, {"at_stage_for": {"weeks": 4}}]}}]
    assert messages(validate_ladder(doc(stage)).errors) == [
        "stage 's1', actions › item 1 › when › any › item 2: an action's when is about the pupil's register, flags and"
        " contacts: at_stage_for is about the ladder itself, so it cannot say whether the pupil needs the task"
    ]


def test_a_letters_when_is_checked_like_an_actions_and_its_template_must_exist():
    stage = {"key": "s1", "name": "One", "criteria": {"attendance": {"below": 95}}}
    reminder = {"letter": "first_reminder", "when": {"attendance": {"below": 95}}}
    assert validate_ladder(doc({**stage, "letters": [reminder, "second_warning"]}), letter_keys=KNOWN).ok
    check = validate_ladder(
        doc(
            {
                **stage,
                "letters": [
                    {"letter": "nope", "when": {"attendance": {"below": 95}}},
                    {"letter": "first_reminder", "when": {"bottom_percent": 10}},
                    {"letter": "second_warning", "when": {"attendance": {"at_least": 95, "below": 90}}},
                ],
            }
        ),
        letter_keys=KNOWN,
    )
    assert messages(check.errors) == [
        "stage 's1', letters › item 3 › when: the band is empty: its lower edge 95% is above 90%",
        "stage 's1', letters › item 2 › when: a letter's when is about the pupil's register, flags and contacts:"
        " bottom_percent is about the ladder itself, so it cannot say whether the pupil needs the letter",
        "stage 's1', letters › item 1: there is no letter template 'nope'; known: first_reminder, second_warning",
    ]
    misspelt = validate_ladder(doc({**stage, "letters": [{"letter": "first_reminder", "if": {"flag": "fsm"}}]}))
    assert messages(misspelt.errors) == [
        "stage 's1', letters › item 1: unknown field(s) are not allowed ('if' was unexpected)"
    ]
    panel = {**stage, "entry": "approval", "letters": [reminder]}
    assert messages(validate_ladder(doc(panel)).warnings) == [
        "stage 's1', letters: a when is checked only when the night moves a pupil onto a stage; pupils come"
        " onto this approval stage by a person's decision, which gives every action's task and queues every letter"
    ]


def test_a_threshold_written_with_a_percent_sign_is_told_to_drop_it_wherever_it_is():
    """ "94%" is what a lead types; the schema's own words would dump the whole letter or criteria."""
    stage = {
        "key": "s1",
        "name": "One",
        "criteria": {"attendance": {"below": "94%"}},
        "letters": [{"letter": "first_reminder", "when": {"attendance": {"below": "94 %"}}}],
    }
    assert messages(validate_ladder(doc(stage)).errors) == [
        "stage 's1', criteria › attendance › below: write 94 without the % sign: it is a percentage already",
        "stage 's1', letters › item 1 › when › attendance › below: write 94 without the % sign: it is a percentage already",
    ]


KNOWN = {"first_reminder", "second_warning"}


def test_an_actions_when_gets_the_checks_criteria_get_and_a_warning_where_a_person_moves_pupils():
    empty = {"key": "call", "title": "Call", "when": {"attendance": {"at_least": 95, "below": 90}}}
    stage = {"key": "s1", "name": "One", "criteria": {"attendance": {"below": 95}}, "actions": [empty]}
    assert messages(validate_ladder(doc(stage)).errors) == [
        "stage 's1', actions › item 1 › when: the band is empty: its lower edge 95% is above 90%"
    ]
    follow_up = {"key": "call", "title": "Call", "when": {"count": {"measure": "unexplained", "at_least": 1}}}
    panel = {"key": "s1", "name": "Panel", "entry": "approval", "criteria": {"attendance": {"below": 80}}}
    check = validate_ladder(doc({**panel, "actions": [follow_up]}))
    assert check.ok
    assert messages(check.warnings) == [
        "stage 's1', actions: a when is checked only when the night moves a pupil onto a stage; pupils"
        " come onto this approval stage by a person's decision, which gives every action's task"
    ]


def test_a_letter_named_as_staff_know_it_is_matched_to_its_key_and_every_key_says_its_name():
    names = {"first_reminder": "First reminder", "second_warning": "Letter of concern about attendance"}
    check = validate_ladder(
        doc({"key": "s1", "name": "One", "criteria": {"flag": "fsm"}, "letters": ["letter_of_concern"]}),
        letter_keys=names,
    )
    assert messages(check.errors) == [
        "stage 's1', letters › item 1: there is no letter template 'letter_of_concern' (did you mean "
        "'second_warning'?); known: first_reminder (First reminder), second_warning (Letter of concern about attendance)"
    ]


@pytest.mark.parametrize(("colour", "warned"), [("#e8590c", True), ("#ffff00", False), ("#cc4e0a", False)])
def test_a_stage_colour_no_text_reads_on_is_warned_about(colour, warned):
    stage = {"key": "s1", "name": "One", "criteria": {"attendance": {"below": 90}}, "colour": colour}
    check = validate_ladder(doc(stage))
    assert check.ok  # a warning: the ladder still loads
    colour_warnings = [m for m in messages(check.warnings) if m.startswith("stage 's1', colour")]
    assert bool(colour_warnings) == warned
    if warned:
        assert (
            f"neither dark nor white text reads well on {colour} (at best 4.31:1, and 4.5:1 is needed)"
            in (colour_warnings[0])
        )
