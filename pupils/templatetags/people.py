"""`{{ user|person }}`: a member of staff by the name people know them by (`pupils.people.person_name`)."""

from __future__ import annotations

from django import template

from pupils.people import person_name

register = template.Library()
register.filter("person", person_name)
