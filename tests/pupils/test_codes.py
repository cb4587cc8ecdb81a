"""Which code is in force on which date, by the 2024 regulations and the codes they replaced."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pupils.codes import (
    CodeError,
    age_on,
    compulsory_birth_dates,
    is_compulsory_school_age,
    normalise_code,
    school_year_age_date,
    x_mark_warning,
)


@pytest.mark.parametrize(
    ("raw", "day", "stored"),
    [
        ("/", date(2025, 11, 26), "/"),
        ("j1", date(2024, 8, 19), "J1"),  # first day of the 2024 codes
        ("J", date(2024, 8, 18), "J"),  # last day of the old interview code (approved educational activity)
        ("H", date(2023, 5, 2), "H"),
        ("F", date(2013, 8, 30), "F"),
        ("I01", date(2021, 1, 11), "I"),
        ("-", date(2025, 11, 26), None),
        (" ", date(2025, 11, 26), None),
    ],
)
def test_codes_in_force_are_stored(raw, day, stored):
    assert normalise_code(raw, day) == stored


@pytest.mark.parametrize(
    ("raw", "day", "message"),
    [
        ("J1", date(2024, 8, 18), "code 'J1' is only in force from 19 Aug 2024"),
        (
            "H",
            date(2024, 8, 19),
            "code 'H' was withdrawn after 18 Aug 2024: record C for leave the school agreed in exceptional "
            "circumstances, G for a holiday it did not agree$",
        ),
        (
            "J",
            date(2025, 1, 6),
            "code 'J' was withdrawn after 18 Aug 2024: record J1 for leave to attend an interview$",
        ),
        ("F", date(2020, 1, 6), "code 'F' was withdrawn after 31 Aug 2013$"),
        ("ZZ", date(2025, 11, 26), "unknown attendance code 'ZZ'"),
    ],
)
def test_codes_not_in_force_are_refused_with_the_reason(raw, day, message):
    with pytest.raises(CodeError, match=message):
        normalise_code(raw, day)


# --- compulsory school age: the ages X says a pupil is not --------------------------------------


@pytest.mark.parametrize(
    ("day", "age_date"),
    [
        (date(2025, 9, 1), date(2025, 8, 31)),  # the first day of the school year
        (date(2025, 11, 26), date(2025, 8, 31)),
        (date(2026, 7, 22), date(2025, 8, 31)),
        (date(2025, 8, 31), date(2024, 8, 31)),  # the last day of the one before
        (date(2025, 8, 1), date(2024, 8, 31)),  # a data year starts 1 August, a school year does not
    ],
)
def test_age_is_taken_on_the_31_august_before_the_school_year(day, age_date):
    assert school_year_age_date(day) == age_date


@pytest.mark.parametrize(
    ("born", "day", "age"),
    [
        (date(2018, 3, 14), date(2025, 8, 31), 7),
        (date(2018, 8, 31), date(2025, 8, 31), 7),  # the birthday itself
        (date(2018, 9, 1), date(2025, 8, 31), 6),  # the day after
        (date(2016, 2, 29), date(2025, 2, 28), 8),  # a leap-day birthday counts from 1 March
        (date(2016, 2, 29), date(2025, 3, 1), 9),
    ],
)
def test_age_in_whole_years(born, day, age):
    assert age_on(born, day) == age


@pytest.mark.parametrize(
    ("born", "compulsory", "who"),
    [
        (date(2018, 3, 14), True, "Year 3: 7 on 31 August 2025"),
        (date(2021, 1, 10), False, "Reception: 4 on 31 August 2025"),
        (date(2020, 8, 31), True, "turned 5 on 31 August 2025 exactly: Year 1"),
        (date(2020, 9, 1), False, "turns 5 on 1 September 2025: Reception"),
        (date(2009, 9, 1), True, "Year 11: 15 on 31 August 2025"),
        (date(2009, 8, 31), False, "sixth form: turned 16 on 31 August 2025"),
        (date(2008, 5, 1), False, "sixth form: 17 on 31 August 2025"),
    ],
)
def test_compulsory_school_age_is_5_to_15_on_the_31_august_before_the_school_year(born, compulsory, who):
    # Any day of the school year 2025/26 gives the same answer: the age is taken once, on 31 August.
    for day in (date(2025, 9, 1), date(2025, 9, 3), date(2026, 7, 22)):
        assert is_compulsory_school_age(born, day) is compulsory, (who, day)


def test_a_pupil_who_turns_5_on_1_september_is_of_compulsory_age_from_the_next_school_year():
    born = date(2020, 9, 1)
    assert not is_compulsory_school_age(born, date(2026, 8, 31))
    assert is_compulsory_school_age(born, date(2026, 9, 1))


def test_only_x_for_a_pupil_of_compulsory_school_age_needs_a_look():
    year_3, reception, day = date(2018, 3, 14), date(2021, 1, 10), date(2025, 9, 3)
    assert x_mark_warning("X", year_3, day) == (
        "X (not required to attend: below or above compulsory school age) on 2025-09-03, but the pupil was 7 on "
        "31 August 2025, so of compulsory school age (5 to 15 on the 31 August before the school year): check the mark"
    )
    assert x_mark_warning("X", reception, day) == ""
    assert x_mark_warning("/", year_3, day) == ""
    assert x_mark_warning("D", year_3, day) == ""  # not a possible session either, but nothing to do with age


@given(born=st.dates(date(1990, 1, 1), date(2030, 12, 31)), day=st.dates(date(2000, 1, 1), date(2035, 12, 31)))
def test_the_compulsory_birth_dates_are_the_compulsory_school_age_test_as_a_range(born, day):
    born_after, born_by = compulsory_birth_dates(day)
    assert (born_after < born <= born_by) is is_compulsory_school_age(born, day)
