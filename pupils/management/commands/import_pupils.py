"""manage.py import_pupils --school URN FILE: insert or update pupils by UPN, all or nothing."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from pupils.imports import ImportRejected
from pupils.services import pupils_import

from ._importing import print_report, print_warnings, school_by_urn


class Command(BaseCommand):
    help = (
        "Import pupils from CSV (upn,surname,forename,date_of_birth,year_group,registration_group and optional "
        "sen,flags,contact_name,contact_salutation,contact_address,contact_email,contact_phone,start_date,leaving_date). "
        "A file with any problem changes nothing; every problem is listed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--school", required=True, metavar="URN", help="the school's URN")
        parser.add_argument("file", type=Path, help="pupils CSV")

    def handle(self, *args: object, school: str, file: Path, **options: object) -> None:
        target = school_by_urn(school)
        if not file.is_file():
            raise CommandError(f"{file} is not a file.")
        try:
            report = pupils_import(school=target, path=file, today=timezone.localdate())
        except ImportRejected as e:
            print_warnings(self, e.report)
            raise CommandError(str(e)) from None
        print_report(self, report)
