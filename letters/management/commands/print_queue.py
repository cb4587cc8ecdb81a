"""manage.py print_queue --school URN --output FILE.pdf: every letter waiting to print, as one PDF."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from letters import services
from letters.models import Letter, PrintBatch
from pupils.models import School


class Command(BaseCommand):
    help = (
        "Print every letter waiting in a school's print queue as one PDF, one letter per page, "
        "and mark them printed (each letter's own PDF is kept). Ends with one JSON line: "
        "letters, pages, output, batch."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--school", required=True, metavar="URN")
        parser.add_argument("--output", required=True, metavar="FILE.pdf", type=Path)

    def handle(self, *args: Any, school: str, output: Path, **options: Any) -> None:
        found = School.objects.filter(urn=school).first()
        if found is None:
            raise CommandError(f"No school has URN {school}.")
        if not output.parent.exists():
            raise CommandError(f"The folder {output.parent} does not exist.")
        waiting = Letter.objects.filter(school=found, status=Letter.Status.QUEUED, print_batch__isnull=True).count()
        if not waiting:
            self.stderr.write(f"Nothing is waiting to print at {found.name}; {output} was not written.")
            self.stdout.write(json.dumps({"letters": 0, "pages": 0, "output": None, "batch": None}))
            return
        try:
            # Rendered here, in this process, whatever the size: a command has no page to show progress on.
            batch = services.letters_print(school=found, letter_ids=None, user=None, background_from=sys.maxsize)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        if batch.status != PrintBatch.Status.DONE:
            raise CommandError(f"Printing failed: {batch.error}. The letters are back in the queue.")
        output.write_bytes(services.print_batch_pdf(batch=batch, user=None))
        self.stderr.write(f"{batch.total} letters on {batch.pages} pages written to {output}.")
        self.stdout.write(
            json.dumps({"letters": batch.total, "pages": batch.pages, "output": str(output), "batch": batch.pk})
        )
