"""`manage.py load_demo`: a realistic demo school and one login per role, into an empty database."""

from __future__ import annotations

import os
import time
from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone

from pupils import demo
from pupils.models import Pupil, School


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise CommandError(f"--today {text!r} is not a date in the form YYYY-MM-DD") from error


def _day(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


class Command(BaseCommand):
    help = (
        "Fill an EMPTY database with a realistic demo primary school (Oakfield Primary School, URN 100000) "
        "and one login per staff role, printing their passwords; the LA officer also sees a small neighbouring "
        "school. Refuses, changing nothing, if any school exists. "
        "With --schools N it builds N schools for benchmarks, with only an admin login."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--today",
            type=_date,
            help="Registers run from the start of this date's academic year to the day before it (default: today).",
        )
        parser.add_argument("--schools", type=int, default=1, help="How many schools (default 1).")
        parser.add_argument(
            "--pupils",
            type=int,
            default=demo.DEFAULT_PUPILS,
            help=f"Pupils per school (default {demo.DEFAULT_PUPILS}).",
        )
        parser.add_argument(
            "--seed", type=int, default=demo.DEFAULT_SEED, help="The same seed and --today give the same data."
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=min(4, os.cpu_count() or 1),
            help="With several schools on PostgreSQL, how many to build at once (default: CPUs, up to 4).",
        )
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/", help="Where the app runs, for the message at the end."
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="If the database already has a school, list its logins and exit successfully instead of refusing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        schools: int = options["schools"]
        pupils: int = options["pupils"]
        today = options["today"] or timezone.localdate()
        if isinstance(today, str):  # call_command(today="...") skips argparse's conversion
            today = _date(today)
        if schools < 1:
            raise CommandError("--schools must be at least 1.")
        minimum = len(demo.YEAR_CODES) * len(demo.CLASS_LETTERS)
        if pupils < minimum:
            raise CommandError(f"--pupils must be at least {minimum}: one pupil in each of the 14 classes.")
        if options["if_empty"] and School.objects.exists():
            self._already_loaded(options["url"])
            return

        started = time.perf_counter()
        progress = self.stdout.write if schools > 1 and options["verbosity"] >= 1 else None
        try:
            loaded = demo.demo_load(
                schools=schools,
                pupils_per_school=pupils,
                today=today,
                seed=options["seed"],
                workers=max(1, options["workers"]),
                progress=progress,
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        seconds = time.perf_counter() - started

        result = loaded.result
        if schools == 1:
            oakfield, *neighbours = result.schools
            names = f"{oakfield.name} (URN {oakfield.urn})" + "".join(
                f" and its neighbour {s.name} (URN {s.urn}), which only the LA officer sees" for s in neighbours
            )
        else:
            names = f"{schools} schools"
        span = (
            f"from {_day(result.first_day)} to {_day(result.last_day)}"
            if result.first_day and result.last_day
            else f"none yet: the academic year has no school day before {_day(today)}"
        )
        # The dashboard counts those on roll today: say why it may show fewer than were loaded.
        left = Pupil.objects.filter(school__in=result.schools, leaving_on__lt=today).count()
        roll = f" ({left:,} of them have left, so {result.pupils - left:,} are on roll today)" if left else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {names}: {result.pupils:,} pupils in {minimum * len(result.schools):,} classes{roll}, "
                f"{result.marks:,} register marks {span} ({seconds:.1f} s)."
            )
        )
        for receiver, error in loaded.failures:
            self.stderr.write(
                self.style.WARNING(f"The data is loaded, but a demo_loaded receiver failed: {receiver!r}: {error!r}")
            )
        self._logins_print(loaded.logins, options["url"])

    def _logins_print(self, logins: list[demo.Login], url: str) -> None:
        width_user = max(len("username"), *(len(login.username) for login in logins))
        width_password = max(len("password"), *(len(login.password) for login in logins))
        lines = [
            "",
            f"Open {url} and sign in as one of these. The passwords are shown only now: copy them somewhere safe.",
            "",
            f"  {'username':<{width_user}}  {'password':<{width_password}}  role",
            f"  {'-' * width_user}  {'-' * width_password}  {'-' * 30}",
        ]
        lines += [f"  {x.username:<{width_user}}  {x.password:<{width_password}}  {x.role}" for x in logins]
        lines += [
            "",
            "To set a new password later: Change password in the menu, or python manage.py changepassword USERNAME",
            "",
        ]
        self.stdout.write("\n".join(lines))

    def _already_loaded(self, url: str) -> None:
        school = School.objects.order_by("urn").first()
        users = (
            get_user_model()
            .objects.filter(Q(memberships__isnull=False) | Q(is_superuser=True))
            .distinct()
            .order_by("username")
            .values_list("username", flat=True)
        )
        usernames = list(users[:20])
        example = "lead" if "lead" in usernames else (usernames[0] if usernames else "USERNAME")
        self.stdout.write(
            "\n".join(
                [
                    f"The database already has {_schools_named(school)}, so no demo data was loaded.",
                    f"Logins: {', '.join(usernames) or '(none)'}. Their passwords were printed when the demo "
                    "was first loaded.",
                    f"To set a new one: python manage.py changepassword {example}",
                    f"Open {url}",
                ]
            )
        )


def _schools_named(first: School) -> str:
    """The database's schools, by the first: "Oakfield Primary School and 1 other"."""
    others = School.objects.exclude(pk=first.pk).count()
    return f"{first} and {others} other{'s' if others != 1 else ''}" if others else str(first)
