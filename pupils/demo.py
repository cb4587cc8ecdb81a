"""Demo data: a realistic English primary school, or a local authority's worth of them.

`generate()` builds schools with their classes, pupils, contacts and every
register mark from the first day of the academic year up to the day before
`today`. The same seed and `today` always give the same data: every school and
every pupil draws from its own random stream, keyed by the seed.

The register is shaped on DfE's published figures for primary schools: most
pupils attend above 95%; about one pupil in six is persistently absent (10% or
more of their possible sessions missed); about one in a hundred is severely
absent (50% or more). On top of everyday illness it has outbreaks (a
November cold, a winter vomiting bug, chickenpox in the infants), term-time
holidays next to half-terms (G; H is retired), habitual lateness (L, some U),
unexplained absences (N) that are corrected later with their history kept,
medical appointments (M), short suspensions (E), dual-registered pupils (D),
part-time timetables (C2 in the afternoon), class trips (V) and INSET days
(#). Every code is one in force on its date (`pupils.codes`).

Marks are streamed one school at a time, so memory stays flat however many
schools are built: PostgreSQL gets them through COPY, other databases through
bulk_create in large batches. 100 schools of 400 pupils for a full year is
15 million marks.

The planning and register functions at the top are plain Python (they take a
`SchoolCalendar`, not a School), so tests can check the patterns without a
database.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from . import calendar as cal
from . import services
from .codes import code_table
from .models import (
    AttendanceMark,
    Contact,
    Flag,
    MarkChange,
    Pupil,
    RegistrationGroup,
    School,
    StaffMembership,
    YearGroup,
)
from .people import new_password
from .signals import demo_loaded
from .upn import upn_check_letter, upn_problem

DEFAULT_SEED = 2024
DEFAULT_PUPILS = 420
FIRST_URN = 100000
MAX_SCHOOLS = 5000
MAX_PUPILS = 5000

YEAR_CODES = ("R", "1", "2", "3", "4", "5", "6")
CLASS_LETTERS = ("A", "B")
#: No local authority has number 999, so demo UPNs never match a real child's.
LA_NUMBER = 999

AM, PM = AttendanceMark.Session.AM.value, AttendanceMark.Session.PM.value

#: Comments left on marks whose first code (N) was corrected; also how the
#: loader finds those marks again to record their history.
COMMENT_ILLNESS_LATER = "Parent rang later: unwell"
COMMENT_NO_REASON = "No reason given after follow-up"

# fmt: off
FORENAMES = (
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie", "Sophia", "Grace", "Willow",
    "Freya", "Florence", "Emily", "Ella", "Poppy", "Evie", "Elsie", "Charlotte", "Evelyn", "Sienna", "Daisy",
    "Phoebe", "Sophie", "Alice", "Harper", "Matilda", "Ruby", "Emilia", "Maya", "Millie", "Erin", "Aisha",
    "Zara", "Maryam", "Fatima", "Hannah", "Layla", "Jessica", "Chloe", "Eliza", "Amber", "Maisie", "Scarlett",
    "Lucy", "Aria", "Ellie", "Zofia", "Amira", "Muhammad", "Noah", "Oliver", "George", "Arthur", "Leo", "Harry",
    "Oscar", "Archie", "Henry", "Theodore", "Freddie", "Jack", "Charlie", "Theo", "Alfie", "Jacob", "Thomas",
    "Finley", "Arlo", "William", "Lucas", "Roman", "Tommy", "Isaac", "Teddy", "Alexander", "Luca", "Edward",
    "James", "Joshua", "Albie", "Elijah", "Max", "Mohammed", "Reuben", "Mason", "Sebastian", "Rory", "Jude",
    "Louie", "Benjamin", "Ethan", "Adam", "Hugo", "Joseph", "Reggie", "Ronnie", "Ibrahim", "Yusuf", "Zain", "Kai",
    "Ollie", "Riley", "Dylan", "Kacper", "Tobi",
)
ADULT_FORENAMES_FEMALE = (
    "Sarah", "Emma", "Laura", "Rebecca", "Gemma", "Kelly", "Claire", "Nicola", "Hayley", "Amy", "Lisa",
    "Natalie", "Stacey", "Charlotte", "Jennifer", "Victoria", "Amina", "Nadia", "Agnieszka", "Joanna", "Priya",
    "Rachel", "Leanne", "Zoe", "Michelle", "Shabana", "Chioma",
)
ADULT_FORENAMES_MALE = (
    "David", "Daniel", "James", "Mark", "Paul", "Michael", "Andrew", "Christopher", "Matthew", "Richard", "Lee",
    "Craig", "Steven", "Gareth", "Ryan", "Imran", "Tariq", "Piotr", "Tomasz", "Kwame", "Wei", "Jamie", "Adam",
)
SURNAMES = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson", "Roberts",
    "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall", "Lewis", "Harris",
    "Clarke", "Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "Clark",
    "Lee", "King", "Baker", "Harrison", "Morgan", "Allen", "James", "Scott", "Phillips", "Watson", "Davis",
    "Parker", "Price", "Bennett", "Young", "Griffiths", "Mitchell", "Kelly", "Cook", "Carter", "Richardson",
    "Bailey", "Collins", "Bell", "Shaw", "Murphy", "Miller", "Cox", "Richards", "Khan", "Marshall", "Anderson",
    "Simpson", "Ellis", "Adams", "Singh", "Begum", "Wilkinson", "Foster", "Chapman", "Powell", "Webb", "Rogers",
    "Gray", "Mason", "Ali", "Hunt", "Hussain", "Campbell", "Matthews", "Owen", "Palmer", "Holmes", "Mills",
    "Barnes", "Knight", "Lloyd", "Butler", "Russell", "Barker", "Fisher", "Stevens", "Jenkins", "Murray",
    "Dixon", "Harvey", "Nowak", "Kowalski", "Okafor", "Mensah", "Ahmed", "Rahman", "Shah", "Nguyen", "Chen",
    "O'Brien", "Kaur",
)
STREETS = (
    "Elm Grove", "Church Lane", "Station Road", "Victoria Street", "Park Avenue", "Meadow Close", "Orchard Way",
    "Mill Lane", "Queens Road", "Chestnut Drive", "The Green", "Willow Crescent", "Brook Street", "Highfield Road",
    "Kingsway", "Windsor Terrace", "Beech Road", "Albert Street", "Newton Close", "Hawthorn Avenue", "Cedar Walk",
    "Rowan Court", "Bridge Street", "School Lane", "Fernbank Road",
)
PLACES = (
    "Ashdown", "Beech Hill", "Brookside", "Castle View", "Cherry Tree", "Coppice", "Dale End", "Elmhurst",
    "Fairfield", "Fernwood", "Greenacres", "Hazelwood", "Highfield", "Hillcrest", "Holly Bank", "Kingsmead",
    "Lark Rise", "Linden", "Meadowbank", "Millbrook", "Moorside", "Northgate", "Orchard", "Parkside",
    "Redwood", "Riverside", "Rosehill", "St Aidan's", "St Mary's", "St Peter's", "Southfields", "Springfield",
    "Stonebridge", "Thornbury", "Westfield", "Whitecross", "Willowbrook", "Woodlands", "Wychwood", "Yew Tree",
)
SCHOOL_KINDS = (
    "Primary School", "Primary Academy", "Community Primary School", "Junior and Infant School", "CE Primary School",
)
# fmt: on

_POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the letters a real inward code may use


# --- plans: plain data ------------------------------------------------------


@dataclass(frozen=True)
class ContactPlan:
    name: str
    relationship: str
    salutation: str
    address: str
    email: str
    phone: str
    receives_letters: bool
    priority: int


@dataclass(frozen=True)
class Pattern:
    """How one pupil attends. Rates are per school day unless they say otherwise."""

    absence_rate: float = 0.02  # long-run share of days lost to illness and unexplained absence
    episode_days: float = 1.8  # mean length of one spell of absence
    unauthorised_share: float = 0.04  # spells with no acceptable reason (O)
    late_rate: float = 0.01  # mornings arriving after the register opened
    late_after_close_share: float = 0.05  # of those, after it closed (U rather than L)
    appointment_rate: float = 0.004  # days with a medical or dental appointment (one session, M)
    holiday: tuple[date, date] | None = None  # term-time holiday the school did not grant (G)
    leave_days: frozenset[date] = frozenset()  # exceptional leave granted (C)
    suspension_days: frozenset[date] = frozenset()  # suspended (E)
    dual_weekdays: frozenset[int] = frozenset()  # at the other school where also registered (D)
    part_time_from: date | None = None  # afternoons off on an agreed timetable (C2) from this day
    part_time_weekdays: frozenset[int] = frozenset()


@dataclass(frozen=True)
class PupilPlan:
    key: str  # seeds the pupil's own random stream
    upn: str
    forename: str
    surname: str
    date_of_birth: date
    year_code: str
    class_name: str
    sen: str
    flags: frozenset[str]
    start_on: date
    leaving_on: date | None
    contacts: tuple[ContactPlan, ...]
    pattern: Pattern


@dataclass(frozen=True)
class SchoolIdentity:
    urn: str
    name: str
    address: str
    phone: str
    email: str
    signatory_name: str
    town: str
    estab: int


@dataclass(frozen=True)
class Register:
    """The school days the demo fills, and what the whole school shares on them."""

    days: tuple[date, ...]  # every school day from the start of the year up to yesterday
    year_days: tuple[date, ...]  # every school day of the whole year, for events planned ahead
    inset_days: frozenset[date]
    pending_days: frozenset[date]  # the last two school days: some reasons are not in yet
    trip_days: dict[str, date]  # year group code -> the day of its trip
    illness: dict[str, dict[date, float]]  # year group code -> day -> how catching illness is that day

    @property
    def first_day(self) -> date | None:
        return self.days[0] if self.days else None

    @property
    def last_day(self) -> date | None:
        return self.days[-1] if self.days else None


#: One mark: date, session, code, minutes late, comment, and the code first
#: recorded when it was later corrected (None if it never was).
MarkRow = tuple[date, int, str, int | None, str, str | None]


def school_identity(number: int) -> SchoolIdentity:
    """The name, URN and address of the `number`th demo school (0 is Oakfield)."""
    estab = 2000 + number
    if number == 0:
        place, kind = "Oakfield", "Primary School"
    else:
        place = PLACES[(number - 1) % len(PLACES)]
        kind = SCHOOL_KINDS[((number - 1) // len(PLACES)) % len(SCHOOL_KINDS)]
        rounds = (number - 1) // (len(PLACES) * len(SCHOOL_KINDS))
        if rounds:
            place = f"{place} {rounds + 1}"
    town = place.replace("St ", "Saint ").replace("'s", "s")
    slug = "".join(ch for ch in place.lower() if ch.isalnum())
    return SchoolIdentity(
        urn=str(FIRST_URN + number),
        name=f"{place} {kind}",
        address=f"{1 + number % 90} School Lane\n{town}\nWestshire\nWS{1 + number % 9} {2 + number % 7}AB",
        phone=f"01632 {960000 + number % 1000}",  # Ofcom's range for drama: never a real line
        email=f"office@{slug}.example.org",
        signatory_name=("Mrs Helen Carter" if number == 0 else f"Mr {SURNAMES[number % len(SURNAMES)]}"),
        town=town,
        estab=estab,
    )


# --- the school's shared register -------------------------------------------

_SEASON = {8: 0.7, 9: 0.7, 10: 0.9, 11: 1.1, 12: 1.3, 1: 1.3, 2: 1.2, 3: 1.0, 4: 0.9, 5: 0.8, 6: 0.8, 7: 0.9}
_WEEKDAY = (1.1, 1.0, 1.0, 1.0, 1.15)  # Mondays and Fridays are missed more


def _monday_on_or_after(day: date) -> date:
    return day + timedelta(days=(7 - day.weekday()) % 7)


def register_for(calendar: cal.SchoolCalendar, *, today: date, rng: random.Random) -> Register:
    """The register's school days and shared events for the academic year containing `today`."""
    year_start, _ = calendar.academic_year_window(today)
    days = tuple(calendar.school_days(year_start, today - timedelta(days=1)))
    half_terms = [h for h in calendar.half_terms if h.academic_year == cal.academic_year_start(today)]
    year_days = tuple(d for h in half_terms for d in calendar.school_days(h.start, h.end))
    # INSET: the first day of the autumn and of the spring term, as in most schools.
    inset = set()
    for term in ("autumn", "spring"):
        first_half = next((h for h in half_terms if h.term == term), None)
        first_day = next(calendar.school_days(first_half.start, first_half.end), None) if first_half else None
        if first_day is not None:
            inset.add(first_day)
    teaching = [d for d in days if d not in inset]
    pending = frozenset(teaching[-2:])
    # Trips (and holidays, below) are planned over the whole year, so the
    # same pupils have the same days whatever `today` is; only those already
    # past appear in the register.
    trips: dict[str, date] = {}
    candidates = [d for d in year_days[10:] if d not in inset and d.weekday() in (1, 2, 3)]
    if candidates:
        for year in YEAR_CODES:
            trips[year] = rng.choice(candidates)
    # Outbreaks: (first Monday, weeks, multiplier for everyone, years hit hardest, their multiplier).
    start_year = cal.academic_year_start(today)
    hard_hit = rng.sample(YEAR_CODES, 2)
    outbreaks = [
        (_monday_on_or_after(date(start_year, 11, 10)), 1, 2.0, hard_hit, 5.0),  # a cold going round
        (_monday_on_or_after(date(start_year + 1, 1, 12)), 1, 4.0, [], 4.0),  # a winter vomiting bug
        (_monday_on_or_after(date(start_year + 1, 3, 2)), 3, 1.0, ["R", "1"], 3.0),  # chickenpox in the infants
    ]
    illness: dict[str, dict[date, float]] = {}
    for year in YEAR_CODES:
        by_day = {}
        for day in days:
            factor = _SEASON[day.month] * _WEEKDAY[day.weekday()]
            for monday, weeks, everyone, years, hardest in outbreaks:
                if monday <= day < monday + timedelta(weeks=weeks):
                    factor *= hardest if year in years else everyone
            by_day[day] = factor
        illness[year] = by_day
    return Register(
        days=days,
        year_days=year_days,
        inset_days=frozenset(inset & set(days)),
        pending_days=pending,
        trip_days=trips,
        illness=illness,
    )


# --- planning the pupils ------------------------------------------------------


def _seats(pupils: int) -> list[tuple[str, str]]:
    """(year code, class name) for every seat, filled class by class: RA, RB, 1A ... 6B."""
    classes = [(year, f"{year}{letter}") for year in YEAR_CODES for letter in CLASS_LETTERS]
    base, extra = divmod(pupils, len(classes))
    seats = []
    for i, (year, name) in enumerate(classes):
        seats += [(year, name)] * (base + (1 if i < extra else 0))
    return seats


def _date_of_birth(rng: random.Random, year_code: str, start_year: int) -> date:
    """A birthday that puts the pupil in `year_code` (Reception: 4 on 31 August before the year)."""
    offset = YEAR_CODES.index(year_code)
    first = date(start_year - 5 - offset, 9, 1)
    return first + timedelta(days=rng.randrange(365))


def _make_upn(estab: int, year_of_issue: int, serial: int) -> str:
    body = f"{LA_NUMBER:03d}{estab:04d}{year_of_issue % 100:02d}{serial:03d}"
    upn = upn_check_letter(body) + body
    assert upn_problem(upn) is None, upn
    return upn


def _postcode(rng: random.Random, area: int) -> str:
    return f"WS{area} {rng.randint(1, 9)}{rng.choice(_POSTCODE_LETTERS)}{rng.choice(_POSTCODE_LETTERS)}"


def _email(forename: str, surname: str, rng: random.Random) -> str:
    local = f"{forename}.{surname}".lower().replace("'", "").replace(" ", "")
    return f"{local}{rng.randint(1, 99)}@{rng.choice(('example.com', 'example.org', 'example.net'))}"


def _phone(rng: random.Random) -> str:
    return f"07700 {900000 + rng.randrange(1000)}"  # Ofcom's range for drama: never a real phone


def _salutation(relationship: str, surname: str) -> str:
    """As an MIS holds it for most parents; blank (greeted by name) for the rest, as some schools leave it."""
    title = {"Mother": "Mrs", "Father": "Mr", "Grandmother": "Mrs"}.get(relationship)
    return f"{title} {surname}" if title else ""


def _family_contacts(rng: random.Random, surname: str, identity: SchoolIdentity, area: int) -> tuple[ContactPlan, ...]:
    home = f"{rng.randint(1, 140)} {rng.choice(STREETS)}\n{identity.town}\n{_postcode(rng, area)}"
    roll = rng.random()
    if roll < 0.72:
        relationship, forename = "Mother", rng.choice(ADULT_FORENAMES_FEMALE)
    elif roll < 0.92:
        relationship, forename = "Father", rng.choice(ADULT_FORENAMES_MALE)
    elif roll < 0.96:
        relationship, forename = "Grandmother", rng.choice(ADULT_FORENAMES_FEMALE)
    else:
        relationship, forename = "Foster carer", rng.choice(ADULT_FORENAMES_FEMALE + ADULT_FORENAMES_MALE)
    own_surname = surname if rng.random() < 0.88 or relationship == "Foster carer" else rng.choice(SURNAMES)
    first = ContactPlan(
        name=f"{forename} {own_surname}",
        relationship=relationship,
        salutation=_salutation(relationship, own_surname),
        address=home,
        email=_email(forename, own_surname, rng) if rng.random() < 0.9 else "",
        phone=_phone(rng),
        receives_letters=True,
        priority=1,
    )
    if relationship not in ("Mother", "Father") or rng.random() > 0.55:
        return (first,)
    other_relationship = "Father" if relationship == "Mother" else "Mother"
    other_forename = rng.choice(ADULT_FORENAMES_MALE if other_relationship == "Father" else ADULT_FORENAMES_FEMALE)
    separated = rng.random() < 0.25
    other_surname = rng.choice(SURNAMES) if separated and rng.random() < 0.5 else surname
    second = ContactPlan(
        name=f"{other_forename} {other_surname}",
        relationship=other_relationship,
        salutation=_salutation(other_relationship, other_surname),
        # A parent living elsewhere gets their own copy of letters; one household gets one copy.
        address=(
            f"{rng.randint(1, 140)} {rng.choice(STREETS)}\n{identity.town}\n{_postcode(rng, area)}"
            if separated
            else home
        ),
        email=_email(other_forename, other_surname, rng) if rng.random() < 0.8 else "",
        phone=_phone(rng),
        receives_letters=separated,
        priority=2,
    )
    return (first, second)


def _run_of_days(days: Sequence[date], start_index: int, length: int) -> list[date]:
    return list(days[start_index : start_index + length])


def _holiday(rng: random.Random, calendar: cal.SchoolCalendar, register: Register) -> tuple[date, date] | None:
    """A term-time holiday of 2-10 school days this year, usually just before or after a half-term break."""
    if len(register.year_days) < 20:
        return None
    length = rng.choice((2, 3, 4, 5, 5, 5, 8, 10))
    year = cal.academic_year_start(register.year_days[0])
    edges: list[tuple[date, date]] = []
    for number, h in enumerate(h for h in calendar.half_terms if h.academic_year == year):
        term_days = list(calendar.school_days(h.start, h.end))
        if len(term_days) <= length:
            continue
        edges.append((term_days[-length], term_days[-1]))  # leaving early for the break
        if number:
            edges.append((term_days[0], term_days[length - 1]))  # coming back late
    if edges and rng.random() < 0.8:
        return rng.choice(edges)
    begin = rng.randrange(len(register.year_days) - length)
    run = _run_of_days(register.year_days, begin, length)
    return run[0], run[-1]


def plan_pupils(
    *,
    identity: SchoolIdentity,
    pupils: int,
    calendar: cal.SchoolCalendar,
    register: Register,
    today: date,
    seed: int,
) -> list[PupilPlan]:
    """Every pupil of one school: who they are, their family, and how they attend. Pure and repeatable."""
    rng = random.Random(f"{seed}/pupils/{identity.urn}")
    start_year = cal.academic_year_start(today)
    year_start, _ = calendar.academic_year_window(today)
    seats = _seats(pupils)
    count = len(seats)
    days = [d for d in register.days if d not in register.inset_days]

    # Who is in which group, fixed in proportion so that even a small school
    # has the pattern: the rest is left to each pupil's own random stream.
    def share(rate: float, minimum: int = 0) -> int:
        return min(count, max(minimum, round(count * rate)))

    kinds = ["severe"] * share(0.01, 1) + ["persistent"] * share(0.135)
    kinds += ["usual"] * (count - len(kinds))
    rng.shuffle(kinds)
    compulsory = [i for i, (year, _) in enumerate(seats) if year != "R"]
    juniors = [i for i, (year, _) in enumerate(seats) if year in ("3", "4", "5", "6")]
    usual = [i for i in range(count) if kinds[i] == "usual"]
    struggling = [i for i in range(count) if kinds[i] != "usual"]

    def pick(pool: Sequence[int], n: int, taken: set[int] | None = None) -> set[int]:
        free = [i for i in pool if not taken or i not in taken]
        return set(rng.sample(free, min(n, len(free))))

    dual = pick([i for i in juniors if kinds[i] == "usual"], share(0.006, 1))
    part_time = pick([i for i in compulsory if kinds[i] == "usual"], share(0.006, 1), dual)
    special = dual | part_time
    late = pick(usual, share(0.02, 1), special) | pick(struggling, share(0.015, 1), special)
    away = pick(usual, share(0.05), special) | pick(struggling, share(0.02), special)
    leave = pick(range(count), share(0.02), special)
    suspended = pick([i for i in juniors if kinds[i] != "usual"], share(0.006, 1), special)
    joiners: set[int] = set()
    leavers: set[int] = set()
    if len(days) >= 15:
        joiners = pick(usual, share(0.02, 1), special)
        leavers = pick(usual, share(0.005, 1), special | joiners)

    serials: dict[tuple[int, int], int] = {}
    families: list[tuple[str, tuple[ContactPlan, ...], set[str]]] = []
    area = 1 + int(identity.urn) % 9
    plans: list[PupilPlan] = []
    for i, (year, class_name) in enumerate(seats):
        kind = kinds[i]
        offset = YEAR_CODES.index(year)
        # Surname and contacts: about one pupil in five has a brother or sister here already.
        family = None
        if families and rng.random() < 0.2:
            for candidate in rng.sample(families, min(5, len(families))):
                if year not in candidate[2] and len(candidate[2]) < 3:
                    family = candidate
                    break
        if family is None:
            surname = rng.choice(SURNAMES)
            family = (surname, _family_contacts(rng, surname, identity, area), set())
            families.append(family)
        family[2].add(year)
        surname, contacts, _ = family

        # On roll since Reception, or since joining in a later year.
        entry_year = start_year - offset
        if offset and rng.random() < 0.1:
            entry_year = rng.randint(entry_year + 1, start_year)
        start_on = cal.england_default_half_terms(entry_year)[0].start if entry_year < start_year else year_start
        estab = identity.estab
        if i in joiners:
            start_on = days[rng.randrange(len(days) // 4, len(days) - 5)]
            estab = 7000 + int(identity.urn) % 1000  # their UPN came from their last school
        leaving_on = days[rng.randrange(len(days) // 3, len(days) - 3)] if i in leavers else None
        serial_key = (estab, start_year - offset)
        serials[serial_key] = serials.get(serial_key, 0) + 1
        upn = _make_upn(estab, start_year - offset, serials[serial_key])

        sen = Pupil.Sen.NONE.value
        flags: set[str] = set()
        sen_roll = rng.random()
        if i in part_time or i in dual:
            sen = Pupil.Sen.EHCP.value if sen_roll < 0.5 else Pupil.Sen.SUPPORT.value
        elif sen_roll < (0.015 if kind == "usual" else 0.06):
            sen = Pupil.Sen.EHCP.value
        elif sen_roll < (0.125 if kind == "usual" else 0.3):
            sen = Pupil.Sen.SUPPORT.value
        if sen == Pupil.Sen.EHCP.value:
            flags.add("ehcp")
        elif sen == Pupil.Sen.SUPPORT.value:
            flags.add("sen_support")
        for key, usual_rate, struggling_rate in (
            ("fsm", 0.21, 0.42),
            ("social_worker", 0.01, 0.12),
            ("young_carer", 0.01, 0.05),
            ("mental_health", 0.015, 0.14),
            ("medical_need", 0.035, 0.08),
        ):
            if rng.random() < (usual_rate if kind == "usual" else struggling_rate):
                flags.add(key)

        pattern = _pattern(rng, kind, "medical_need" in flags)
        changes: dict[str, object] = {}
        if i in late:
            changes.update(late_rate=rng.uniform(0.2, 0.4), late_after_close_share=rng.uniform(0.1, 0.25))
        if i in away and (holiday := _holiday(rng, calendar, register)):
            changes["holiday"] = holiday
            flags.add("holiday_requested")
        if i in leave and len(days) > 2:
            begin = rng.randrange(len(days) - 1)
            changes["leave_days"] = frozenset(_run_of_days(days, begin, rng.choice((1, 1, 2))))
        if i in suspended and len(days) > 3:
            begin = rng.randrange(len(days) - 2)
            changes["suspension_days"] = frozenset(_run_of_days(days, begin, rng.choice((1, 2, 3))))
        if i in dual:
            changes["dual_weekdays"] = frozenset(rng.sample(range(5), rng.choice((1, 2, 2))))
            flags.add("dual_registered")
        if i in part_time and days:
            changes["part_time_from"] = days[rng.randrange(max(1, len(days) // 3))]
            changes["part_time_weekdays"] = frozenset(rng.sample(range(5), rng.randint(2, 4)))
            flags.add("part_time_timetable")
        if changes:
            pattern = replace(pattern, **changes)  # type: ignore[arg-type]

        plans.append(
            PupilPlan(
                key=f"{seed}/{identity.urn}/{i}",
                upn=upn,
                forename=rng.choice(FORENAMES),
                surname=surname,
                date_of_birth=_date_of_birth(rng, year, start_year),
                year_code=year,
                class_name=class_name,
                sen=sen,
                flags=frozenset(flags),
                start_on=start_on,
                leaving_on=leaving_on,
                contacts=contacts,
                pattern=pattern,
            )
        )
    return plans


def _pattern(rng: random.Random, kind: str, medical: bool) -> Pattern:
    appointments = 0.02 if medical else 0.004
    if kind == "severe":
        return Pattern(
            absence_rate=rng.uniform(0.6, 0.8),
            episode_days=6.0,
            unauthorised_share=0.6,
            late_rate=0.1,
            late_after_close_share=0.3,
            appointment_rate=appointments,
        )
    if kind == "persistent":
        return Pattern(
            absence_rate=min(0.35, 0.11 + rng.expovariate(1 / 0.05)),
            episode_days=2.3,
            unauthorised_share=0.3,
            late_rate=0.04,
            late_after_close_share=0.2,
            appointment_rate=appointments,
        )
    return Pattern(
        absence_rate=min(0.06, rng.lognormvariate(-4.0, 0.7)),  # median about 1.8%
        episode_days=1.8,
        unauthorised_share=0.04,
        late_rate=0.01,
        late_after_close_share=0.05,
        appointment_rate=appointments,
    )


# --- the register, pupil by pupil ---------------------------------------------


def _in_force(code: str, day: date, fallback: str) -> str:
    return code if code_table()[code].is_valid_on(day) else fallback


def pupil_register(pupil: PupilPlan, register: Register) -> Iterator[MarkRow]:
    """Every mark for one pupil, in date order, from their start (or the year's) to leaving or yesterday."""
    rng = random.Random(pupil.key)
    p = pupil.pattern
    days = register.days
    lo = bisect.bisect_left(days, pupil.start_on)
    hi = bisect.bisect_right(days, pupil.leaving_on) if pupil.leaving_on else len(days)
    catching = register.illness[pupil.year_code]
    start_chance = p.absence_rate / (p.episode_days * (1 - p.absence_rate))
    stay_chance = 1 - 1 / p.episode_days
    trip = register.trip_days.get(pupil.year_code)
    holiday_from, holiday_to = p.holiday or (date.max, date.min)
    in_spell = False
    spell_code = "I"
    explained = True
    for day in days[lo:hi]:
        if day in register.inset_days:
            yield day, AM, "#", None, "", None
            yield day, PM, "#", None, "", None
            continue
        if day.weekday() in p.dual_weekdays:
            yield day, AM, "D", None, "", None
            yield day, PM, "D", None, "", None
            continue
        if day in p.suspension_days:
            yield day, AM, "E", None, "Suspension", None
            yield day, PM, "E", None, "Suspension", None
            continue
        if holiday_from <= day <= holiday_to:
            yield day, AM, "G", None, "", None
            yield day, PM, "G", None, "", None
            continue
        if day in p.leave_days:
            yield day, AM, "C", None, "", None
            yield day, PM, "C", None, "", None
            continue

        new_spell = False
        if in_spell:
            in_spell = rng.random() < stay_chance
        elif rng.random() < start_chance * catching[day]:
            in_spell = new_spell = True
            spell_code = "O" if rng.random() < p.unauthorised_share else "I"
            explained = spell_code == "I" and rng.random() < 0.75  # the parent rang on the first morning
            if spell_code == "I" and rng.random() < 0.15:
                # Half a day: sent home after lunch, or in after a morning in bed.
                in_spell = False
                if rng.random() < 0.5:
                    yield day, AM, "/", None, "", None
                    yield day, PM, "I", None, "", None
                else:
                    yield day, AM, "I", None, "", None
                    yield day, PM, "\\", None, "", None
                continue
        if in_spell:
            for session in (AM, PM):
                if day in register.pending_days and not explained:
                    yield day, session, "N", None, "", None
                elif new_spell and not explained:
                    if spell_code == "I":
                        yield day, session, "I", None, COMMENT_ILLNESS_LATER, "N"
                    elif rng.random() < 0.85:
                        yield day, session, "O", None, COMMENT_NO_REASON, "N"
                    else:
                        yield day, session, "N", None, "", None  # never chased up
                else:
                    yield day, session, spell_code, None, "", None
            continue

        if day == trip:
            yield day, AM, "V", None, "", None
            yield day, PM, "V", None, "", None
            continue
        am, minutes, pm = "/", None, "\\"
        if rng.random() < p.late_rate:
            if rng.random() < p.late_after_close_share:
                am, minutes = "U", rng.randint(31, 75)
            else:
                am, minutes = "L", rng.randint(2, 25)
        if rng.random() < p.appointment_rate:
            if rng.random() < 0.6:
                am, minutes = "M", None
            else:
                pm = "M"
        if p.part_time_from and day >= p.part_time_from and day.weekday() in p.part_time_weekdays:
            pm = _in_force("C2", day, "C")
        yield day, AM, am, minutes, "", None
        yield day, PM, pm, None, "", None


# --- loading ----------------------------------------------------------------


@dataclass
class DemoResult:
    schools: list[School] = field(default_factory=list)
    pupils: int = 0
    marks: int = 0
    first_day: date | None = None
    last_day: date | None = None

    def add(self, other: DemoResult) -> None:
        """Count `other`'s schools in with these (the same register days: the same `today`)."""
        self.schools += other.schools
        self.pupils += other.pupils
        self.marks += other.marks
        self.first_day = self.first_day or other.first_day
        self.last_day = self.last_day or other.last_day


def generate(
    *,
    schools: int = 1,
    pupils_per_school: int = DEFAULT_PUPILS,
    today: date | None = None,
    seed: int = DEFAULT_SEED,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
    first: int = 0,
) -> DemoResult:
    """Build `schools` demo schools of `pupils_per_school` pupils, with registers up to the day before `today`.

    The schools are the `first`th demo school (`school_identity`) and those after it.

    Each school is built in its own transaction (a savepoint inside the
    caller's) with its marks streamed, so memory stays flat at any scale.
    On PostgreSQL outside a transaction, `workers` > 1 builds that many
    schools at once, each on its own connection: inserting is the database's
    work (mostly the foreign-key check on every mark), so more connections
    use more cores. The data is the same for a given seed and `today`
    whatever the number of workers; only row ids differ. Not idempotent: the
    URNs (100000 upwards) must be free, or school_create raises ValidationError.
    """
    minimum = len(YEAR_CODES) * len(CLASS_LETTERS)
    if pupils_per_school < minimum:
        raise ValidationError(f"A demo school needs at least {minimum} pupils, one in each class.")
    # UPNs have 4 digits for the school and 3 for the serial within a year group.
    if schools > MAX_SCHOOLS or pupils_per_school > MAX_PUPILS:
        raise ValidationError(f"The demo makes at most {MAX_SCHOOLS} schools of at most {MAX_PUPILS} pupils.")
    today = today or timezone.localdate()
    build = partial(_school_build, pupils=pupils_per_school, today=today, seed=seed)
    parallel = workers > 1 and schools > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block
    result = DemoResult()
    numbers = range(first, first + schools)
    with ThreadPoolExecutor(max_workers=workers if parallel else 1) as pool:
        built = pool.map(partial(_in_own_connection, build), numbers) if parallel else map(build, numbers)
        for number, (school, register, pupils, marks) in enumerate(built, start=1):
            result.schools.append(school)
            result.pupils += pupils
            result.marks += marks
            result.first_day = result.first_day or register.first_day
            result.last_day = result.last_day or register.last_day
            if progress:
                progress(f"{number}/{schools} {school.name}: {pupils} pupils, {marks} marks")
    return result


_Built = tuple[School, Register, int, int]


def _in_own_connection(build: Callable[[int], _Built], number: int) -> _Built:
    # A worker thread has its own connection (Django's are per thread): close it when done.
    try:
        return build(number)
    finally:
        connection.close()


@transaction.atomic
def _school_build(number: int, *, pupils: int, today: date, seed: int) -> _Built:
    identity = school_identity(number)
    school = services.school_create(
        urn=identity.urn,
        name=identity.name,
        today=today,
        address=identity.address,
        phone=identity.phone,
        email=identity.email,
        signatory_name=identity.signatory_name,
        signatory_role="Headteacher",
    )
    calendar = services.school_calendar(school)
    register = register_for(calendar, today=today, rng=random.Random(f"{seed}/register/{identity.urn}"))
    plans = plan_pupils(identity=identity, pupils=pupils, calendar=calendar, register=register, today=today, seed=seed)

    years = {y.code: y for y in YearGroup.objects.filter(school=school, code__in=YEAR_CODES)}
    groups = {
        g.name: g
        for g in RegistrationGroup.objects.bulk_create(
            [
                RegistrationGroup(school=school, name=f"{year}{letter}", year_group=years[year])
                for year in YEAR_CODES
                for letter in CLASS_LETTERS
            ]
        )
    }
    rows = Pupil.objects.bulk_create(
        [
            Pupil(
                school=school,
                upn=plan.upn,
                surname=plan.surname,
                forename=plan.forename,
                date_of_birth=plan.date_of_birth,
                year_group=years[plan.year_code],
                registration_group=groups[plan.class_name],
                sen=plan.sen,
                start_on=plan.start_on,
                leaving_on=plan.leaving_on,
            )
            for plan in plans
        ],
        batch_size=2000,
    )
    flag_ids = dict(Flag.objects.filter(school=school).values_list("key", "id"))
    Pupil.flags.through.objects.bulk_create(
        [
            Pupil.flags.through(pupil_id=row.pk, flag_id=flag_ids[key])
            for row, plan in zip(rows, plans, strict=True)
            for key in sorted(plan.flags)
        ],
        batch_size=5000,
    )
    Contact.objects.bulk_create(
        [
            Contact(
                pupil_id=row.pk,
                name=c.name,
                salutation=c.salutation,
                relationship=c.relationship,
                address=c.address,
                email=c.email,
                phone=c.phone,
                receives_letters=c.receives_letters,
                priority=c.priority,
            )
            for row, plan in zip(rows, plans, strict=True)
            for c in plan.contacts
        ],
        batch_size=5000,
    )

    pupil_rows = [(row.pk, plan) for row, plan in zip(rows, plans, strict=True)]
    corrections: list[Correction] = []
    insert = _marks_copy if connection.vendor == "postgresql" else _marks_bulk_create
    marks = insert(pupil_rows, register, corrections=corrections)
    _history_record(corrections, zone=ZoneInfo(school.time_zone))
    return school, register, len(plans), marks


# The marks carry no import batch: a second foreign key to check on every row
# would cost as much again as the pupil's (measured: about 40% of the COPY).

_BULK_BATCH = 20_000

#: A corrected mark: pupil id, date, session, the code first recorded, the code now.
Correction = tuple[int, date, int, str, str]


def _marks_bulk_create(
    pupil_rows: Sequence[tuple[int, PupilPlan]], register: Register, *, corrections: list[Correction]
) -> int:
    """Insert with bulk_create in large batches, one `changed_at` per batch."""
    total = 0
    pending: list[AttendanceMark] = []
    for pupil_id, plan in pupil_rows:
        for day, session, code, minutes, comment, first in pupil_register(plan, register):
            if first is not None:
                corrections.append((pupil_id, day, session, first, code))
            pending.append(
                AttendanceMark(
                    pupil_id=pupil_id, date=day, session=session, code=code, minutes_late=minutes, comment=comment
                )
            )
        if len(pending) >= _BULK_BATCH:
            total += _bulk_flush(pending)
    return total + _bulk_flush(pending)


def _bulk_flush(pending: list[AttendanceMark]) -> int:
    stamp = timezone.now()
    for mark in pending:
        mark.changed_at = stamp
    AttendanceMark.objects.bulk_create(pending, batch_size=5000)
    count = len(pending)
    pending.clear()
    return count


_COPY_CHUNK = 64_000
_COPY_NULL = "\\N"
#: COPY's text format reads a backslash as an escape: the afternoon "present" mark is "\".
_COPY_CODE = {code: code.replace("\\", "\\\\") for code in code_table()}


def _marks_copy(
    pupil_rows: Sequence[tuple[int, PupilPlan]], register: Register, *, corrections: list[Correction]
) -> int:
    """Stream one school's marks into PostgreSQL with COPY, one `changed_at` for the lot."""
    meta = AttendanceMark._meta
    names = ["pupil", "date", "session", "code", "minutes_late", "comment", "changed_at"]
    columns = ", ".join(connection.ops.quote_name(meta.get_field(name).column) for name in names)
    sql = f"COPY {connection.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN"
    dates = {day: day.isoformat() for day in register.days}
    tail = f"\t{timezone.now().isoformat()}\n"
    null = _COPY_NULL
    codes = _COPY_CODE
    total = 0
    with connection.cursor() as cursor:
        # Check the foreign keys as the COPY ends rather than at commit, so a
        # caller's long transaction does not queue millions of deferred checks.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        with cursor.cursor.copy(sql) as copy:
            lines: list[str] = []
            for pupil_id, plan in pupil_rows:
                for day, session, code, minutes, comment, first in pupil_register(plan, register):
                    if first is not None:
                        corrections.append((pupil_id, day, session, first, code))
                    lines.append(
                        f"{pupil_id}\t{dates[day]}\t{session}\t{codes[code]}\t"
                        f"{null if minutes is None else minutes}\t{comment}{tail}"
                    )
                if len(lines) >= _COPY_CHUNK:
                    copy.write("".join(lines))
                    total += len(lines)
                    lines.clear()
            copy.write("".join(lines))
            total += len(lines)
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return total


def _history_record(corrections: Sequence[Correction], *, zone: ZoneInfo) -> None:
    """Keep the first code of every corrected mark (N, then I or O) as the mark's history."""
    by_key = {(pupil_id, day, session): (first, code) for pupil_id, day, session, first, code in corrections}
    if not by_key:
        return
    marks = AttendanceMark.objects.filter(
        pupil_id__in={key[0] for key in by_key},
        comment__in=(COMMENT_ILLNESS_LATER, COMMENT_NO_REASON),
    ).values_list("id", "pupil_id", "date", "session")
    changes = []
    for mark_id, pupil_id, day, session in marks.iterator(chunk_size=5000):
        old, new = by_key[(pupil_id, day, session)]
        changes.append(
            MarkChange(
                mark_id=mark_id,
                old_code=old,
                new_code=new,
                reason="Parent gave the reason later" if new == "I" else "No reason given after follow-up",
                # Corrected the next morning, when the office followed the absence up.
                changed_at=datetime.combine(day + timedelta(days=1), time(9, 30), tzinfo=zone),
            )
        )
    MarkChange.objects.bulk_create(changes, batch_size=5000)


# --- the newcomer's demo: data plus logins --------------------------------------


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    role: str


@dataclass(frozen=True)
class DemoLoaded:
    result: DemoResult
    logins: list[Login]
    failures: list[tuple[object, BaseException]]  # signal receivers that raised


#: The demo's second school, a small neighbour of Oakfield's: the LA officer sees the two side by side.
NEIGHBOUR_PUPILS = 140

#: One login per role at the demo school: username, role, first name, last name.
DEMO_STAFF = (
    ("lead", StaffMembership.Role.ATTENDANCE_LEAD, "Priya", "Shah"),
    ("teacher", StaffMembership.Role.CLASS_TEACHER, "Tom", "Bennett"),
    ("slt", StaffMembership.Role.SENIOR_LEADER, "Mark", "Evans"),
    ("dsl", StaffMembership.Role.DSL, "Grace", "Okafor"),
    ("office", StaffMembership.Role.OFFICE, "Julie", "Hughes"),
    ("la", StaffMembership.Role.LA_OFFICER, "Sam", "Whitfield"),
)
DEMO_TEACHER_CLASS = "4A"
DEMO_ADMIN = "admin"


def demo_refusal() -> str | None:
    """Why demo data cannot be loaded into this database, or None if it is empty enough."""
    count = School.objects.count()
    if count:
        first = School.objects.order_by("urn").first()
        return (
            f"The database already has {count} school{'s' if count != 1 else ''} ({first}). "
            "load_demo only fills an empty database, so nothing was changed. To start again from scratch, "
            "delete db.sqlite3 (or drop and recreate the PostgreSQL database), run `manage.py migrate`, "
            "then `manage.py load_demo`."
        )
    usernames = [username for username, *_ in DEMO_STAFF] + [DEMO_ADMIN]
    taken = sorted(get_user_model().objects.filter(username__in=usernames).values_list("username", flat=True))
    if taken:
        return (
            f"The database has no school, but the demo's usernames {', '.join(taken)} are taken. "
            "load_demo only fills an empty database, so nothing was changed."
        )
    return None


def demo_load(
    *,
    schools: int = 1,
    pupils_per_school: int = DEFAULT_PUPILS,
    today: date | None = None,
    seed: int = DEFAULT_SEED,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> DemoLoaded:
    """Fill an empty database with demo schools and logins, then send `demo_loaded`.

    One school (the default) gets a login per staff role plus `admin`, a
    superuser, all in one transaction; a small neighbouring school
    (NEIGHBOUR_PUPILS, or fewer if the school is smaller) comes with it, which
    only the LA officer sees, so their first page compares two schools
    (`result.schools` holds both). Several schools (for benchmarks) get
    only `admin`, and each school commits on its own: a 15-million-mark load
    should neither sit in one huge transaction nor keep to one core (see
    `generate` for `workers`). Passwords are random and returned once.

    Raises ValidationError, changing nothing, if the database already has a
    school or the demo usernames: not idempotent by design. The signal is sent
    after the data is committed; a receiver that fails is returned in
    `failures`, and the data stays.
    """
    today = today or timezone.localdate()
    options = {"schools": schools, "pupils_per_school": pupils_per_school, "today": today, "seed": seed}
    if schools == 1:
        with transaction.atomic():
            _refuse_unless_empty()
            result = generate(**options, progress=progress)
            neighbour = generate(**{**options, "pupils_per_school": min(NEIGHBOUR_PUPILS, pupils_per_school)}, first=1)
            result.add(neighbour)
            logins = _logins_create(school=result.schools[0], neighbour=neighbour.schools[0])
    else:
        _refuse_unless_empty()
        result = generate(**options, workers=workers, progress=progress)
        logins = _logins_create(school=None)
    responses = demo_loaded.send_robust(sender=School, schools=result.schools, today=today)
    failures = [(receiver, outcome) for receiver, outcome in responses if isinstance(outcome, BaseException)]
    return DemoLoaded(result=result, logins=logins, failures=failures)


def _refuse_unless_empty() -> None:
    problem = demo_refusal()
    if problem:
        raise ValidationError(problem)


def _logins_create(*, school: School | None, neighbour: School | None = None) -> list[Login]:
    user_model = get_user_model()
    domain = school.email.partition("@")[2] if school else "example.org"
    logins = []
    if school is not None:
        for username, role, first_name, last_name in DEMO_STAFF:
            password = new_password()
            user = user_model.objects.create_user(
                username=username,
                email=f"{first_name.lower()}.{last_name.lower()}@{domain}",
                password=password,
                first_name=first_name,
                last_name=last_name,
            )
            membership = StaffMembership.objects.create(user=user, school=school, role=role)
            label = role.label
            if role == StaffMembership.Role.CLASS_TEACHER:
                membership.classes.add(RegistrationGroup.objects.get(school=school, name=DEMO_TEACHER_CLASS))
                label = f"{label} ({DEMO_TEACHER_CLASS})"
            if role == StaffMembership.Role.LA_OFFICER and neighbour is not None:
                StaffMembership.objects.create(user=user, school=neighbour, role=role)
                label = f"{label}, sees both schools"
            logins.append(Login(username=username, password=password, role=label))
    password = new_password()
    user_model.objects.create_superuser(username=DEMO_ADMIN, email=f"admin@{domain}", password=password)
    logins.append(Login(username=DEMO_ADMIN, password=password, role="Django admin (superuser)"))
    return logins
