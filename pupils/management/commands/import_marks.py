"""manage.py import_marks --school URN FILE: marks from a CSV or a CTF XML file, all or nothing."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pupils.imports import ImportRejected
from pupils.services import marks_import

from ._importing import print_report, print_warnings, school_by_urn


class Command(BaseCommand):
    help = (
        "Import attendance marks from a CSV (upn,date,session,code[,minutes_late,comment]) or a CTF XML file "
        "(detected by content). A file with any problem changes nothing; every problem is listed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--school", required=True, metavar="URN", help="the school's URN")
        parser.add_argument("file", type=Path, help="marks CSV or CTF XML")

    def handle(self, *args: object, school: str, file: Path, **options: object) -> None:
        target = school_by_urn(school)
        if not file.is_file():
            raise CommandError(f"{file} is not a file.")
        try:
            report = marks_import(school=target, path=file)
        except ImportRejected as e:
            print_warnings(self, e.report)
            raise CommandError(str(e)) from None
        print_report(self, report)
