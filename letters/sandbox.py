"""The language letter templates are written in: Django template syntax, in a sandbox.

A dedicated `Engine` with none of Django's built-in tags or filters: only
`{{ field }}`, `{% if %}`/`{% elif %}`/`{% else %}`/`{% endif %}`,
`{% comment %}` and a few text filters. There is no `{% load %}`,
`{% include %}`, `{% url %}` or `{% static %}`, no loader, and no loops, so a
template can only print the values it is given. Those values are plain dicts
of strings and numbers (see `letters.merge`), never model instances, so no
method call can reach the database.

`check()` is run when a template is saved: a syntax error or a field that is
not in the documented list is reported there, with its line, never when
letters print.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.template import Context, Engine, Library, TemplateSyntaxError, defaultfilters, defaulttags
from django.template.base import FilterExpression, NodeList, TextNode, Variable, VariableNode

#: Text filters a template may use. None of them reaches outside the value it is given.
ALLOWED_FILTERS = ("default", "upper", "lower", "title", "capfirst", "pluralize", "yesno")
ALLOWED_TAGS = ("if", "elif", "else", "endif", "comment", "endcomment")

#: The longest template accepted, in characters: letters are a page or two.
MAX_LENGTH = 20_000

register = Library()
for _name in ALLOWED_FILTERS:
    register.filter(_name, getattr(defaultfilters, _name))
register.tag("if", defaulttags.do_if)
register.tag("comment", defaulttags.comment)


class SandboxEngine(Engine):
    # Django adds its default tags and filters to every engine; this one has none of them.
    default_builtins: list[str] = []


ENGINE = SandboxEngine(
    dirs=[],
    app_dirs=False,
    loaders=[],
    libraries={},
    builtins=["letters.sandbox"],
    autoescape=False,  # the output is plain text; the layout escapes it as it becomes HTML
    string_if_invalid="",
)


@dataclass(frozen=True)
class TemplateProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}"


@functools.lru_cache(maxsize=128)
def _compile(source: str) -> Any:
    return ENGINE.from_string(source)


def render(source: str, context: dict[str, Any]) -> str:
    """Render a checked template with plain data. Raises TemplateSyntaxError for an unchecked bad one."""
    return _compile(source).render(Context(context, autoescape=False))


def check(source: str, *, fields: frozenset[str]) -> list[TemplateProblem]:
    """Every problem in a template, each with its line; [] if it is fine.

    Reports syntax errors (one: parsing stops at the first), then every use of
    a field not in `fields`, with the nearest known name as a suggestion, and
    stray `{{`/`}}`/`{%`/`%}` that would otherwise print as they are. Raises nothing.
    """
    if len(source) > MAX_LENGTH:
        return [
            TemplateProblem(
                1, f"the text is {len(source)} characters long; the most a letter may have is {MAX_LENGTH}."
            )
        ]
    try:
        template = ENGINE.from_string(source)
    except TemplateSyntaxError as error:
        token = getattr(error, "token", None)
        return [TemplateProblem(getattr(token, "lineno", 1), _friendly(str(error), token))]
    problems: list[TemplateProblem] = []
    for line, name in _fields_used(template.nodelist):
        if name not in fields:
            problems.append(TemplateProblem(line, _unknown(name, fields)))
    for line, text in _texts(template.nodelist):
        for offset, fragment in _stray_braces(text):
            problems.append(
                TemplateProblem(
                    line + offset,
                    f"'{fragment}' is not part of a merge field or tag: check the brackets are in pairs, "
                    "like {{ pupil.forename }} or {% if meeting.date %}.",
                )
            )
    return sorted(problems, key=lambda p: p.line)


def fields_used(source: str) -> set[str]:
    """The merge fields a (valid) template uses, for forms that ask for the details it needs."""
    try:
        return {name for _, name in _fields_used(ENGINE.from_string(source).nodelist)}
    except TemplateSyntaxError:
        return set()


# --- walking the parsed template ---------------------------------------------------


def _fields_used(nodelist: NodeList) -> Iterator[tuple[int, str]]:
    for node in nodelist:
        line = node.token.lineno
        if isinstance(node, VariableNode):
            yield from _names(node.filter_expression, line)
        elif isinstance(node, defaulttags.IfNode):
            for index, (condition, branch) in enumerate(node.conditions_nodelists):
                if condition is not None:
                    # The parser keeps no token for an elif; its branch's first node starts on its line.
                    at = line if index == 0 or not branch else branch[0].token.lineno
                    yield from _condition_names(condition, at)
                yield from _fields_used(branch)
        elif isinstance(node, (TextNode, defaulttags.CommentNode)):
            continue
        else:  # pragma: no cover - the engine registers no other tags
            raise TemplateSyntaxError(f"tag {type(node).__name__} is not allowed")


def _condition_names(condition: Any, line: int) -> Iterator[tuple[int, str]]:
    value = getattr(condition, "value", None)
    if isinstance(value, FilterExpression):
        yield from _names(value, line)
    for side in ("first", "second"):
        part = getattr(condition, side, None)
        if part is not None:
            yield from _condition_names(part, line)


def _names(expression: FilterExpression, line: int) -> Iterator[tuple[int, str]]:
    if isinstance(expression.var, Variable) and expression.var.lookups:
        yield line, ".".join(expression.var.lookups)
    for _func, args in expression.filters:
        for is_lookup, arg in args:
            if is_lookup and isinstance(arg, Variable) and arg.lookups:
                yield line, ".".join(arg.lookups)


def _texts(nodelist: NodeList) -> Iterator[tuple[int, str]]:
    for node in nodelist:
        if isinstance(node, TextNode):
            yield node.token.lineno, node.s
        elif isinstance(node, defaulttags.IfNode):
            for _condition, branch in node.conditions_nodelists:
                yield from _texts(branch)


_STRAY = re.compile(r"\{\{|\}\}|\{%|%\}")


def _stray_braces(text: str) -> Iterator[tuple[int, str]]:
    for match in _STRAY.finditer(text):
        yield text.count("\n", 0, match.start()), match.group()


# --- messages a school can act on ---------------------------------------------------


def _unknown(name: str, fields: frozenset[str]) -> str:
    groups = {f.split(".")[0] for f in fields if "." in f}
    if name in groups:
        examples = ", ".join(sorted(f for f in fields if f.startswith(f"{name}."))[:3])
        return f"'{{{{ {name} }}}}' is a group of fields, not a field: use one of them, such as {examples}."
    message = f"'{{{{ {name} }}}}' is not a merge field."
    close = difflib.get_close_matches(name, sorted(fields), n=1, cutoff=0.6)
    if close:
        message += f" Did you mean '{{{{ {close[0]} }}}}'?"
    return message + ' The fields you can use are listed with the editor, under "Merge fields".'


def _friendly(message: str, token: Any) -> str:
    """Django's parser messages, in words for the person editing a letter."""
    tags = "{% if %}, {% elif %}, {% else %}, {% endif %} and {% comment %}"
    if match := re.match(r"Invalid block tag on line \d+: '([^']+)'", message):
        command = match.group(1)
        if command.startswith("end") or command in ("elif", "else"):
            return f"'{{% {command} %}}' has no matching '{{% if %}}' before it."
        return f"'{{% {command} %}}' cannot be used in letters. The tags you can use are {tags}."
    if match := re.match(r"Invalid filter: '([^']+)'", message):
        return (
            f"the filter '|{match.group(1)}' cannot be used in letters. "
            f"The filters you can use are {', '.join(ALLOWED_FILTERS)}."
        )
    if match := re.match(r"Unclosed tag on line \d+: '([^']+)'", message):
        closer = "endif" if match.group(1) == "if" else f"end{match.group(1)}"
        return f"'{{% {match.group(1)} %}}' is not closed: add '{{% {closer} %}}' where its text ends."
    if message.startswith("Empty variable tag"):
        return "'{{ }}' is empty: put a merge field inside, such as {{ pupil.forename }}."
    if message.startswith("Empty block tag"):
        return "'{% %}' is empty: write a tag inside, such as {% if meeting.date %}."
    if "Could not parse the remainder" in message or "Could not parse some characters" in message:
        contents = getattr(token, "contents", "")
        return f"'{contents}' is not a merge field: names are words joined by dots, such as pupil.forename."
    if "Variables and attributes may not begin with underscores" in message:
        return "merge fields cannot begin with an underscore."
    return message[:1].lower() + message[1:]
