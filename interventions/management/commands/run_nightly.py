from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from interventions.nightly import NightResult, nightly_run

from ._common import parse_date, school_by_urn


class Command(BaseCommand):
    help = "Run the nightly job for one school now, in this process, and print one JSON line of counts."

    def add_arguments(self, parser):
        parser.add_argument("--school", required=True, help="URN")
        parser.add_argument("--as-of", dest="as_of", help="date to run as (YYYY-MM-DD); default today")

    def handle(self, *args, school, as_of=None, **options):
        target = school_by_urn(school)
        day = parse_date(as_of, "--as-of")
        try:
            run = nightly_run(school=target, as_of=day)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        result = NightResult(
            pupils=run.pupils,
            moved=run.moved,
            proposed=run.proposed,
            tasks_created=run.tasks_created,
            letters_queued=run.letters_queued,
        )
        self.stdout.write(result.as_json())
