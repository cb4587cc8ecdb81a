"""manage.py create_school --urn URN --name NAME [--calendar FILE] [--address ... --phone ... ...]."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from pupils import calendar as cal
from pupils.imports import PRINT_LIMIT
from pupils.models import HalfTerm
from pupils.services import school_create


class Command(BaseCommand):
    help = (
        "Create a school with its standard flags, year groups and calendar. The calendar CSV has a row per "
        "half-term: name,start,end (YYYY-MM-DD). Without one, the England default for the previous, current "
        "and next academic years is used."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--urn", required=True, help="the school's URN (unique reference number)")
        parser.add_argument("--name", required=True, help="the school's name")
        parser.add_argument("--calendar", type=Path, metavar="FILE", help="half-terms CSV: name,start,end")
        letterhead = parser.add_argument_group("letterhead", "what every letter prints (the lead can change it later)")
        letterhead.add_argument("--address", help="address lines separated by ';', postcode last")
        letterhead.add_argument("--phone", help="the office's phone number")
        letterhead.add_argument("--email", help="the office's e-mail address")
        letterhead.add_argument("--signatory-name", help="who signs letters, as printed")
        letterhead.add_argument("--signatory-role", help="their role (Headteacher unless given)")

    def handle(
        self, *args: object, urn: str, name: str, calendar: Path | None, address: str | None, **options: Any
    ) -> None:
        half_terms = None
        if calendar is not None:
            half_terms = self._read_calendar(calendar)
        given = ("phone", "email", "signatory_name", "signatory_role")
        details = {name: options[name].strip() for name in given if options[name] is not None}
        if address is not None:
            details["address"] = "\n".join(line.strip() for line in address.split(";") if line.strip())
        try:
            school = school_create(
                urn=urn.strip(), name=name.strip(), half_terms=half_terms, today=timezone.localdate(), **details
            )
        except ValidationError as e:
            raise CommandError(_problems(e)) from None
        terms = HalfTerm.objects.filter(school=school)
        first, last = terms.first(), terms.last()
        span = f" from {first.start_on.isoformat()} to {last.end_on.isoformat()}" if first and last else ""
        source = calendar.name if calendar else "the England default calendar"
        self.stdout.write(
            f"Created {school.name} (URN {school.urn}) with {terms.count()} half-terms{span}, from {source}."
        )

    def _read_calendar(self, path: Path) -> list[cal.HalfTermDates]:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise CommandError(f"Cannot read {path}: {e}") from None
        half_terms, problems = cal.parse_calendar_csv(text)
        if problems:
            lines = [str(p) for p in problems[:PRINT_LIMIT]]
            if len(problems) > PRINT_LIMIT:
                lines.append(f"... and {len(problems) - PRINT_LIMIT} more")
            head = f"{path.name} was rejected and no school was created: {len(problems)} problem(s)."
            raise CommandError("\n".join([head, *lines]))
        return half_terms


def _problems(error: ValidationError) -> str:
    """Each problem after the option it is about: "--urn: a URN is six digits, like 137654."."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    return " ".join(
        f"--{field.replace('_', '-')}: {message}"
        for field, messages in error.message_dict.items()
        for message in messages
    )
