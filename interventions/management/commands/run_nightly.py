from __future__ import annotations

import json
from datetime import date
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from interventions.models import Ladder
from interventions.nightly import NightResult, NightRunning, abandoned_close, nightly_run
from interventions.selectors import night_due, nights_due
from pupils.models import School

from ._common import parse_date, school_by_urn


class Command(BaseCommand):
    help = (
        "Run the nightly job now, in this process, and print one JSON line of counts (one a school with --all-schools)."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--school", help="URN")
        which.add_argument(
            "--all-schools", action="store_true", help="every school with an active ladder, one after another"
        )
        which.add_argument(
            "--due",
            action="store_true",
            help="every school whose latest due night has not succeeded (what the schedule would run now)",
        )
        parser.add_argument(
            "--as-of",
            dest="as_of",
            help="the register day the night closes (YYYY-MM-DD), once that day is over in the school's time zone; "
            "default: each school's latest night due, as the schedule runs it (yesterday's, from 02:00)",
        )
        parser.add_argument(
            "--full", action="store_true", help="recount every pupil-week from the register, not only what changed"
        )

    def handle(self, *args, school=None, all_schools=False, due=False, as_of=None, full=False, **options):
        if due:
            if as_of:
                raise CommandError("--due runs each school's own latest due night: leave out --as-of.")
            abandoned_close()  # as the schedule does: a killed attempt counts as a failure
            for target, night in nights_due(now=timezone.now()):
                self._write(target, self._run(target, night, full))
            return
        day = parse_date(as_of, "--as-of") if as_of else None
        if not all_schools:
            target = school_by_urn(school)
            self.stdout.write(self._run(target, self._night(target, day), full).as_json())
            return
        ids = Ladder.objects.filter(is_active=True).values("school_id")
        targets = list(School.objects.filter(pk__in=ids).order_by("urn"))
        nights = [(target, self._night(target, day)) for target in targets]  # every date checked before any runs
        for target, night in nights:
            self._write(target, self._run(target, night, full))

    def _night(self, target: School, day: date | None) -> date:
        """The night to run: `day`, if its registers have closed in the school's time zone, or the latest due."""
        now = timezone.now()
        if day is None:
            return night_due(school=target, now=now)
        today = now.astimezone(ZoneInfo(target.time_zone)).date()
        if day >= today:
            raise CommandError(
                f"The night of {day:%a %-d %b %Y} closes that day's registers, so it can run once the day is over "
                f"({target.name}, {target.time_zone}: it is {today:%a %-d %b} there). Running it sooner would count "
                f"a register still being taken, and the schedule would then skip that night. The latest night due "
                f"is {night_due(school=target, now=now):%a %-d %b %Y}: leave out --as-of to run it."
            )
        return day

    def _write(self, target: School, result: NightResult) -> None:
        self.stdout.write(json.dumps({"school": target.urn, **json.loads(result.as_json())}))

    def _run(self, target: School, day, full: bool) -> NightResult:
        try:
            run = nightly_run(school=target, as_of=day, full=full)
        except (ValidationError, NightRunning) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            raise CommandError(" ".join(messages)) from None
        return NightResult(
            pupils=run.pupils,
            moved=run.moved,
            proposed=run.proposed,
            tasks_created=run.tasks_created,
            letters_queued=run.letters_queued,
        )
