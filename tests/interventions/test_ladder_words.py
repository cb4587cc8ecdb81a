"""Criteria in plain English, and the ladder laid out as a picture. No database."""

from __future__ import annotations

import pytest

from interventions.ladder_words import describe_criterion, humanise, ladder_picture, text_colour


@pytest.mark.parametrize(
    ("criterion", "words"),
    [
        (None, ""),
        ({"attendance": {"below": 90}}, "attendance below 90% year to date"),
        ({"attendance": {"at_least": 93, "at_most": 95}}, "attendance between 93% and 95% year to date"),
        ({"attendance": {"above": 90, "below": 96, "window": "term"}}, "attendance above 90% and below 96% this term"),
        ({"attendance": {"at_most": 92.90}}, "attendance 92.9% or below year to date"),
        (
            {"attendance": {"below": 90, "window": {"weeks": 6}, "min_possible": 10}},
            "attendance below 90% over the last 6 school weeks (once 10 sessions are possible)",
        ),
        ({"count": {"measure": "lates", "at_least": 3, "window": "half_term"}}, "3+ lates this half-term"),
        (
            {"count": {"measure": "unexplained", "at_least": 1, "window": "half_term"}},
            "1+ unexplained absence session (N) this half-term",
        ),
        ({"count": {"measure": "lates", "at_least": 3, "below": 6}}, "3 to 5 lates year to date"),
        (
            {"count": {"measure": "unauthorised", "at_least": 10, "window": {"weeks": 10}}},
            "10+ unauthorised absence sessions over the last 10 school weeks",
        ),
        (
            {"count": {"measure": "consecutive_days_absent", "at_least": 10}},
            "10+ school days absent in a row (the current run)",
        ),
        ({"flag": "young_carer"}, "flagged “Young carer”"),
        ({"flag": "our_own"}, "flagged “our own”"),
        ({"bottom_percent": 10}, "in the school's bottom 10% for attendance this year"),
        ({"manual": True}, "only when a person moves the pupil here"),
        ({"no_contact": {"school_days": 3}}, "absent 3 school days in a row with no contact with the family logged"),
        (
            {"at_stage_for": {"weeks": 6, "without_improvement": True}},
            "6+ weeks at this stage without attendance rising 1 point",
        ),
        (
            {"held_for": {"weeks": 6, "criterion": {"attendance": {"below": 90}}}},
            "attendance below 90% year to date at the end of each of the last 6 school weeks",
        ),
        ({"not": {"flag": "ehcp"}}, "not flagged “Education, health and care plan”"),
        (
            {
                "any": [
                    {"attendance": {"below": 90}},
                    {"count": {"measure": "lates", "at_least": 3, "window": "half_term"}},
                ]
            },
            "attendance below 90% year to date, or 3+ lates this half-term",
        ),
        (
            {
                "any": [
                    {"attendance": {"below": 90}},
                    {
                        "all": [
                            {"at_stage_for": {"weeks": 4}},
                            {"count": {"measure": "illness", "at_least": 1, "window": "term"}},
                        ]
                    },
                ]
            },
            "attendance below 90% year to date, or (4+ weeks at this stage, and 1+ illness session this term)",
        ),
        (
            {"all": [{"flag": "compulsory_school_age"}, {"attendance": {"at_most": 50}}]},
            "of compulsory school age, and attendance 50% or below year to date",
        ),
    ],
)
def test_criteria_in_words(criterion, words):
    names = {"young_carer": "Young carer", "ehcp": "Education, health and care plan"}
    assert describe_criterion(criterion, names) == words


def test_text_reads_on_light_and_dark_stage_colours():
    assert text_colour("#ffc107") == "#212529"  # amber: dark text
    assert text_colour("#842029") == "#fff"  # dark red: white text
    assert text_colour("not a colour") == "#fff"


def test_picture_puts_improving_stages_under_the_stage_they_mirror():
    document = {
        "stages": [
            {"key": "base", "name": "Base"},
            {"key": "concern", "name": "Concern", "criteria": {"attendance": {"below": 95}}},
            {"key": "pa", "name": "PA", "criteria": {"attendance": {"below": 90}}},
            {"key": "better", "name": "Better", "track": "improving", "mirrors": "concern"},
            {"key": "still", "name": "Still", "track": "improving", "mirrors": "concern"},
        ]
    }
    picture = ladder_picture(document, {"pa": 4})
    assert [(s.key, s.column, s.row, s.step) for s in picture.falling] == [
        ("base", 1, 1, 1),
        ("concern", 2, 1, 2),
        ("pa", 3, 1, 3),
    ]
    assert [(s.key, s.column, s.row, s.mirrors.key) for s in picture.improving] == [
        ("better", 2, 2, "concern"),
        ("still", 2, 3, "concern"),
    ]
    assert (picture.columns, picture.rows) == (3, 3)
    assert {s.key: s.count for s in picture.stages} == {"base": 0, "concern": 0, "pa": 4, "better": 0, "still": 0}
    assert ladder_picture(document).stages[0].count is None  # a shipped ladder places nobody


def test_keys_become_words_with_acronyms_kept():
    assert humanise("la_referral_notice") == "LA referral notice"
    assert humanise("first_reminder") == "First reminder"
