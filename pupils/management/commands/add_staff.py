"""manage.py add_staff --school URN --username NAME --role ROLE [--classes 7A,7B] [--name "First Last"] [--email E]."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pupils.models import StaffMembership
from pupils.people import name_parts, new_password, person_with_email
from pupils.services import role_words, staff_add

from ._importing import school_by_urn


class Command(BaseCommand):
    help = (
        "Give a member of staff a role at a school, creating their login if they have none (its password is "
        "printed once). Run it again for each further role or school."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        roles = ", ".join(StaffMembership.Role.values)
        parser.add_argument("--school", required=True, help="the school's URN")
        parser.add_argument("--username", required=True, help="what they sign in with")
        parser.add_argument("--role", required=True, help=f"one of: {roles}")
        parser.add_argument("--classes", default="", help="a class teacher's classes, separated by commas: 7A,7B")
        parser.add_argument("--name", default="", help="their name as pages and records show it: 'Priya Shah'")
        parser.add_argument("--email", default="", help="for resetting a forgotten password")

    def handle(self, *args: Any, school: str, username: str, role: str, classes: str, **options: Any) -> None:
        target = school_by_urn(school)
        first_name, last_name = name_parts(options["name"])
        try:
            added = staff_add(
                school=target,
                username=username.strip(),
                role=role.strip().lower(),
                classes=classes.split(","),
                first_name=first_name,
                last_name=last_name,
                email=options["email"].strip(),
                password=new_password(),
            )
        except ValidationError as error:
            raise CommandError(
                " ".join(
                    f"--{field}: {message}" for field, messages in error.message_dict.items() for message in messages
                )
            ) from None
        membership = added.membership
        user = membership.user
        held = ", ".join(sorted(g.name for g in membership.classes.all()))
        place = f"{role_words(membership.role)} at {target.name} (URN {target.urn})"
        line = f"{user.username} is now {place}" if added.changed else f"{user.username} is already {place}"
        self.stdout.write(line + (f", for {held}." if held else ".") + ("" if added.changed else " Nothing changed."))
        if added.changed and added.classes_before:
            self.stdout.write(f"Their classes were {', '.join(added.classes_before)}; now {held}.")
        if not added.password and added.changed:
            others = [
                f"{role_words(m.role)} at {m.school.name}"
                for m in user.memberships.select_related("school").exclude(pk=membership.pk)
            ]
            self.stdout.write(
                f"An existing login ({person_with_email(user)}): its password is unchanged. "
                f"Its other roles: {', '.join(others) or 'none'}."
            )
        if added.password:
            self.stdout.write(
                f"Password: {added.password} (shown once: give it to them in person; they can change it "
                "from the menu once signed in)"
            )
