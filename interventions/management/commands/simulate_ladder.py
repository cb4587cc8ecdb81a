from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from interventions.models import stage_title
from interventions.selectors import simulation_day
from interventions.services import LadderError, ladder_file_read, ladder_simulate

from ._common import parse_date, school_by_urn


class Command(BaseCommand):
    help = "Show, without changing anything, how many pupils each stage of a ladder would hold and who would move."

    def add_arguments(self, parser):
        parser.add_argument("ladder", help="a shipped ladder name or a file path")
        parser.add_argument("--school", required=True, help="URN")
        parser.add_argument(
            "--as-of",
            dest="as_of",
            help="date (YYYY-MM-DD); default the day of the last good night, as on the ladder page",
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print one JSON document instead of a table"
        )

    def handle(self, *args, ladder, school, as_of=None, as_json=False, **options):
        target = school_by_urn(school)
        day = parse_date(as_of, "--as-of") if as_of else simulation_day(school=target)
        try:
            simulation = ladder_simulate(school=target, document=ladder_file_read(ladder), as_of=day)
        except LadderError as exc:
            for problem in exc.problems:
                self.stderr.write(f"error: {problem}")
            raise CommandError(f"{ladder}: {len(exc.problems)} error(s).") from None
        if as_json:
            self.stdout.write(json.dumps(simulation.as_dict(), indent=2))
            return
        self.stdout.write(f"{simulation.ladder_name}: {simulation.pupils} pupils as of {day}")
        for stage in simulation.stages:
            self.stdout.write(f"  {stage_title(stage['label'], stage['name']):<60} {stage['count']:>5}")
        self.stdout.write(
            f"{simulation.task_count} task(s) and {simulation.letter_count} letter(s) (once a family) would be given:"
        )
        for row in simulation.tasks:
            self.stdout.write(f"  {row['count']:>5} x {row['title']}")
        for row in simulation.letters:
            self.stdout.write(f"  {row['count']:>5} x letter {row['key']}")
        self.stdout.write(f"{len(simulation.moves)} would move, {simulation.proposed} proposal(s):")
        for move in simulation.moves:
            self.stdout.write(
                f"  {move['upn']} {move['name']}: {move['from'] or '-'} -> {move['to']}  ({move['reasons']})"
            )
        if simulation.resting:
            self.stdout.write(f"{len(simulation.resting)} move(s) declined lately, not proposed again yet:")
        for move in simulation.resting:
            self.stdout.write(
                f"  {move['upn']} {move['name']}: {move['from']} -> {move['to']}  "
                f"(declined {move['declined_on']}{' by ' + move['by'] if move['by'] else ''}; "
                f"may be proposed again from {move['back_on']})"
            )
