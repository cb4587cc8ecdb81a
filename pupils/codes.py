"""The DfE attendance codes and their statistical categories: the one home.

The table itself is data (`data/codes.csv`), read here with nothing but the
standard library so that statistics, imports, SQL aggregates and the ladder
engine all classify a mark the same way. `AttendanceCode` rows in the
database mirror this table (synced after every migrate) for the admin.

The test for compulsory school age lives here too, because it is what `X`
("below or above compulsory school age") asserts about a pupil.

Sources: School Attendance (Pupil Registration) (England) Regulations 2024,
reg 10; DfE's published 2025/26 attendance data for the groupings. See
`shared/docs/attendance-rules.md`.
"""

from __future__ import annotations

import csv
import enum
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

#: The first day the 2024 code set is in force.
CODES_2024_FROM = date(2024, 8, 19)

#: MIS placeholders for "no mark yet": not DfE codes, never counted.
NO_MARK = frozenset({"", "-", "*"})


class Category(enum.StrEnum):
    PRESENT = "present"
    AEA = "aea"  # attending an approved educational activity: counts as attendance
    AUTHORISED = "authorised"
    UNAUTHORISED = "unauthorised"
    NOT_POSSIBLE = "not_possible"


ATTENDED = frozenset({Category.PRESENT, Category.AEA})
ABSENT = frozenset({Category.AUTHORISED, Category.UNAUTHORISED})
POSSIBLE = ATTENDED | ABSENT

#: Lates: L is present (before the register closed), U is unauthorised absence.
LATE_BEFORE_CLOSE = "L"
LATE_AFTER_CLOSE = "U"
UNEXPLAINED = "N"
ILLNESS = "I"
#: Holidays taken in term time: G now; H and F were agreed holidays before 2024.
HOLIDAY_CODES = frozenset({"G", "H", "F"})
#: The penalty-notice rule (Working together, 2024; attendance-rules.md 3a): a penalty notice must be considered
#: at PENALTY_SESSIONS sessions of any mix of PENALTY_CODES within a rolling PENALTY_WEEKS school weeks.
PENALTY_CODES = frozenset({"G", "N", "O", "U"})
PENALTY_SESSIONS = 10
PENALTY_WEEKS = 10
#: Not required to attend: below or above compulsory school age. Not a possible session.
NOT_COMPULSORY_AGE = "X"
#: Compulsory school age, for checking X: these ages on the 31 August before the school year.
COMPULSORY_AGES = range(5, 16)


@dataclass(frozen=True)
class Code:
    code: str
    category: Category
    description: str
    valid_from: date | None
    valid_to: date | None

    def is_valid_on(self, day: date) -> bool:
        if self.valid_from and day < self.valid_from:
            return False
        return not (self.valid_to and day > self.valid_to)

    @property
    def is_retired(self) -> bool:
        return self.valid_to is not None


def _parse_date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


@cache
def code_table() -> dict[str, Code]:
    with (DATA_DIR / "codes.csv").open(newline="", encoding="utf-8") as f:
        return {
            row["code"]: Code(
                code=row["code"],
                category=Category(row["category"]),
                description=row["description"],
                valid_from=_parse_date(row["valid_from"]),
                valid_to=_parse_date(row["valid_to"]),
            )
            for row in csv.DictReader(f)
        }


@cache
def alias_table() -> dict[str, tuple[str, date]]:
    """Old MIS sub-codes that map onto a stored code for dates up to `valid_to`."""
    with (DATA_DIR / "code_aliases.csv").open(newline="", encoding="utf-8") as f:
        return {row["alias"]: (row["code"], date.fromisoformat(row["valid_to"])) for row in csv.DictReader(f)}


def category_of(code: str) -> Category:
    """The statistical category of a stored code. Raises KeyError for an unknown code."""
    return code_table()[code].category


def codes_in(*categories: Category) -> frozenset[str]:
    wanted = set(categories)
    return frozenset(c.code for c in code_table().values() if c.category in wanted)


class CodeError(ValueError):
    """A mark's code is unknown, or not in force on the mark's date."""


class UnknownCode(CodeError):
    """Not an attendance code at all, on any date."""


#: Present at registration: "/" in the morning, "\\" in the afternoon (DfE).
PRESENT_BY_SESSION = ("/", "\\")


def for_session(code: str, session: int) -> str:
    """The code to store for that session: the present mark is "/" in the morning and "\\" in the afternoon,
    whichever of the two was written (MIS exports and people mix them up); every other code as it is."""
    if code in PRESENT_BY_SESSION and session in (0, 1):
        return PRESENT_BY_SESSION[session]
    return code


#: What to record now for a code withdrawn in 2024 (attendance-rules.md, the old set).
_REPLACED_BY = {
    "H": "C for leave the school agreed in exceptional circumstances, G for a holiday it did not agree",
    "J": "J1 for leave to attend an interview",
    "Y": "Y1 to Y7, by the reason the pupil could not attend",
}


def _use_instead(code: str) -> str:
    return f": record {_REPLACED_BY[code]}" if code in _REPLACED_BY else ""


def normalise_code(raw: str, day: date) -> str | None:
    """Return the code to store for `raw` on `day`, or None for "no mark yet".

    Retired sub-codes (I01, X01...) map to the code they became. Raises
    CodeError naming the problem when the code is unknown or not in force on
    that date (J1 before 19 August 2024, H after it).
    """
    text = raw.strip()
    if text in NO_MARK:
        return None
    upper = text.upper()
    table = code_table()
    if upper in table:
        code = table[upper]
        if not code.is_valid_on(day):
            if code.valid_from and day < code.valid_from:
                raise CodeError(f"code {upper!r} is only in force from {code.valid_from:%-d %b %Y}")
            raise CodeError(f"code {upper!r} was withdrawn after {code.valid_to:%-d %b %Y}{_use_instead(upper)}")
        return upper
    aliases = alias_table()
    if upper in aliases:
        target, valid_to = aliases[upper]
        if day > valid_to:
            raise CodeError(f"code {upper!r} was withdrawn after {valid_to:%-d %b %Y}")
        return target
    raise UnknownCode(f"unknown attendance code {text!r}")


# --- compulsory school age (what X says a pupil is not) ------------------------


def age_on(born: date, day: date) -> int:
    """Age in whole years on `day`: a birthday counts from the day itself (29 February from 1 March)."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def school_year_age_date(day: date) -> date:
    """The 31 August before the school year `day` falls in: the date a pupil's age is taken on.

    The school year runs from 1 September, so 31 August itself still belongs
    to the year before. (Data years run from 1 August, `calendar.academic_year_start`;
    ages do not.)
    """
    return date(day.year if day.month >= 9 else day.year - 1, 8, 31)


#: The year groups, by code, with the names staff see: nursery to Year 13.
YEAR_GROUP_NAMES = {"N": "Nursery", "R": "Reception", **{str(year): f"Year {year}" for year in range(1, 14)}}
#: Each age on the 31 August before a school year, and the year group a child of it is in. Nursery takes
#: children aged 3 then, and those who join the term after turning 3 (aged 2 then).
_YEAR_BY_AGE = {2: "N", 3: "N", 4: "R", **{age: str(age - 4) for age in range(5, 18)}}


def year_group_by_age(born: date, day: date) -> str | None:
    """The year group ("N", "R", "1" to "13") a child born on `born` is in by age, in the school year of `day`.

    Children are grouped by their age on the 31 August before the year, as for
    compulsory school age: aged 4 then, Reception; 15, Year 11. None outside
    nursery to Year 13.
    """
    return _YEAR_BY_AGE.get(age_on(born, school_year_age_date(day)))


def year_groups_fitting_age(born: date, day: date) -> set[str]:
    """The year groups a child born on `born` may be in on `day` by age: their own and, from June to August,
    the coming year's too (a register exported after the MIS has moved everyone up)."""
    fitting = {year_group_by_age(born, day)}
    if day.month in (6, 7, 8):
        fitting.add(year_group_by_age(born, date(day.year, 9, 1)))
    return {code for code in fitting if code is not None}


def is_compulsory_school_age(born: date, day: date) -> bool:
    """Whether a pupil born on `born` is of compulsory school age on `day`.

    The rule DfE's attendance statistics use for their cohort: aged 5 to 15 on
    the 31 August before the school year (attendance-rules.md, section 2). So
    a child who turned 5 on 31 August is of compulsory age all that year, and
    one who turns 5 on 1 September is not until the next. The law is finer
    (compulsory from the term after the fifth birthday, to the last Friday in
    June of the year the pupil turns 16), so this test misses an X for a
    Reception child who turned 5 during the year, and a Year 11 pupil's X in
    July is flagged for a look. Raises nothing.
    """
    return age_on(born, school_year_age_date(day)) in COMPULSORY_AGES


def compulsory_birth_dates(day: date) -> tuple[date, date]:
    """(born after, born on or before): the birth dates of pupils of compulsory school age on `day`.

    `is_compulsory_school_age` as a range, for a database query: aged 5 to 15
    on the 31 August before the school year (a 31 August, so no 29 February).
    """
    age_date = school_year_age_date(day)
    oldest, youngest = COMPULSORY_AGES[-1] + 1, COMPULSORY_AGES[0]
    return age_date.replace(year=age_date.year - oldest), age_date.replace(year=age_date.year - youngest)


def compulsory_age_note(born: date, *days: date) -> str:
    """Why a pupil was of compulsory school age on `days`, in words for a warning about X.

    "the pupil was 7 on 31 August 2025, so of compulsory school age (5 to 15
    on the 31 August before the school year)"; days in different school years
    give the age at the start of the first and of the last. Raises nothing.
    """
    age_dates = sorted({school_year_age_date(day) for day in days})
    ages = [age_dates[0], age_dates[-1]] if len(age_dates) > 1 else age_dates
    was = " and ".join(f"{age_on(born, d)} on {d.day} {d:%B %Y}" for d in ages)
    return (
        f"the pupil was {was}, so of compulsory school age "
        f"({COMPULSORY_AGES[0]} to {COMPULSORY_AGES[-1]} on the 31 August before the school year)"
    )


def x_mark_warning(code: str, born: date, day: date) -> str:
    """Why a mark needs a look if it is X for a pupil of compulsory school age on `day`, else "".

    X is not a possible session, so an X that should have been another code
    hides a session from the pupil's attendance (attendance-rules.md, note (a)).
    A warning, not a refusal: the office may know better. Raises nothing.
    """
    if code != NOT_COMPULSORY_AGE or not is_compulsory_school_age(born, day):
        return ""
    return f"{x_meaning()} on {day.isoformat()}, but {compulsory_age_note(born, day)}: check the mark"


def x_meaning() -> str:
    """X with its meaning in brackets, as warnings about it start."""
    return f"{NOT_COMPULSORY_AGE} ({code_table()[NOT_COMPULSORY_AGE].description.lower()})"
