"""`{{ user|person }}`: a member of staff by the name people know them by (`pupils.people.person_name`);
`{{ membership.role|a_role }}`: their role as a sentence says it, "a class teacher" (`services.role_words`)."""

from __future__ import annotations

from django import template

from pupils.people import person_name
from pupils.services import role_words

register = template.Library()
register.filter("person", person_name)


@register.filter
def a_role(role: str) -> str:
    return role_words(role, article=True)
