"""The flags every school has, by key, with the names staff see. Plain Python.

Ladders may test these keys (`flag: ehcp`); a school can add flags of its own
(`pupils.models.Flag`), which have only the names the school gives them.
"""

from __future__ import annotations

from collections.abc import Iterable

STANDARD = {
    "ehcp": "Education, health and care plan",
    "sen_support": "SEN support",
    "mental_health": "Mental-health need",
    "part_time_timetable": "Part-time timetable",
    "social_worker": "Has a social worker",
    "young_carer": "Young carer",
    "cme": "Child missing education",
    "holiday_requested": "Term-time holiday requested",
    "fsm": "Free school meals",
    "dual_registered": "Dual registered",
    "medical_need": "Medical need",
}

#: The flags a pupil holds by their SEN status (`Pupil.sen`: K, E), whether or not they were also given them.
SEN_STATUS_FLAGS = {"K": "sen_support", "E": "ehcp"}


def held(keys: Iterable[str], *, sen: str) -> set[str]:
    """The flag keys a pupil holds: those they were given, and the one their SEN status brings.

    What a ladder's `flag: ehcp` tests, and what absence by group counts, so the two agree.
    """
    found = set(keys)
    if sen in SEN_STATUS_FLAGS:
        found.add(SEN_STATUS_FLAGS[sen])
    return found
