from __future__ import annotations

import csv

from django.core.management.base import BaseCommand, CommandError

from interventions.models import Placement
from interventions.services import active_ladder

from ._common import school_by_urn


class Command(BaseCommand):
    help = "Print every pupil's current stage on the school's active ladder as CSV: upn,ladder,stage,since,reasons."

    def add_arguments(self, parser):
        parser.add_argument("--school", required=True, help="URN")

    def handle(self, *args, school, **options):
        target = school_by_urn(school)
        ladder = active_ladder(target)
        if ladder is None:
            raise CommandError(f"{target.name} has no active ladder.")
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(["upn", "ladder", "stage", "since", "reasons"])
        rows = Placement.objects.filter(ladder=ladder).select_related("pupil", "stage").order_by("pupil__upn")
        for placement in rows:
            writer.writerow(
                [
                    placement.pupil.upn,
                    ladder.key,
                    placement.stage.key,
                    placement.since.isoformat(),
                    "; ".join(placement.reasons),
                ]
            )
