"""The letters every school starts with, written plainly and kindly.

Schools edit their own copies; these are the starting text. Merge fields are
Django template variables rendered in a sandbox (see letters/rendering.py).
"""

from __future__ import annotations

DEFAULT_TEMPLATES: dict[str, tuple[str, str]] = {
    "first_reminder": ("First reminder", "Your child's attendance"),
    "second_warning": ("Second letter: attendance concern", "We are concerned about attendance"),
    "formal_warning": ("Formal warning and invitation to meet", "Invitation to an attendance meeting"),
    "attendance_contract": ("Attendance contract", "An attendance contract for your child"),
    "la_referral_notice": ("Notice of referral to the local authority", "Referral to the local authority"),
    "congratulations": ("Congratulations on improvement", "Thank you: attendance is improving"),
    "termly_report": ("Termly attendance report", "Attendance report"),
    "certificate_100": ("100% attendance certificate", "100% attendance"),
}

DEFAULT_BODY = """Dear {{ carer_name }},

{{ pupil.forename }}'s attendance this school year is {{ attendance_pct }}.

Yours sincerely,
{{ school.signatory_name }}"""
