from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from interventions.ladder_format import problems_located
from interventions.services import LadderError, ladder_check, ladder_file_read, ladder_file_text, ladder_load

from ._common import school_by_urn


class Command(BaseCommand):
    help = (
        "Validate a ladder (a shipped name or a YAML/JSON file) and load it into a school. A bad file changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("ladder", help="kirkby, generic, mickley, sherrier, firs, dfe, or a file path")
        parser.add_argument("--school", help="URN of the school to load it into (omit to only validate)")
        parser.add_argument("--activate", action="store_true", help="make it the school's active ladder")

    def handle(self, *args, ladder, school=None, activate=False, **options):
        if activate and not school:
            raise CommandError("--activate needs --school URN.")
        document = None
        try:
            document = ladder_file_read(ladder)
            target = school_by_urn(school) if school else None
            if target is None:
                check = ladder_check(school=None, document=document)
                if not check.ok:
                    raise LadderError(check.errors)
            else:
                loaded, check = ladder_load(school=target, document=document, activate=activate)
        except LadderError as exc:
            for problem in problems_located(exc.problems, ladder_file_text(ladder)) if document else exc.problems:
                self.stderr.write(f"error: {problem}")
            raise CommandError(f"{ladder}: {len(exc.problems)} error(s); nothing was changed.") from None
        for problem in problems_located(check.warnings, ladder_file_text(ladder)):
            self.stderr.write(f"warning: {problem}")
        if target is None:
            self.stdout.write(f"{ladder}: valid ({len(document['stages'])} stages, {len(check.warnings)} warning(s)).")
        else:
            state = "active" if loaded.is_active else "loaded, not active"
            self.stdout.write(f"{loaded.key}: {loaded.stages.count()} stages into {target.name} ({state}).")
