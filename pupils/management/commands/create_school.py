"""manage.py create_school --urn URN --name NAME [--calendar FILE]."""

from __future__ import annotations

from pathlib import Path

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

    def handle(self, *args: object, urn: str, name: str, calendar: Path | None, **options: object) -> None:
        half_terms = None
        if calendar is not None:
            half_terms = self._read_calendar(calendar)
        try:
            school = school_create(
                urn=urn.strip(), name=name.strip(), half_terms=half_terms, today=timezone.localdate()
            )
        except ValidationError as e:
            raise CommandError(" ".join(e.messages)) from None
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
