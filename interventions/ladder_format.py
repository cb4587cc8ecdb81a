"""The ladder file format: schema, validation and band resolution. Plain Python.

`validate_ladder(document, letter_keys=...)` returns a `LadderCheck` with errors
(the file must be rejected), warnings (the file loads, with the resolution
described) and the resolved document the engine runs on. See
`docs/ladder-format.md`.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import jsonschema
import yaml

from pupils.words import did_you_mean

from .rules import MEASURE_LABELS, stage_letters

ROLES = (
    "attendance_lead",
    "class_teacher",
    "senior_leader",
    "dsl",
    "office",
    "sendco",
    "support_staff",
    "la_officer",
    "external",
    "all_staff",
)
ENTRIES = ("automatic", "approval", "manual")
TRACKS = ("falling", "improving")
WINDOW_NAMES = ("year", "term", "half_term")
COUNT_MEASURES = tuple(MEASURE_LABELS)
#: Criteria an action's `when` may not use: they are about the ladder and the pupil's place on it.
ACTION_WHEN_REFUSED = ("manual", "at_stage_for", "bottom_percent")
#: What an action's `logged_as` may name, and what logging it is in words ("done by logging ..."): the kinds
#: of logged action (`ActionLog.Kind`) that are one act with one person, so that logging one does the task.
LOGGED_AS = {
    "phone_call": "a phone call",
    "pupil_conversation": "a conversation with the pupil",
    "parent_conversation": "a conversation with the parent or carer",
    "meeting": "a meeting",
    "home_visit": "a home visit",
}

CRITERION_KINDS = (
    "all",
    "any",
    "not",
    "attendance",
    "count",
    "flag",
    "held_for",
    "at_stage_for",
    "no_contact",
    "bottom_percent",
    "manual",
)

_number = {"type": "number"}
_slug = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$", "maxLength": 60}
_window = {
    "oneOf": [
        {"enum": list(WINDOW_NAMES)},
        {
            "type": "object",
            "properties": {"weeks": {"type": "integer", "minimum": 1, "maximum": 52}},
            "required": ["weeks"],
            "additionalProperties": False,
        },
    ]
}
_percent = {"type": "number", "minimum": 0, "maximum": 100}
_bounds = {"below": _percent, "at_most": _percent, "at_least": _percent, "above": _percent}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["key", "name", "stages"],
    "additionalProperties": False,
    "properties": {
        "key": _slug,
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "source": {"type": "string"},
        "description": {"type": "string"},
        "to_confirm": {"type": "array", "items": {"type": "string"}},
        "min_possible_sessions": {"type": "integer", "minimum": 0},
        "descent": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "sustain_weeks": {"type": "integer", "minimum": 0},
                "margin": {"type": "number", "minimum": 0},
            },
        },
        "stages": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/stage"}},
    },
    "$defs": {
        "stage": {
            "type": "object",
            "required": ["key", "name"],
            "additionalProperties": False,
            "properties": {
                "key": _slug,
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "label": {"type": "string", "maxLength": 20},
                "colour": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
                "track": {"enum": list(TRACKS)},
                "mirrors": {"type": ["string", "null"]},
                "description": {"type": "string"},
                "roles": {"type": "array", "items": {"enum": list(ROLES)}},
                "entry": {"enum": list(ENTRIES)},
                "criteria": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/criterion"}]},
                "actions": {"type": "array", "items": {"$ref": "#/$defs/action"}},
                "letters": {"type": "array", "items": {"oneOf": [_slug, {"$ref": "#/$defs/letter"}]}},
                "review_every_weeks": {"type": ["integer", "null"], "minimum": 1},
                "monitoring": {"type": "string"},
                "notes": {"type": "string"},
            },
        },
        "letter": {
            "type": "object",
            "required": ["letter"],
            "additionalProperties": False,
            "properties": {"letter": _slug, "when": {"$ref": "#/$defs/criterion"}},
        },
        "action": {
            "type": "object",
            "required": ["key", "title"],
            "additionalProperties": False,
            "properties": {
                "key": _slug,
                "title": {"type": "string", "minLength": 1, "maxLength": 300},
                "role": {"enum": list(ROLES)},
                "due_in_school_days": {"type": "integer", "minimum": 0},
                "when": {"$ref": "#/$defs/criterion"},
                "logged_as": {"enum": list(LOGGED_AS)},
            },
        },
        "criterion": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "propertyNames": {"enum": list(CRITERION_KINDS)},
            "properties": {
                "all": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/criterion"}},
                "any": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/criterion"}},
                "not": {"$ref": "#/$defs/criterion"},
                "attendance": {
                    "type": "object",
                    "additionalProperties": False,
                    "minProperties": 1,
                    "properties": {**_bounds, "window": _window, "min_possible": {"type": "integer", "minimum": 0}},
                },
                "count": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["measure", "at_least"],
                    "properties": {
                        "measure": {"enum": list(COUNT_MEASURES)},
                        "at_least": {"type": "integer", "minimum": 1},
                        "below": {"type": "integer", "minimum": 1},
                        "window": _window,
                    },
                },
                "flag": _slug,
                "held_for": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["weeks", "criterion"],
                    "properties": {
                        "weeks": {"type": "integer", "minimum": 1, "maximum": 52},
                        "criterion": {"$ref": "#/$defs/criterion"},
                    },
                },
                "at_stage_for": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["weeks"],
                    "properties": {
                        "weeks": {"type": "integer", "minimum": 1},
                        "without_improvement": {"type": "boolean"},
                        "margin": {"type": "number", "minimum": 0},
                    },
                },
                "no_contact": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["school_days"],
                    "properties": {"school_days": {"type": "integer", "minimum": 1}},
                },
                "bottom_percent": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
                "manual": {"const": True},
            },
        },
    },
}

DEFAULT_MIN_POSSIBLE = 20
DEFAULT_DESCENT = {"sustain_weeks": 4, "margin": 1.0}


@dataclass(frozen=True)
class Problem:
    where: str  # as the checks write it: "stage 'stage-2', field criteria.any[0].attendance.at_most"
    message: str
    line: int | None = None  # in the ladder's text, when it is known (`problems_located`)

    @property
    def place(self) -> str:
        """Where, as someone editing the file reads it: lines and list items counted from 1.

        "line 14, stage 'stage-2', criteria › any › item 1 › attendance › at_most"
        """
        found = _WHERE.match(self.where)
        place = self.where
        if found:
            steps = [f"item {int(index) + 1}" if index else name for name, index in _STEP.findall(found["path"] or "")]
            place = ", ".join([found["head"], " › ".join(steps)]) if steps else found["head"]
        return ", ".join(part for part in (f"line {self.line}" if self.line else "", place) if part)

    def __str__(self) -> str:
        return f"{self.place}: {self.message}"


#: A check's `where`: the stage (or the ladder), then the field's path, "(stage)" or "(top level)" for none.
_WHERE = re.compile(r"^(?P<head>stage (?:'[^']*'|#\d+)|ladder), field (?:\((?:stage|top level)\)|(?P<path>.*))$")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def problems_located(problems: Iterable[Problem], text: str) -> list[Problem]:
    """The problems with the line of the ladder's text each one is about (the nearest line written, for a
    field that is missing). The text must be the YAML (or JSON) the problems were found in."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return list(problems)
    return [Problem(p.where, p.message, _line_of(root, p.where)) for p in problems]


def _line_of(root: yaml.Node | None, where: str) -> int | None:
    found = _WHERE.match(where) or re.match(r"^(?P<head>stage (?:'[^']*'|#\d+))$", where)
    if root is None or not found:
        return None
    node, line = root, None
    head = found["head"]
    if head.startswith("stage"):
        stages = _child(root, "stages")
        if not isinstance(stages, yaml.SequenceNode):
            return None
        wanted = head.removeprefix("stage ")
        for number, item in enumerate(stages.value, start=1):
            key = _child(item, "key")
            if (wanted.startswith("#") and wanted == f"#{number}") or (
                isinstance(key, yaml.ScalarNode) and repr(key.value) == wanted
            ):
                node, line = item, item.start_mark.line + 1
                break
        else:
            return None
    for name, index in _STEP.findall(found.groupdict().get("path") or ""):
        if index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            node = node.value[int(index)]
            line = node.start_mark.line + 1
        elif name and isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == name), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        else:
            break
    return line


def _child(node: yaml.Node, name: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if k.value == name), None)
    return None


@dataclass
class LadderCheck:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    resolved: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def _where_from_path(document: dict[str, Any], path: Iterable[Any]) -> str:
    parts = list(path)
    if len(parts) >= 2 and parts[0] == "stages" and isinstance(parts[1], int):
        stages = document.get("stages") or []
        key = stages[parts[1]].get("key", f"#{parts[1] + 1}") if parts[1] < len(stages) else f"#{parts[1] + 1}"
        rest = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in parts[2:]).replace(".[", "[")
        return f"stage {key!r}, field {rest or '(stage)'}"
    return "ladder, field " + (".".join(str(p) for p in parts) or "(top level)")


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For "not valid under any of the given schemas", the most specific cause."""
    causes = [c for c in (error.context or []) if c.validator != "type"]
    # Only type errors: the one inside the value (below: '94%') says more than "should be text" about it.
    causes = causes or [c for c in (error.context or []) if len(c.absolute_path) > len(error.absolute_path)]
    if not causes:
        return error
    return _deepest(max(causes, key=lambda c: len(list(c.absolute_path))))


#: What a value of each JSON type is, in words.
_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "array": "a list",
    "object": "a set of fields",
    "boolean": "true or false",
}


def _explain(error: jsonschema.ValidationError) -> str:
    """The schema's complaint in words an attendance lead can act on."""
    value, field = error.instance, _field_name(error)
    if "propertyNames" in error.schema_path:
        return f"unknown criterion {value!r}{did_you_mean(value, CRITERION_KINDS)}; known: {', '.join(CRITERION_KINDS)}"
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties", "unknown field(s)")
    if error.schema == _percent and error.validator in ("minimum", "maximum"):
        return f"{value} is not a percentage: attendance thresholds run from 0 to 100"
    if error.validator == "enum":
        choices = [str(c) for c in error.validator_value]
        return (
            f"{value!r} is not a {field} this knows{did_you_mean(value, choices)}; choose one of: {', '.join(choices)}"
        )
    if error.validator == "pattern" and field == "colour":
        return f"{value!r} is not a colour: write # and six hex digits, like #8bc34a"
    if error.validator == "pattern" and error.validator_value == _slug["pattern"]:
        return f"{value!r} is not a short name: use lower-case letters, digits, - and _, like listen-and-understand"
    if error.validator == "required":
        return error.message.replace("is a required property", "is missing: add it")
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, str) else error.validator_value[0]
        if wanted in ("number", "integer") and isinstance(value, str) and value.strip().endswith("%"):
            return f"write {value.strip().rstrip('%').strip()} without the % sign: it is a percentage already"
        if value is None:  # "name:" with nothing after it
            return f"is empty: write {_TYPE_WORDS.get(wanted, wanted)} after the colon"
        return f"should be {_TYPE_WORDS.get(wanted, wanted)}, not {value!r}"
    if error.validator == "minimum":
        return f"should be at least {error.validator_value}, not {value!r}"
    if error.validator == "exclusiveMinimum":
        return f"should be more than {error.validator_value}, not {value!r}"
    if error.validator == "maximum":
        return f"should be at most {error.validator_value}, not {value!r}"
    if error.validator == "exclusiveMaximum":
        return f"should be less than {error.validator_value}, not {value!r}"
    if error.validator == "maxLength":
        return f"is {len(value)} characters long; the most allowed is {error.validator_value}"
    return error.message


def _field_name(error: jsonschema.ValidationError) -> str:
    """The name of the field the error is about, in words ("measure", "role"), or "value"."""
    path = list(error.absolute_path)
    names = [p for p in path if isinstance(p, str)]
    if not names:
        return "value"
    name = FIELD_WORDS.get(names[-1], names[-1].replace("_", " "))
    return name[:-1] if isinstance(path[-1], int) and name.endswith("s") else name  # roles[0]: a role


#: Field names that read badly with their underscores replaced.
FIELD_WORDS = {"logged_as": "kind of logged action"}


def _schema_errors(document: Any) -> list[Problem]:
    if not isinstance(document, dict):
        return [Problem("ladder", "the file must be a mapping with key, name and stages")]
    validator = jsonschema.Draft202012Validator(SCHEMA)
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        cause = _deepest(error)
        problems.append(Problem(_where_from_path(document, cause.absolute_path), _explain(cause)))
    return problems


def _walk(criterion: dict[str, Any] | None, path: str) -> Iterable[tuple[str, str, Any]]:
    """Yield (path, kind, body) for every criterion in the tree."""
    if not criterion:
        return
    ((kind, body),) = criterion.items()
    yield path, kind, body
    if kind in ("all", "any"):
        for i, child in enumerate(body):
            yield from _walk(child, f"{path}.{kind}[{i}]")
    elif kind == "not":
        yield from _walk(body, f"{path}.not")
    elif kind == "held_for":
        yield from _walk(body["criterion"], f"{path}.held_for.criterion")


def _band(criterion: dict[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
    """The stage's year-to-date attendance band, if its criteria are a band (alone or as one `any` branch)."""
    if not criterion:
        return None
    candidates: list[tuple[str, dict[str, Any]]] = []
    if "attendance" in criterion:
        candidates.append(("criteria.attendance", criterion["attendance"]))
    elif "any" in criterion:
        for i, child in enumerate(criterion["any"]):
            if "attendance" in child:
                candidates.append((f"criteria.any[{i}].attendance", child["attendance"]))
    bands = [(p, b) for p, b in candidates if b.get("window", "year") == "year"]
    return bands[0] if len(bands) == 1 else None


def _lower(band: dict[str, Any]) -> tuple[Decimal, bool]:
    """(edge, inclusive) of a band's lower edge; -inf when open."""
    if "at_least" in band:
        return Decimal(str(band["at_least"])), True
    if "above" in band:
        return Decimal(str(band["above"])), False
    return Decimal("-Infinity"), True


def _upper(band: dict[str, Any]) -> tuple[Decimal, bool]:
    if "at_most" in band:
        return Decimal(str(band["at_most"])), True
    if "below" in band:
        return Decimal(str(band["below"])), False
    return Decimal("Infinity"), True


def _shown(edge: Decimal) -> Decimal:
    """An edge as people read it: an open edge is the end of the 0-100% scale."""
    return min(max(edge, Decimal(0)), Decimal(100))


def _set_path(document: dict[str, Any], stage_index: int, path: str, band: dict[str, Any]) -> None:
    node: Any = document["stages"][stage_index]
    for part in path.replace("]", "").replace("[", ".").split("."):
        node = node[int(part)] if part.isdigit() else node[part]
    node.clear()
    node.update(band)


def _resolve_bands(document: dict[str, Any], check: LadderCheck) -> None:
    """Report gaps and overlaps between falling stages' attendance bands, and close gaps.

    A gap goes to the more concerning stage (the band below it is widened up to
    the next band's lower edge); an overlap is left as written, because the
    highest stage whose criteria hold wins, which is the more concerning one.
    Bands nested inside a band open below ("below 90%", then "below 80%") are
    how ladders are usually written, and are not reported.
    """
    stages = document["stages"]
    banded = []
    for index, stage in enumerate(stages):
        if stage.get("track", "falling") != "falling" or stage.get("entry") == "manual":
            continue
        found = _band(stage.get("criteria"))
        if found:
            banded.append((index, found[0], found[1]))
    # More concerning stages come later; their bands should sit lower.
    for (hi_index, hi_path, hi_band), (lo_index, lo_path, lo_band) in zip(banded, banded[1:], strict=False):
        upper_edge, upper_inclusive = _upper(lo_band)
        lower_edge, lower_inclusive = _lower(hi_band)
        hi_key, lo_key = stages[hi_index]["key"], stages[lo_index]["key"]
        if upper_edge < lower_edge or (upper_edge == lower_edge and not upper_inclusive and not lower_inclusive):
            check.warnings.append(
                Problem(
                    f"stage {lo_key!r}, field {lo_path}",
                    f"gap between {lo_key!r} (up to {_shown(upper_edge)}%) and {hi_key!r} (from {_shown(lower_edge)}%): "
                    f"attendance in the gap is placed at the more concerning stage {lo_key!r} "
                    f"(its band now runs {'below' if lower_inclusive else 'up to'} {lower_edge}%)",
                )
            )
            widened = {k: v for k, v in lo_band.items() if k not in ("at_most", "below")}
            widened["below" if lower_inclusive else "at_most"] = float(lower_edge)
            _set_path(document, lo_index, lo_path, widened)
        elif (upper_edge > lower_edge or (upper_edge == lower_edge and upper_inclusive and lower_inclusive)) and (
            lower_edge.is_finite()  # "below 90" above "below 80" is nesting, the usual way to write bands: no warning
        ):
            check.warnings.append(
                Problem(
                    f"stage {lo_key!r}, field {lo_path}",
                    f"overlap between {lo_key!r} (up to {_shown(upper_edge)}%) and {hi_key!r} (from {_shown(lower_edge)}%): "
                    f"attendance in the overlap is placed at the more concerning stage {lo_key!r}",
                )
            )
        # The less concerning stage can never win if its band lies inside the more concerning one.
        if "attendance" in (stages[hi_index].get("criteria") or {}) and (
            _lower(lo_band)[0] <= _lower(hi_band)[0] and _upper(lo_band)[0] >= _upper(hi_band)[0]
        ):
            check.errors.append(
                Problem(
                    f"stage {hi_key!r}, field {hi_path}",
                    f"this band lies inside {lo_key!r}'s band, and the more concerning stage wins, "
                    f"so {hi_key!r} could never be reached",
                )
            )


def _no_such_letter(letter: str, known: Collection[str], titles: Mapping[str, str]) -> str:
    """ "there is no letter template 'x'", with the one meant if its key or its name is close, and every key
    with its name (staff know a letter by its name: "Letter of concern about attendance" is second_warning)."""
    by_name = {re.sub(r"[^a-z0-9]+", "_", titles[key].lower()).strip("_"): key for key in known if key in titles}
    close = difflib.get_close_matches(letter, [*known, *by_name], n=1, cutoff=0.5)
    meant = by_name.get(close[0], close[0]) if close else None
    listed = ", ".join(f"{key} ({titles[key]})" if key in titles else key for key in sorted(known))
    return (
        f"there is no letter template {letter!r}"
        + (f" (did you mean {meant!r}?)" if meant else "")
        + f"; known: {listed}"
    )


def _luminance(colour: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def text_contrasts(colour: str) -> tuple[float, float]:
    """The contrast ratios (WCAG) of near-black (#212529, the page's text) and of white text on a #rrggbb colour."""
    luminance = _luminance(colour)
    return (luminance + 0.05) / (_luminance("#212529") + 0.05), 1.05 / (luminance + 0.05)


def validate_ladder(document: Any, *, letter_keys: Iterable[str] | Mapping[str, str] | None = None) -> LadderCheck:
    """Check a ladder document. Never raises on bad input: every problem is in the result.

    `letter_keys`: the letter templates that exist for the school (a mapping gives each key's name, to
    name in the message); None skips that check.
    """
    check = LadderCheck(errors=_schema_errors(document))
    if check.errors:
        return check
    doc = copy.deepcopy(document)
    doc.setdefault("min_possible_sessions", DEFAULT_MIN_POSSIBLE)
    doc["descent"] = {**DEFAULT_DESCENT, **(doc.get("descent") or {})}
    stages = doc["stages"]
    keys = [s["key"] for s in stages]
    falling = {s["key"] for s in stages if s.get("track", "falling") == "falling"}
    letter_titles = dict(letter_keys) if isinstance(letter_keys, Mapping) else {}
    known_letters = set(letter_keys) if letter_keys is not None else None

    for index, stage in enumerate(stages):
        key = stage["key"]
        where = f"stage {key!r}, field "
        stage.setdefault("track", "falling")
        stage.setdefault("entry", "automatic")
        stage.setdefault("label", key[:20])
        stage.setdefault("colour", "#6c757d")
        if re.fullmatch(r"#[0-9a-fA-F]{6}", str(stage["colour"])) and max(text_contrasts(stage["colour"])) < 4.5:
            check.warnings.append(
                Problem(
                    where + "colour",
                    f"neither dark nor white text reads well on {stage['colour']} (at best"
                    f" {max(text_contrasts(stage['colour'])):.2f}:1, and 4.5:1 is needed): the stage's name is"
                    " written on it, so choose a shade darker or lighter",
                )
            )
        if keys.count(key) > 1 and keys.index(key) == index:
            check.errors.append(Problem(where + "key", f"the key {key!r} is used by {keys.count(key)} stages"))
        if index == 0:
            if stage["track"] != "falling":
                check.errors.append(Problem(where + "track", "the first (base) stage must be on the falling track"))
            if stage.get("criteria"):
                check.warnings.append(
                    Problem(where + "criteria", "the base stage is where every pupil starts; its criteria are ignored")
                )
        elif stage["track"] == "falling" and stage["entry"] != "manual" and not stage.get("criteria"):
            check.errors.append(
                Problem(
                    where + "criteria",
                    f"an {stage['entry']} stage needs criteria, or it can never be reached (use entry: manual "
                    "for a stage only a person moves pupils to)",
                )
            )
        if stage["track"] == "improving":
            mirrors = stage.get("mirrors")
            if not mirrors:
                check.errors.append(
                    Problem(where + "mirrors", "an improving stage must name the falling stage it mirrors")
                )
            elif mirrors == key or (mirrors in keys and mirrors not in falling):
                check.errors.append(
                    Problem(
                        where + "mirrors",
                        f"{mirrors!r} is not a falling stage: mirrors must point at a falling stage (a chain of "
                        "improving stages would be a cycle)",
                    )
                )
            elif mirrors not in keys:
                check.errors.append(Problem(where + "mirrors", f"there is no stage {mirrors!r}"))
        elif stage.get("mirrors"):
            check.errors.append(Problem(where + "mirrors", "only improving stages mirror another stage"))
        whens = [(action.get("when"), f"actions[{i}].when") for i, action in enumerate(stage.get("actions", []))]
        whens += [(when, f"letters[{i}].when") for i, (_, when) in enumerate(stage_letters(stage))]
        every = [(stage.get("criteria"), "criteria"), *whens]
        for path, kind, body in (found for criterion, at in every for found in _walk(criterion, at)):
            if kind == "attendance":
                lower, upper = _lower(body)[0], _upper(body)[0]
                if lower > upper:
                    check.errors.append(
                        Problem(where + f"{path}", f"the band is empty: its lower edge {lower}% is above {upper}%")
                    )
            if kind == "held_for":
                inner = next(iter(body["criterion"]))
                if inner not in ("attendance", "count"):
                    check.errors.append(
                        Problem(where + f"{path}.held_for.criterion", "held_for takes an attendance or count criterion")
                    )
            if kind == "manual" and stage["entry"] != "manual":
                check.errors.append(
                    Problem(where + "entry", "a stage with the manual criterion must have entry: manual")
                )
        if stage["entry"] != "automatic" and any(when for when, _ in whens):
            first = next(at for when, at in whens if when)
            check.warnings.append(
                Problem(
                    where + first.partition("[")[0],
                    "a when is checked only when the night moves a pupil onto a stage; pupils come onto this"
                    f" {stage['entry']} stage by a person's decision, which gives every action's task"
                    + (" and queues every letter" if first.startswith("letters") else ""),
                )
            )
        for when, at in whens:
            for path, kind, _body in _walk(when, at):
                if kind in ACTION_WHEN_REFUSED:
                    check.errors.append(
                        Problem(
                            where + path,
                            f"{'a letter' if at.startswith('letters') else 'an action'}'s when is about the pupil's"
                            f" register, flags and contacts: {kind} is about the ladder itself, so it cannot say"
                            f" whether the pupil needs the {'letter' if at.startswith('letters') else 'task'}",
                        )
                    )
        action_keys = [a["key"] for a in stage.get("actions", [])]
        for dup in sorted({k for k in action_keys if action_keys.count(k) > 1}):
            check.errors.append(Problem(where + "actions", f"the action key {dup!r} is used twice"))
        if known_letters is not None:
            for i, (letter, _) in enumerate(stage_letters(stage)):
                if letter not in known_letters:
                    check.errors.append(
                        Problem(where + f"letters[{i}]", _no_such_letter(letter, known_letters, letter_titles))
                    )
    if not check.errors:
        _resolve_bands(doc, check)
    if not check.errors:
        check.resolved = doc
    return check


#: YAML's own words for the usual slips, and what they mean to someone editing a ladder.
_YAML_SLIPS = (
    (
        "expected <block end>",
        "a line's indentation does not line up with the lines above it (this line or the one before)",
    ),
    (
        "mapping values are not allowed here",
        "a colon where YAML did not expect one: put quotes round text with a colon in it",
    ),
    ("found character '\\t'", "a tab: indent with spaces only"),
    ("could not find expected ':'", "a line without 'field: value', or a quote left open above it"),
    ("found undefined alias", "a * at the start of a value: put quotes round it"),
    ("found duplicate anchor", "an & at the start of a value: put quotes round it"),
)


def yaml_problem(exc: Exception) -> str:
    """Why a ladder file is not YAML, where, in words: "line 12, column 5: a line's indentation ..."."""
    line, column, meaning = yaml_slip(exc)
    return f"line {line}, column {column}: {meaning}" if line else meaning


def yaml_slip(exc: Exception) -> tuple[int | None, int | None, str]:
    """(line, column, what is wrong in words) for a YAML error; line and column count from 1."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    opened = getattr(exc, "context_mark", None)
    if opened is not None and mark is not None and "flow" in (getattr(exc, "context", "") or ""):
        # A { or [ left open: YAML notices on a later line; the line to fix is where it opened.
        bracket = "{" if "mapping" in exc.context else "["
        closing = "}" if bracket == "{" else "]"
        return (
            opened.line + 1,
            opened.column + 1,
            f"the {bracket} on this line is not closed with {closing} (YAML noticed on line {mark.line + 1}:"
            f" {problem})",
        )
    for words, meaning in _YAML_SLIPS:
        if problem.startswith(words):
            if words == "mapping values are not allowed here" and _field_name_colon(mark):
                meaning = _MISALIGNED_FIELD
            problem = f"{meaning} (YAML says: {problem})"
            break
    return (mark.line + 1, mark.column + 1, problem) if mark else (None, None, problem)


_MISALIGNED_FIELD = (
    "this field's indentation does not line up with the fields above it: fields of the same stage, action"
    " or criterion start in the same column"
)


def _field_name_colon(mark: Any) -> bool:
    """Is the colon YAML did not expect the one after a field's name at the start of its line?

    Then the line is a field indented differently from its neighbours (YAML read it as part of the value
    above), not text with a colon in it.
    """
    buffer = getattr(mark, "buffer", None)
    if mark is None or not buffer:
        return False
    line = buffer.split("\n")[mark.line]
    field = re.match(r"\s*(?:- )?[A-Za-z_][\w-]*:", line)
    return field is not None and field.end() == mark.column + 1
