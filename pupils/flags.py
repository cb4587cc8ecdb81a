"""The flags every school has, by key, with the names staff see. Plain Python.

Ladders may test these keys (`flag: ehcp`); a school can add flags of its own
(`pupils.models.Flag`), which have only the names the school gives them.
"""

from __future__ import annotations

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
