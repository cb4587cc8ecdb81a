"""What the import commands share: finding the school and printing a report."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from pupils.imports import ImportReport
from pupils.models import School


def school_by_urn(urn: str) -> School:
    try:
        return School.objects.get(urn=urn)
    except School.DoesNotExist:
        raise CommandError(f"There is no school with URN {urn}.") from None


def print_report(command: BaseCommand, report: ImportReport) -> None:
    """Notes and warnings, then the summary line last (scripts read the last line)."""
    for note in report.notes:
        command.stdout.write(note)
    for line in report.warnings.lines():
        command.stdout.write(f"warning: {line}")
    command.stdout.write(report.summary())


def print_warnings(command: BaseCommand, report: ImportReport) -> None:
    for line in report.warnings.lines():
        command.stderr.write(f"warning: {line}")
