"""Letter rules in plain Python: colours, who a letter goes to, figures in words."""

from __future__ import annotations

from decimal import Decimal

import pytest

from letters import rules
from letters.rules import Carer
from pupils.statistics import hours_text, number_text

D = Decimal


@pytest.mark.parametrize(
    ("pct", "colour"),
    [
        (D("100"), "green"),
        (D("96"), "green"),
        (D("95.96"), "green"),  # printed as 96.0%: green, as the letter says
        (D("95.94"), "amber"),
        (D("90"), "amber"),
        (D("89.95"), "amber"),  # printed as 90.0%
        (D("89.94"), "red"),
        (D("0"), "red"),
        (None, None),
    ],
)
def test_rag_colour_is_decided_on_the_printed_figure(pct, colour):
    assert rules.rag_colour(pct, green_from=D("96"), amber_from=D("90")) == colour


def test_rag_thresholds_are_the_schools_own():
    assert rules.rag_colour(D("94"), green_from=D("95"), amber_from=D("85")) == "amber"
    assert rules.rag_colour(D("84.9"), green_from=D("95"), amber_from=D("85")) == "red"


def test_amber_above_green_is_refused():
    with pytest.raises(ValueError, match="amber"):
        rules.rag_colour(D("50"), green_from=D("90"), amber_from=D("95"))


MUM = Carer(1, "Sarah Smith", ("12 Elm Grove", "Oakfield", "WS2 5EG"))
DAD_SAME_HOME = Carer(2, "David Smith", ("12 elm grove", "OAKFIELD", "WS2  5EG"), priority=2)
DAD_ELSEWHERE = Carer(3, "Dan Jones", ("3 Mill Lane", "Oakfield", "WS2 7AB"), priority=2)
GRAN_NO_POST = Carer(4, "Joan Smith", ("12 Elm Grove", "Oakfield", "WS2 5EG"), receives_letters=False, priority=3)


def test_household_addressing_writes_once_to_each_home():
    letters = rules.recipients([DAD_ELSEWHERE, MUM, DAD_SAME_HOME, GRAN_NO_POST], addressing="household")

    assert [(r.contact_id, r.name, r.address_lines[0]) for r in letters] == [
        (1, "Sarah Smith and David Smith", "12 Elm Grove"),
        (3, "Dan Jones", "3 Mill Lane"),
    ]


def test_each_addressing_writes_to_every_carer_who_receives_post():
    letters = rules.recipients([MUM, DAD_SAME_HOME, GRAN_NO_POST], addressing="each")

    assert [r.name for r in letters] == ["Sarah Smith", "David Smith"]


def test_joint_addressing_writes_one_letter_to_the_first_carers_address():
    (letter,) = rules.recipients([DAD_ELSEWHERE, MUM], addressing="joint")

    assert (letter.name, letter.address_lines[0], letter.contact_ids) == (
        "Sarah Smith and Dan Jones",
        "12 Elm Grove",
        (1, 3),
    )


def test_nobody_to_write_to_still_gives_one_letter_to_the_parent_or_carer():
    (letter,) = rules.recipients([GRAN_NO_POST], addressing="household")

    assert (letter.contact_id, letter.name, letter.address_lines) == (None, "Parent/Carer", ())


def test_a_queued_letter_follows_its_carer_to_a_new_address():
    moved = Carer(3, "Dan Jones", ("1 New Road", "Elsewhere"), priority=2)

    found = rules.recipient_for([MUM, moved], addressing="household", contact_id=3)

    assert (found.name, found.address_lines[0]) == ("Dan Jones", "1 New Road")


def test_a_queued_letter_to_a_carer_who_stopped_receiving_post_still_goes_to_them():
    stopped = Carer(3, "Dan Jones", ("3 Mill Lane",), receives_letters=False)

    assert rules.recipient_for([MUM, stopped], addressing="household", contact_id=3).name == "Dan Jones"
    assert rules.recipient_for([MUM], addressing="household", contact_id=99).name == "Sarah Smith"


@pytest.mark.parametrize(
    ("names", "joined"),
    [((), ""), (("A",), "A"), (("A", "B"), "A and B"), (("A", "B", "C"), "A, B and C")],
)
def test_names_are_joined_in_plain_english(names, joined):
    assert rules.join_names(names) == joined


def test_figures_in_words():
    assert hours_text(D("45.50")) == "45.5"
    assert hours_text(D("9.75")) == "9.75"
    assert hours_text(D("39.00")) == "39"
    assert number_text(rules.days_missed(15)) == "7.5"
    assert number_text(rules.weeks_missed(21)) == "2.1"
    assert number_text(rules.weeks_missed(25)) == "2.5"
    assert rules.pct_text(D("91.25")) == "91.3%"
    assert rules.pct_text(None) == "not yet recorded"


def test_a_letter_congratulating_improvement_needs_a_half_term_above_the_rest_of_the_year():
    from pupils.statistics import AttendanceSummary

    def summary(present, absent):
        return AttendanceSummary(present=present, unauthorised=absent)

    def problem(half_term, before):
        return rules.wording_problem(
            rules.IMPROVING, forename="Erin", term=summary(0, 0), half_term=half_term, before_half_term=before
        )

    assert problem(summary(90, 10), summary(80, 20)) == ""
    assert "is not above the rest of the school year's (80.0%)" in problem(summary(80, 20), summary(80, 20))
    # The year's first half-term has nothing before it to improve on.
    assert "no figures from earlier this school year" in problem(summary(99, 1), summary(0, 0))


def test_a_certificate_needs_every_possible_session_of_the_term_attended():
    from pupils.statistics import AttendanceSummary

    def problem(term):
        empty = AttendanceSummary()
        return rules.wording_problem(
            rules.FULL_ATTENDANCE, forename="Erin", term=term, half_term=empty, before_half_term=empty
        )

    assert problem(AttendanceSummary(present=120, not_possible=4)) == ""
    assert "has missed 1 of 121 sessions" in problem(AttendanceSummary(present=120, authorised=1))
    assert "has no sessions" in problem(AttendanceSummary())
