"""Reading and checking import files: pupils CSV, marks CSV and CTF XML. No database here.

Every problem is a `Problem` with the row (or, in a CTF file, the pupil and the
mark's place), the column and a reason in plain words. Parsers never stop at
the first problem: they report them all, so one run of a bad file tells the
office everything to fix. Warnings are for what does not stop an import but
is worth a look: an exact repeat, "no mark yet", or `X` (below or above
compulsory school age) for a pupil who is of that age, one warning per pupil
per file.

Marks files can hold a million rows, so the marks readers are generators that
yield one checked mark at a time, and problems go to a `ProblemLog` that keeps
the first `KEEP` and only counts the rest: memory stays bounded whatever the
file holds. The services in `services.py` stage what these yield and write it in
one transaction; this module decides what is valid, and `pupils.codes` stays the
one home for which codes exist on which dates.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cache, partial
from pathlib import Path
from typing import IO, Any, NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from .calendar import SchoolCalendar, academic_year_name, academic_year_start, date_problem, parse_date
from .codes import (
    NOT_COMPULSORY_AGE,
    YEAR_GROUP_NAMES,
    CodeError,
    compulsory_age_note,
    for_session,
    is_compulsory_school_age,
    normalise_code,
    x_mark_warning,
    x_meaning,
    year_group_by_age,
    year_groups_fitting_age,
)
from .upn import upn_problem
from .words import did_you_mean

#: Problems kept (in memory, printed, stored on the batch); any more are only counted.
KEEP = 1000
#: Problems a command prints before "... and N more".
PRINT_LIMIT = 200
#: Latest sensible lateness: a whole school day.
MAX_MINUTES_LATE = 600
COMMENT_LENGTH = 200
SESSIONS = {"AM": 0, "PM": 1}
SESSION_NAMES = ("AM", "PM")


# --- problems and reports ---------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a look) in an import file.

    `row` is the row a spreadsheet shows for a CSV (the header is row 1; 0 means
    the whole file). In a CTF file it is the pupil's place in the file (1 is the
    first `Pupil`), with `upn`, the mark's `position` in `AttendanceMarks`
    (1 is the first) and `when` (its date and session).
    """

    row: int
    column: str
    message: str
    upn: str = ""
    position: int = 0
    when: str = ""

    def __str__(self) -> str:
        if self.upn or self.position:
            where = f"pupil {self.row} (UPN {self.upn})" if self.upn else f"pupil {self.row}"
            if self.position:
                where += f", mark {self.position} ({self.when})"
        elif self.row:
            where = f"row {self.row}"
        else:
            where = "file"
        return f"{where}, column {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


class ProblemLog:
    """Problems in the order found: the first `keep` are kept, all are counted."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self.kept: list[Problem] = []
        self.count = 0

    def add(self, problem: Problem) -> None:
        self.count += 1
        if len(self.kept) < self.keep:
            self.kept.append(problem)

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def lines(self, limit: int = PRINT_LIMIT) -> list[str]:
        ordered = sorted(self.kept, key=lambda p: (p.row, p.position))
        lines = [str(p) for p in ordered[:limit]]
        if self.count > len(lines):
            lines.append(f"... and {self.count - len(lines)} more")
        return lines

    def as_json(self) -> list[dict[str, object]]:
        items: list[dict[str, object]] = [asdict(p) for p in sorted(self.kept, key=lambda p: (p.row, p.position))]
        if self.count > len(self.kept):
            items.append({"row": 0, "column": "", "message": f"{self.count - len(self.kept)} more not listed"})
        return items


@dataclass
class ImportReport:
    """What an import found and did. Parsers fill the counts and problems; services the rest."""

    filename: str
    kind: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    no_mark: int = 0
    errors: ProblemLog = field(default_factory=ProblemLog)
    warnings: ProblemLog = field(default_factory=ProblemLog)
    notes: list[str] = field(default_factory=list)
    batch_id: int | None = None
    #: What only an import that goes ahead does ("Created registration group 4A"): said if it does (`settle`).
    notes_if_done: list[str] = field(default_factory=list)
    warnings_if_done: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def settle(self) -> None:
        """The import goes ahead: what it creates is now true to say."""
        self.notes.extend(self.notes_if_done)
        for problem in self.warnings_if_done:
            self.warnings.add(problem)

    def error(self, row: int, column: str, message: str, *, upn: str = "", position: int = 0, when: str = "") -> None:
        self.errors.add(Problem(row, column, message, upn, position, when))

    def warn(self, row: int, column: str, message: str, *, upn: str = "", position: int = 0, when: str = "") -> None:
        self.warnings.add(Problem(row, column, message, upn, position, when))

    def summary(self) -> str:
        """The one line a successful command prints last (stable: scripts read it)."""
        counts = f"rows={self.rows} inserted={self.inserted} updated={self.updated} unchanged={self.unchanged}"
        if self.kind != "pupils":
            counts += f" no-mark={self.no_mark}"
        return f"Imported {self.filename}: {counts} warnings={len(self.warnings)}"

    def rejection(self) -> str:
        """The message a command fails with: every problem, up to the print limit."""
        head = f"{self.filename} was rejected and nothing was changed: {len(self.errors)} problem(s)."
        return "\n".join([head, *self.errors.lines()])


class ImportRejected(Exception):
    """The file has problems; nothing was written. `report` lists them."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(report.rejection())
        self.report = report


# --- the file itself --------------------------------------------------------


@dataclass(frozen=True)
class FileFacts:
    sha256: str
    encoding: str
    kind: str  # "csv", "ctf" or "" (not a text file we can read)
    problem: str = ""


def inspect_file(path: Path) -> FileFacts:
    """Hash the file and find its encoding and format (CTF if it starts like XML) in one streaming pass.

    UTF-8 (with or without a byte-order mark) is expected; a file that is not
    UTF-8 is read as Windows-1252, which is what older MIS exports use.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    head = b""
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            if len(head) < 64:
                head += chunk[:64]
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    sha = digest.hexdigest()
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        return FileFacts(sha, "", "", "this is a spreadsheet workbook, not CSV: save it as CSV (UTF-8) and try again")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return FileFacts(sha, "", "", "this is UTF-16 text: save it as CSV (UTF-8) and try again")
    if b"\x00" in head:
        return FileFacts(sha, "", "", "this is not a text file")
    stripped = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if not stripped:
        return FileFacts(sha, "utf-8-sig", "", "the file is empty")
    kind = "ctf" if stripped.startswith(b"<") else "csv"
    return FileFacts(sha, "utf-8-sig" if utf8 else "cp1252", kind)


#: Separators a spreadsheet may use instead of commas, in words.
_NOT_COMMAS = {";": "semicolons", "\t": "tabs", "|": "bars"}


#: Names MIS exports and spreadsheets give columns, and the column each means here.
_SAME_AS = {
    "mark": "code",
    "attendance mark": "code",
    "attendance code": "code",
    "am/pm": "session",
    "am_pm": "session",
    "pupil upn": "upn",
    "unique pupil number": "upn",
    "dob": "date_of_birth",
    "date of birth": "date_of_birth",
    "birth date": "date_of_birth",
    "first name": "forename",
    "legal forename": "forename",
    "last name": "surname",
    "legal surname": "surname",
    "year": "year_group",
    "nc year": "year_group",
    "reg group": "registration_group",
    "reg": "registration_group",
    "form": "registration_group",
    "class": "registration_group",
    "tutor group": "registration_group",
}


def _header(
    reader: Iterator[list[str]], report: ImportReport, required: tuple[str, ...], optional: tuple[str, ...]
) -> tuple[dict[str, int], int] | None:
    """Map lower-case column names to positions, reporting missing, repeated and unknown columns.

    Returns the map and the header's width, or None if the header is unusable.
    """
    try:
        names = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        report.error(0, "", "the file is empty")
        return None
    separator = next((words for sep, words in _NOT_COMMAS.items() if len(names) == 1 and sep in names[0]), None)
    if separator:
        report.error(
            1,
            "",
            f"the columns are separated by {separator}, not commas: save the file as CSV (in Excel, "
            "'CSV UTF-8 (Comma delimited)') and import it again",
        )
        report.rows = sum(1 for fields in reader if any(field.strip() for field in fields))
        return None
    columns: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in columns:
            report.error(1, name, f"the column appears twice (columns {columns[name] + 1} and {i + 1})")
        elif name in required or name in optional:
            columns[name] = i
        elif name:
            unused = [c for c in (*required, *optional) if c not in names]
            report.warn(1, name, f"not a column this import uses{did_you_mean(name, unused)}: ignored")
    unknown = [name for name in names if name and name not in required and name not in optional]
    for name in required:
        if name not in columns:
            close = difflib.get_close_matches(name, unknown, n=1)
            same = [other for other in unknown if _SAME_AS.get(other) == name][:1]
            if close:
                hint = f": the file has a column {close[0]!r}; if that is {name}, correct its spelling"
            elif same:
                hint = f": the file has a column {same[0]!r}; if that is the {name}, name the column {name}"
            else:
                hint = ""
            report.error(1, name, f"required column is missing{hint}")
    if report.errors:
        # Not read, as the header is wrong; counted, so the report does not say the file was empty.
        report.rows = sum(1 for fields in reader if any(field.strip() for field in fields))
        return None
    return columns, len(names)


def _width_problem(fields: list[str], width: int) -> str:
    """Why a row does not fit the header, or "" if it does. Empty values past the header are harmless."""
    if len(fields) < width or any(f.strip() for f in fields[width:]):
        return f"the row has {len(fields)} values but the header has {width} columns"
    return ""


# --- pupils CSV -------------------------------------------------------------

PUPIL_REQUIRED = ("upn", "surname", "forename", "date_of_birth", "year_group", "registration_group")
PUPIL_OPTIONAL = (
    "sen",
    "flags",
    "contact_name",
    "contact_salutation",
    "contact_address",
    "contact_email",
    "contact_phone",
    "start_date",
    "leaving_date",
)
SEN_VALUES = ("N", "K", "E")
_FLAG_KEY = re.compile(r"^[a-z0-9_]{1,40}$")


@dataclass(frozen=True)
class ContactRow:
    """The first contact's details the file gives. None: that column is not in the file (leave the value alone)."""

    name: str | None
    salutation: str | None  # "Mrs Barker": how letters greet them
    address: str | None  # one line per address line
    email: str | None
    phone: str | None

    def given(self) -> dict[str, str]:
        """The details the file has a column for, by Contact field name."""
        values = {
            "name": self.name,
            "salutation": self.salutation,
            "address": self.address,
            "email": self.email,
            "phone": self.phone,
        }
        return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class PupilRow:
    """One checked row. None means "the column is not in the file: leave the value alone"."""

    row: int
    upn: str
    surname: str
    forename: str
    date_of_birth: date
    year_group: str  # the YearGroup code
    registration_group: str
    sen: str | None
    flags: tuple[str, ...] | None
    contact: ContactRow | None
    start_on: date | None
    leaving_on: date | None
    has_leaving: bool


def year_group_aliases(groups: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Every way a file may name a year group, lower-cased, mapped to its code.

    Each group is known by its code ("3", "R"), its name ("Year 3", "Reception")
    and the short forms MIS exports use ("Y3", "Yr 3", "Year 03").
    """
    aliases: dict[str, str] = {}
    for code, name in groups:
        key = code.lower()
        for alias in (key, name.lower(), f"year {key}", f"year{key}", f"y{key}", f"yr {key}", f"yr{key}"):
            aliases[" ".join(alias.split())] = code
        if code == "R":
            aliases["rec"] = code
    return aliases


def _year_group_code(raw: str, aliases: Mapping[str, str]) -> str | None:
    text = " ".join(raw.lower().split())
    if text in aliases:
        return aliases[text]
    # "Year 03", "03": the same group without the leading zero.
    stripped = re.sub(r"(\d+)$", lambda m: str(int(m.group(1))), text)
    return aliases.get(stripped)


def flag_key(raw: str) -> str:
    """The key a flag is stored under: lower case, spaces and hyphens as underscores."""
    return re.sub(r"[\s\-]+", "_", raw.strip().lower())


def _text(
    fields: list[str],
    columns: Mapping[str, int],
    name: str,
    line: int,
    report: ImportReport,
    *,
    limit: int,
    required: bool = False,
) -> str:
    value = fields[columns[name]].strip() if name in columns else ""
    if required and not value:
        report.error(line, name, "a value is required")
    elif len(value) > limit:
        report.error(line, name, f"is {len(value)} characters long; the most allowed is {limit}")
    return value


def _optional_date(
    fields: list[str], columns: Mapping[str, int], name: str, line: int, report: ImportReport
) -> date | None:
    raw = fields[columns[name]].strip() if name in columns else ""
    if not raw:
        return None
    try:
        return parse_date(raw)
    except ValueError:
        report.error(line, name, date_problem(raw))
        return None


def parse_pupils_csv(
    stream: IO[str],
    *,
    year_groups: Mapping[str, str],
    today: date,
    report: ImportReport,
) -> list[PupilRow]:
    """Read and check a pupils CSV. Problems go to `report`; rows with problems are not returned.

    `year_groups` comes from `year_group_aliases`. A pupils file is one school's
    roll (at most a few thousand rows), so the rows are returned as a list.
    """
    reader = csv.reader(stream)
    header = _header(reader, report, PUPIL_REQUIRED, PUPIL_OPTIONAL)
    if header is None:
        return []
    columns, width = header
    rows: list[PupilRow] = []
    first_row_of: dict[str, int] = {}
    for line, fields in enumerate(reader, start=2):
        if not any(f.strip() for f in fields):
            continue
        report.rows += 1
        if problem := _width_problem(fields, width):
            report.error(line, "", problem)
            continue
        errors_before = len(report.errors)

        upn = fields[columns["upn"]].strip().upper()
        problem = upn_problem(upn) if upn else "a UPN is required"
        if problem:
            report.error(line, "upn", problem)
        elif upn in first_row_of:
            report.error(line, "upn", f"UPN {upn} is already on row {first_row_of[upn]}")
        else:
            first_row_of[upn] = line

        surname = _text(fields, columns, "surname", line, report, limit=80, required=True)
        forename = _text(fields, columns, "forename", line, report, limit=80, required=True)
        group_name = _text(fields, columns, "registration_group", line, report, limit=40, required=True)

        raw_dob = fields[columns["date_of_birth"]]
        dob: date | None = None
        try:
            dob = parse_date(raw_dob)
        except ValueError:
            report.error(line, "date_of_birth", date_problem(raw_dob))
        if dob and dob >= today:
            report.error(line, "date_of_birth", f"{dob.isoformat()} is not in the past")

        raw_year = fields[columns["year_group"]]
        year_code = _year_group_code(raw_year, year_groups)
        if year_code is None:
            known = ", ".join(sorted(set(year_groups.values()), key=_year_order))
            report.error(line, "year_group", f"unknown year group {raw_year.strip()!r} (known: {known})")
        elif dob and (problem := _year_group_age_problem(dob, year_code, today)):
            report.warn(line, "year_group", problem)

        sen: str | None = None
        if "sen" in columns:
            sen = fields[columns["sen"]].strip().upper() or "N"
            if sen not in SEN_VALUES:
                report.error(line, "sen", f"SEN status must be N, K or E, not {sen!r}")

        flags: tuple[str, ...] | None = None
        if "flags" in columns:
            keys: list[str] = []
            for raw_flag in fields[columns["flags"]].split(";"):
                if not raw_flag.strip():
                    continue
                key = flag_key(raw_flag)
                if not _FLAG_KEY.match(key):
                    report.error(
                        line,
                        "flags",
                        f"{raw_flag.strip()!r} is not a flag key (letters, digits and underscores, at most 40)",
                    )
                elif key not in keys:
                    keys.append(key)
            flags = tuple(keys)

        contact = _contact(fields, columns, line, report)
        start_on = _optional_date(fields, columns, "start_date", line, report)
        leaving_on = _optional_date(fields, columns, "leaving_date", line, report)
        if start_on and leaving_on and leaving_on < start_on:
            report.error(
                line,
                "leaving_date",
                f"the pupil leaves ({leaving_on.isoformat()}) before starting ({start_on.isoformat()})",
            )

        if len(report.errors) == errors_before and dob and year_code:
            rows.append(
                PupilRow(
                    row=line,
                    upn=upn,
                    surname=surname,
                    forename=forename,
                    date_of_birth=dob,
                    year_group=year_code,
                    registration_group=group_name,
                    sen=sen,
                    flags=flags,
                    contact=contact,
                    start_on=start_on,
                    leaving_on=leaving_on,
                    has_leaving="leaving_date" in columns,
                )
            )
    if report.rows == 0 and report.ok:
        report.error(0, "", "the file has a header but no pupils")
    return rows


def _year_group_age_problem(born: date, code: str, today: date) -> str:
    """Words for a pupil whose year group is not one their date of birth puts them in, or "".

    A warning, not an error: some children are taught out of their year group
    (a summer-born child starting Reception a year late).
    """
    if code not in YEAR_GROUP_NAMES or code in year_groups_fitting_age(born, today):
        return ""
    by_age = year_group_by_age(born, today)
    age_group = YEAR_GROUP_NAMES[by_age] if by_age else "outside Nursery to Year 13"
    year = academic_year_name(today.year if today.month >= 9 else today.year - 1)
    return (
        f"born {born:%-d %b %Y}, which is {age_group} by age in {year}, not {YEAR_GROUP_NAMES[code]}: imported as "
        "the file says, but check the date of birth (compulsory school age and Year 11 study leave go by it)"
    )


def _year_order(code: str) -> tuple[int, str]:
    return (int(code), "") if code.isdigit() else (-1 if code == "R" else -2, code)


def _contact(fields: list[str], columns: Mapping[str, int], line: int, report: ImportReport) -> ContactRow | None:
    """The row's first contact, or None when it gives no contact details (the contact is left alone).

    A detail whose column the file lacks is None, so it is left as it is; a
    column that is there but blank clears it.
    """

    def column(name: str, value: str) -> str | None:
        return value if name in columns else None

    name = _text(fields, columns, "contact_name", line, report, limit=160)
    salutation = _text(fields, columns, "contact_salutation", line, report, limit=80)
    raw_address = fields[columns["contact_address"]] if "contact_address" in columns else ""
    address = "\n".join(part.strip() for part in raw_address.split(";") if part.strip())
    email = _text(fields, columns, "contact_email", line, report, limit=254)
    phone = _text(fields, columns, "contact_phone", line, report, limit=40)
    if not (name or salutation or address or email or phone):
        return None
    if not name and "contact_name" in columns:
        report.error(line, "contact_name", "a contact needs a name when other contact details are given")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            report.error(line, "contact_email", f"{email!r} is not an e-mail address")
    return ContactRow(
        name=column("contact_name", name),
        salutation=column("contact_salutation", salutation),
        address=column("contact_address", address),
        email=column("contact_email", email),
        phone=column("contact_phone", phone),
    )


# --- marks: CSV and CTF -------------------------------------------------------

MARK_REQUIRED = ("upn", "date", "session", "code")
MARK_OPTIONAL = ("minutes_late", "comment")


class RollEntry(NamedTuple):
    """A pupil on the school's roll, as the marks readers need them."""

    pupil_id: int
    start_on: date
    leaving_on: date | None
    date_of_birth: date | None = None  # None: no age checks (X) for this pupil


class StagedMark(NamedTuple):
    """One checked mark, ready to stage. `line` and `position` say where it came from."""

    line: int  # CSV row; CTF pupil's place in the file
    position: int  # CTF mark's place in AttendanceMarks; 0 for CSV
    pupil_id: int
    date: date
    session: int  # 0 AM, 1 PM
    code: str
    minutes_late: int | None
    comment: str


#: Builds a StagedMark from a plain tuple in C: a third faster than the class call in the hot loop.
_staged = partial(tuple.__new__, StagedMark)


@dataclass
class MarkColumns:
    """Which optional columns a marks file carries: absent ones leave stored values alone."""

    minutes_late: bool = False
    comment: bool = False


def _upn_on_roll(raw: str, roll: Mapping[str, RollEntry]) -> tuple[RollEntry | None, str]:
    upn = raw.strip().upper()
    if not upn:
        return None, "a UPN is required"
    entry = roll.get(upn)
    if entry is not None:
        return entry, ""
    return None, upn_problem(upn) or f"UPN {upn} is not on this school's roll"


def _off_roll(entry: RollEntry, day: date) -> str:
    if entry.leaving_on is None or day < entry.start_on:
        return f"the pupil is not on roll on {day.isoformat()} (on roll from {entry.start_on.isoformat()})"
    return f"the pupil is not on roll on {day.isoformat()} (left on {entry.leaving_on.isoformat()})"


def _day_checker(calendar: SchoolCalendar, today: date) -> tuple[Callable[[date], str], set[date]]:
    """`register_day_problem`, remembered for each day, and the set of days it could not check.

    A day in a school year the calendar holds no term dates for (older
    history) may be marked on any weekday; such days are collected so the
    import can say its holidays went unchecked.
    """
    unchecked: set[date] = set()

    @cache
    def problem(day: date) -> str:
        if not calendar.knows_year_of(day):
            unchecked.add(day)
        return calendar.register_day_problem(day, today=today)

    return problem, unchecked


def _warn_unchecked(report: ImportReport, days: set[date], *, column: str) -> None:
    if not days:
        return
    years = sorted({academic_year_name(academic_year_start(day)) for day in days})
    report.warn(
        0,
        column,
        f"marks on {len(days)} day{'s' if len(days) != 1 else ''} in {', '.join(years)} could not be checked against "
        "the school's holidays: the school has no term dates for "
        f"{'that year' if len(years) == 1 else 'those years'}. Add them to check, then import the file again.",
    )


def _code(raw: str, day: date) -> tuple[str | None, str]:
    try:
        return normalise_code(raw, day), ""
    except CodeError as e:
        return None, str(e)


@dataclass
class _PupilXMarks:
    """One pupil's X marks in a file, while the pupil was of compulsory school age."""

    upn: str
    born: date
    line: int  # where the first one is: CSV row, or CTF pupil with its mark's position and session
    position: int
    when: str
    first: date
    last: date
    last_line: int
    count: int = 1


class _XMarkCheck:
    """Gathers X marks for pupils of compulsory school age, to warn once per pupil per file.

    X says the pupil is below or above compulsory school age, so it is not a
    possible session; recorded for a pupil of that age it hides a session that
    should count (attendance-rules.md, note (a)). The mark is still imported:
    the office decides. A pupil coded X all term would otherwise get a warning
    a session, burying the rest and filling the `KEEP` kept problems, so each
    pupil gets one warning, placed at the first such mark, with how many there
    are and the first and last dates. Marks are counted as the file has them:
    an exact repeat counts twice (and has a warning of its own). Memory is one
    entry per pupil concerned.
    """

    def __init__(self) -> None:
        self.by_pupil: dict[int, _PupilXMarks] = {}

    def see(self, entry: RollEntry, upn: str, day: date, *, line: int, position: int = 0, session: int = 0) -> None:
        """Note one imported mark coded X; marks for pupils not of compulsory age on `day` are ignored."""
        if entry.date_of_birth is None or not is_compulsory_school_age(entry.date_of_birth, day):
            return
        seen = self.by_pupil.get(entry.pupil_id)
        if seen is None:
            when = f"{day.isoformat()} {SESSION_NAMES[session]}" if position else ""
            self.by_pupil[entry.pupil_id] = _PupilXMarks(upn, entry.date_of_birth, line, position, when, day, day, line)
            return
        seen.count += 1
        seen.first = min(seen.first, day)
        if day >= seen.last:
            seen.last, seen.last_line = day, line

    def warn(self, report: ImportReport, *, column: str) -> None:
        """Add one warning per pupil to `report`. A CSV names the pupil in the message, a CTF in its place."""
        for seen in self.by_pupil.values():
            if seen.position:
                report.warn(seen.line, column, _x_message(seen), upn=seen.upn, position=seen.position, when=seen.when)
            else:
                report.warn(seen.line, column, f"UPN {seen.upn}: {_x_message(seen, rows=True)}")


def _x_message(seen: _PupilXMarks, *, rows: bool = False) -> str:
    if seen.count == 1:
        return x_mark_warning(NOT_COMPULSORY_AGE, seen.born, seen.first)
    what = f"{seen.count} sessions coded {x_meaning()}"
    if seen.first == seen.last:
        what += f" on {seen.first.isoformat()}"
    else:
        what += f" from {seen.first.isoformat()} to {seen.last.isoformat()}"
    if rows and seen.last_line != seen.line:
        what += f" (the last on row {seen.last_line})"
    return f"{what}, but {compulsory_age_note(seen.born, seen.first, seen.last)}: check the marks"


class _Cache(dict[Any, Any]):
    """A memo for values that repeat down a file (dates, UPNs, codes), emptied if it grows large."""

    LIMIT = 100_000

    def put(self, key: object, value: object) -> object:
        if len(self) >= self.LIMIT:
            self.clear()
        self[key] = value
        return value


def read_marks_csv(
    stream: IO[str],
    *,
    roll: Mapping[str, RollEntry],
    calendar: SchoolCalendar,
    today: date,
    report: ImportReport,
    columns_out: MarkColumns,
) -> Iterator[StagedMark]:
    """Yield each valid mark of a marks CSV, reporting every problem to `report`.

    Counts rows and "no mark yet" rows (`-`, `*`, blank, and `#` on a day the
    school's calendar has no school) in `report`; those are not yielded. A mark
    on a weekend, a holiday or a day still to come is a problem at its date.
    Fully blank lines are not rows. Memory stays bounded: values that repeat
    down a file are memoised in capped caches, nothing else is kept.
    """
    reader = csv.reader(stream)
    header = _header(reader, report, MARK_REQUIRED, MARK_OPTIONAL)
    if header is None:
        return
    columns, width = header
    columns_out.minutes_late = "minutes_late" in columns
    columns_out.comment = "comment" in columns
    i_upn, i_date, i_session, i_code = (columns[c] for c in MARK_REQUIRED)
    i_late = columns.get("minutes_late")
    i_comment = columns.get("comment")
    upns, dates, sessions, codes = _Cache(), _Cache(), _Cache(), _Cache()
    day_problem, unchecked = _day_checker(calendar, today)  # ~365 days a year: no cap needed
    x_marks, x_code = _XMarkCheck(), NOT_COMPULSORY_AGE
    errors = report.errors
    error = report.error
    rows = 0
    no_mark = 0
    # The hot loop of a million-row import: plain locals and memo lookups only.
    for line, fields in enumerate(reader, start=2):
        if len(fields) != width and (problem := _width_problem(fields, width)):
            if any(f.strip() for f in fields):
                rows += 1
                error(line, "", problem)
            continue
        if not fields[i_upn] and not any(f.strip() for f in fields):
            continue  # a spreadsheet's empty row (",,,")
        rows += 1
        errors_before = errors.count

        raw = fields[i_upn]
        entry, problem = upns.get(raw) or upns.put(raw, _upn_on_roll(raw, roll))
        if problem:
            error(line, "upn", problem)

        raw = fields[i_date]
        found = dates.get(raw)
        if found is None:
            try:
                found = dates.put(raw, (parse_date(raw), ""))
            except ValueError:
                found = dates.put(raw, (None, date_problem(raw)))
        day, problem = found
        if problem:
            error(line, "date", problem)

        raw = fields[i_session]
        session = sessions.get(raw)
        if session is None:
            session = sessions.put(raw, SESSIONS.get(raw.strip().upper(), -1))
        if session < 0:
            error(line, "session", f"session must be AM or PM, not {raw.strip()!r}")

        if day is not None:  # a code can only be checked against a date
            raw = fields[i_code]
            key = (raw, day)
            code, problem = codes.get(key) or codes.put(key, _code(raw, day))
            if problem:
                error(line, "code", problem)
            elif code is None or (code == "#" and day_problem(day)):
                no_mark += 1
                continue
            elif problem := day_problem(day):
                error(line, "date", problem)
            elif entry is not None and (
                day < entry.start_on or (entry.leaving_on is not None and day > entry.leaving_on)
            ):
                error(line, "date", _off_roll(entry, day))

        minutes_late: int | None = None
        if i_late is not None and (raw := fields[i_late].strip()):
            if raw.isdigit() and int(raw) <= MAX_MINUTES_LATE:
                minutes_late = int(raw)
            else:
                error(
                    line, "minutes_late", f"must be a whole number of minutes from 0 to {MAX_MINUTES_LATE}, not {raw!r}"
                )
        comment = ""
        if i_comment is not None and (comment := fields[i_comment].strip()) and len(comment) > COMMENT_LENGTH:
            error(line, "comment", f"is {len(comment)} characters long; the most allowed is {COMMENT_LENGTH}")

        if errors.count == errors_before:
            if code == x_code:
                x_marks.see(entry, fields[i_upn].strip().upper(), day, line=line)  # type: ignore[arg-type]
            code = for_session(code, session)  # type: ignore[arg-type]
            yield _staged((line, 0, entry.pupil_id, day, session, code, minutes_late, comment))  # type: ignore[union-attr]
    report.rows += rows
    report.no_mark += no_mark
    x_marks.warn(report, column="code")
    _warn_unchecked(report, unchecked, column="date")
    if rows == 0 and report.ok:
        report.error(0, "", "the file has a header but no marks")


def split_ctf_marks(text: str) -> list[str]:
    """The marks of an `AttendanceMarks` string, one per session.

    Since CTF 24 the marks are comma-separated (codes may be two characters:
    C1, J1, Y1...); older files run single-character marks together. A string
    with a comma is the new form, any other the old one. In the old form a
    space is a session with no mark, so leading spaces keep every later mark
    on its own day; a digit belongs to the code before it (C1, Y1), as no code
    is a digit alone. Only a string broken over lines (indented XML) has its
    surrounding layout removed.
    """
    if "\n" in text or "\r" in text:
        text = text.strip()
    text = text.rstrip()
    if not text:
        return []
    if "," in text:
        return [mark.strip() for mark in text.split(",")]
    return _OLD_FORM_MARK.findall(text)


#: One mark of the old, concatenated form: any character, and a digit after it if there is one.
_OLD_FORM_MARK = re.compile(r"[^\d]\d?|\d")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(element: ET.Element, name: str, *, strip: bool = True) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            text = child.text or ""
            return text.strip() if strip else text
    return None


def _children(element: ET.Element, name: str) -> Iterator[ET.Element]:
    for child in element:
        if _local(child.tag) == name:
            yield child


def read_ctf(
    stream: IO[bytes],
    *,
    roll: Mapping[str, RollEntry],
    calendar: SchoolCalendar,
    today: date,
    report: ImportReport,
) -> Iterator[StagedMark]:
    """Yield each valid mark in a Common Transfer File, reporting every problem to `report`.

    Reads `CTfile/CTFpupilData/Pupil` elements one at a time (iterparse) and
    frees each when done. Each `Attendance/YearData/AttendSessions` holds marks
    for consecutive sessions from the AM session of `AttendanceStartDate`, two a
    calendar day. `#` on a day that is not a school day is the file's filler
    for weekends and holidays: counted with "no mark", not stored; any other
    mark on such a day, or on a day still to come, is a problem. Every mark
    counts as a row. A `YearData` from another establishment than the
    Header's `SourceSchool` (a pupil's earlier school) is left out, with a
    warning: it is not this school's register.
    """
    pupils = 0
    saw_root = False
    source: tuple[str, str] | None = None  # the Header's SourceSchool (LEA, Estab): whose registers these are
    container: ET.Element | None = None
    x_marks = _XMarkCheck()
    day_problem, unchecked = _day_checker(calendar, today)
    try:
        for event, element in ET.iterparse(stream, events=("start", "end")):
            name = _local(element.tag)
            if event == "start":
                if not saw_root:
                    saw_root = True
                    if name != "CTfile":
                        report.error(0, "", f"not a Common Transfer File: the root element is {name!r}, not 'CTfile'")
                        return
                elif name == "CTFpupilData":
                    container = element
                continue
            if name == "SourceSchool":
                source = _establishment(element)
                continue
            if name != "Pupil":
                continue
            pupils += 1
            yield from _ctf_pupil(
                element,
                pupils,
                source=source,
                roll=roll,
                day_problem=day_problem,
                report=report,
                x_marks=x_marks,
            )
            # Done with this pupil: drop it from the tree so memory does not grow with the file.
            element.clear()
            if container is not None and len(container) and container[-1] is element:
                container.remove(element)
    except ET.ParseError as e:
        line, column = e.position
        report.error(0, "", f"the XML is not well formed at line {line}, column {column + 1}")
        return
    x_marks.warn(report, column="AttendanceMarks")
    _warn_unchecked(report, unchecked, column="AttendanceStartDate")
    if pupils == 0 and report.ok:
        report.error(0, "", "the file has no CTFpupilData/Pupil elements")


def _establishment(element: ET.Element) -> tuple[str, str] | None:
    """An element's (LEA, Estab), as the DfE numbers a school, or None if it does not give both."""
    lea, estab = (_child_text(element, name) or "" for name in ("LEA", "Estab"))
    return (lea, estab) if lea and estab else None


def _ctf_pupil(
    element: ET.Element,
    number: int,
    *,
    source: tuple[str, str] | None,
    roll: Mapping[str, RollEntry],
    day_problem: Callable[[date], str],
    report: ImportReport,
    x_marks: _XMarkCheck,
) -> Iterator[StagedMark]:
    upn = (_child_text(element, "UPN") or "").upper()
    entry, problem = _upn_on_roll(upn, roll)
    if problem:
        report.error(number, "UPN", problem, upn=upn)
    codes: dict[tuple[str, date], tuple[str | None, str]] = {}
    for attendance in _children(element, "Attendance"):
        for year_data in _children(attendance, "YearData"):
            where = _establishment(year_data)
            if source is not None and where is not None and where != source:
                # The pupil's attendance at an earlier school, which a CTF carries with them: not this
                # school's register, so not imported as if it were.
                name = _child_text(year_data, "SchoolName") or "another school"
                year = _child_text(year_data, "Year") or "?"
                report.warn(
                    number,
                    "YearData",
                    f"attendance in {year} at {name} (LEA {where[0]}, Estab {where[1]}) is another school's,"
                    f" not the file's source school's (LEA {source[0]}, Estab {source[1]}): not imported",
                    upn=upn,
                )
                continue
            for sessions in _children(year_data, "AttendSessions"):
                raw_start = _child_text(sessions, "AttendanceStartDate") or ""
                raw_marks = _child_text(sessions, "AttendanceMarks", strip=False) or ""  # spaces are marks
                try:
                    start = date.fromisoformat(raw_start)
                except ValueError:
                    report.error(
                        number,
                        "AttendanceStartDate",
                        f"{raw_start!r} is not a date in the form YYYY-MM-DD",
                        upn=upn,
                    )
                    continue
                marks = split_ctf_marks(raw_marks)
                report.rows += len(marks)
                for index, raw in enumerate(marks):
                    day = date.fromordinal(start.toordinal() + index // 2)
                    session = index % 2
                    when = f"{day.isoformat()} {SESSION_NAMES[session]}"
                    key = (raw, day)
                    if key not in codes:
                        codes[key] = _code(raw, day)
                    code, problem = codes[key]
                    if problem:
                        report.error(number, "AttendanceMarks", problem, upn=upn, position=index + 1, when=when)
                        continue
                    if code is None or (code == "#" and day_problem(day)):
                        report.no_mark += 1
                        continue
                    if problem := day_problem(day):
                        report.error(number, "AttendanceMarks", problem, upn=upn, position=index + 1, when=when)
                        continue
                    if entry is None:
                        continue
                    if day < entry.start_on or (entry.leaving_on is not None and day > entry.leaving_on):
                        report.error(
                            number, "AttendanceMarks", _off_roll(entry, day), upn=upn, position=index + 1, when=when
                        )
                        continue
                    if code == NOT_COMPULSORY_AGE:
                        x_marks.see(entry, upn, day, line=number, position=index + 1, session=session)
                    yield StagedMark(
                        number, index + 1, entry.pupil_id, day, session, for_session(code, session), None, ""
                    )


# --- repeated marks -----------------------------------------------------------


def _where(mark: StagedMark) -> str:
    return f"mark {mark.position} of pupil {mark.line}" if mark.position else f"row {mark.line}"


def _difference(first: StagedMark, other: StagedMark) -> tuple[str, str] | None:
    """The first stored value two marks for one session disagree on, as (column, words), or None."""
    if other.code != first.code:
        return "code", f"code {other.code!r} here, {first.code!r} there"
    if other.minutes_late != first.minutes_late:
        return "minutes_late", f"minutes_late {other.minutes_late} here, {first.minutes_late} there"
    if other.comment != first.comment:
        return "comment", "the comments differ"
    return None


def repeated_mark_problems(marks: Iterable[StagedMark], *, upn_of: Mapping[int, str], report: ImportReport) -> int:
    """Report marks that repeat a pupil, date and session already in the file.

    `marks` holds only the repeated sessions, ordered by pupil, date, session and
    then file order. A repeat that disagrees with the first mark for its session
    is an error; an exact repeat is a warning (it is imported once). Returns the
    number of exact repeats, which the service drops before writing.
    """
    exact = 0
    first: StagedMark | None = None
    for mark in marks:
        if first is None or (mark.pupil_id, mark.date, mark.session) != (first.pupil_id, first.date, first.session):
            first = mark
            continue
        difference = _difference(first, mark)
        column = difference[0] if difference else ""
        upn, when = "", ""
        if mark.position:
            column = "AttendanceMarks"
            upn = upn_of.get(mark.pupil_id, "")
            when = f"{mark.date.isoformat()} {SESSION_NAMES[mark.session]}"
        if difference:
            message = f"conflicts with {_where(first)} for the same pupil, date and session ({difference[1]})"
            report.error(mark.line, column, message, upn=upn, position=mark.position, when=when)
        else:
            exact += 1
            message = f"repeats {_where(first)} exactly: imported once"
            report.warn(mark.line, column, message, upn=upn, position=mark.position, when=when)
    return exact
