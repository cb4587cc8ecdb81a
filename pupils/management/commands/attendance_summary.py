"""`manage.py attendance_summary --school URN [--from DATE] [--to DATE]`: the summary CSV, to stdout.

Part of the stable interface (`shared/docs/product.md`): keep the columns.
"""

from __future__ import annotations

import csv
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from pupils.models import School
from pupils.selectors import pupils_on_roll_between, school_summaries
from pupils.services import school_calendar
from pupils.statistics import format_pct

HEADER = (
    "upn",
    "possible",
    "attended",
    "authorised",
    "unauthorised",
    "late_before_close",
    "late_after_close",
    "attendance_pct",
    "persistent",
    "severe",
)


def school_today(school: School) -> date:
    """Today's date where the school is."""
    return timezone.now().astimezone(ZoneInfo(school.time_zone)).date()


def _parse_date(option: str, raw: str | None) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"{option} {raw!r} is not a date in the form YYYY-MM-DD") from None


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


class Command(BaseCommand):
    help = (
        "Print each pupil's attendance (DfE method) as CSV, ordered by UPN. "
        "The window defaults to the start of the current academic year up to today."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--school", required=True, metavar="URN", help="the school's URN")
        parser.add_argument("--from", dest="start", metavar="DATE", help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="end", metavar="DATE", help="last day, YYYY-MM-DD (default today)")

    def handle(self, *args: Any, **options: Any) -> None:
        """Raises CommandError for an unknown URN, a malformed date, or a window that ends before it starts."""
        urn = options["school"]
        school = School.objects.filter(urn=urn).first()
        if school is None:
            raise CommandError(f"no school with URN {urn!r}")
        start = _parse_date("--from", options["start"])
        end = _parse_date("--to", options["end"])
        if end is None:
            end = school_today(school)
        if start is None:
            start, _ = school_calendar(school).academic_year_window(end)
        if end < start:
            raise CommandError(f"--to {end.isoformat()} is before --from {start.isoformat()}")

        summaries = school_summaries(school=school, start=start, end=end)
        upns = dict(
            pupils_on_roll_between(school=school, start=start, end=end).values_list("pk", "upn").order_by("upn")
        )
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(HEADER)
        for pk, upn in upns.items():
            s = summaries[pk]
            writer.writerow(
                (
                    upn,
                    s.possible,
                    s.attended,
                    s.authorised,
                    s.unauthorised,
                    s.late_before_close,
                    s.late_after_close,
                    format_pct(s.attendance_pct),
                    _yes_no(s.persistent),
                    _yes_no(s.severe),
                )
            )
