"""A ladder in plain English, for the ladder picture. Plain Python: no Django, no database.

`describe_criterion` turns a criterion tree (see docs/ladder-format.md) into one
sentence staff can check against their policy: "attendance below 90% year to date,
or 3+ lates this half-term". `ladder_picture` lays a ladder document out as the
falling track with the improving track beneath, each improving stage under the
falling stage it mirrors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .ladder_format import LOGGED_AS as LOGGED_AS_WORDS
from .ladder_format import text_contrasts
from .rules import MEASURE_LABELS, RUN_MEASURES, flag_words, stage_letters

ROLE_NAMES = {
    "attendance_lead": "attendance lead",
    "class_teacher": "class teacher",
    "senior_leader": "senior leader",
    "dsl": "DSL",
    "office": "office",
    "sendco": "SENDCo",
    "support_staff": "support staff",
    "la_officer": "LA officer",
    "external": "outside agency",
    "all_staff": "all staff",
}

ENTRY_NAMES = {
    "automatic": "Automatic",
    "approval": "Needs approval",
    "manual": "Manual only",
}

WINDOWS = {"year": "year to date", "term": "this term", "half_term": "this half-term"}


def number(value: Any) -> str:
    """90 -> "90", 92.90 -> "92.9": no trailing zeros."""
    return format(Decimal(str(value)).normalize(), "f")


def describe_window(window: Any) -> str:
    if window is None:
        return WINDOWS["year"]
    if isinstance(window, dict):
        weeks = int(window["weeks"])
        return "this school week" if weeks == 1 else f"over the last {weeks} school weeks"
    return WINDOWS.get(window, str(window))


def _band(body: Mapping[str, Any]) -> str:
    lower = next(((k, body[k]) for k in ("at_least", "above") if k in body), None)
    upper = next(((k, body[k]) for k in ("below", "at_most") if k in body), None)
    if lower and upper and lower[0] == "at_least" and upper[0] == "at_most":
        return f"between {number(lower[1])}% and {number(upper[1])}%"
    parts = []
    if lower:
        parts.append(f"{number(lower[1])}% or above" if lower[0] == "at_least" else f"above {number(lower[1])}%")
    if upper:
        parts.append(f"below {number(upper[1])}%" if upper[0] == "below" else f"{number(upper[1])}% or below")
    return " and ".join(parts) or "any value"


def _attendance(body: Mapping[str, Any]) -> str:
    text = f"attendance {_band(body)} {describe_window(body.get('window'))}"
    if "min_possible" in body:
        text += f" (once {body['min_possible']} sessions are possible)"
    return text


def _count(body: Mapping[str, Any]) -> str:
    one, many = MEASURE_LABELS.get(body["measure"], (body["measure"].replace("_", " "),) * 2)
    at_least = int(body["at_least"])
    if "below" in body:
        top = int(body["below"]) - 1
        amount = f"{at_least}" if top <= at_least else f"{at_least} to {top}"
        noun = one if top == 1 else many
    else:
        amount, noun = f"{at_least}+", (one if at_least == 1 else many)
    if body["measure"] in RUN_MEASURES:
        return f"{amount} {noun} (the current run)"
    return f"{amount} {noun} {describe_window(body.get('window'))}"


def describe_criterion(criterion: Any, flag_names: Mapping[str, str] | None = None, *, _nested: bool = False) -> str:
    """One criterion tree as an English phrase. None (the base stage) is "".

    Compound criteria inside compound criteria are bracketed, so "a, or (b and c)" reads unambiguously.
    """
    if not criterion:
        return ""
    names = flag_names or {}
    ((kind, body),) = criterion.items()
    if kind in ("all", "any"):
        parts = [describe_criterion(c, names, _nested=True) for c in body]
        if len(parts) == 1:
            return parts[0]
        text = (", and " if kind == "all" else ", or ").join(parts)
        return f"({text})" if _nested else text
    if kind == "not":
        return f"not {describe_criterion(body, names, _nested=True)}"
    if kind == "attendance":
        return _attendance(body)
    if kind == "count":
        return _count(body)
    if kind == "flag":
        return flag_words(body, names)
    if kind == "held_for":
        weeks = int(body["weeks"])
        inner = describe_criterion(body["criterion"], names, _nested=True)
        return f"{inner} at the end of each of the last {weeks} school weeks"
    if kind == "at_stage_for":
        text = f"{body['weeks']}+ weeks at this stage"
        if body.get("without_improvement"):
            margin = number(body.get("margin", 1))
            text += f" without attendance rising {margin} point{'' if margin == '1' else 's'}"
        return text
    if kind == "no_contact":
        return f"absent {body['school_days']} school days in a row with no contact with the family logged"
    if kind == "bottom_percent":
        return f"in the school's bottom {number(body)}% for attendance this year"
    if kind == "manual":
        return "only when a person moves the pupil here"
    return f"{kind}: {body}"


def text_colour(background: str) -> str:
    """Dark or white text, whichever reads better on this #rrggbb background (WCAG relative luminance)."""
    try:
        dark, white = text_contrasts(background)
    except (ValueError, IndexError):
        return "#fff"
    return "#212529" if dark > white else "#fff"


#: Words that stay in capitals when a key is turned into words.
ACRONYMS = {
    "la": "LA",
    "pa": "PA",
    "sa": "SA",
    "fsm": "FSM",
    "sen": "SEN",
    "ehcp": "EHCP",
    "dsl": "DSL",
    "camhs": "CAMHS",
}


def humanise(key: str) -> str:
    """`la_referral_notice` -> "LA referral notice"."""
    words = [ACRONYMS.get(w, w) for w in key.replace("-", "_").split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


@dataclass
class PictureAction:
    title: str
    role: str
    due_in_school_days: int | None
    #: The action's `when`, in words ("" when every pupil entering the stage gets it).
    when: str = ""
    #: The action's `logged_as`, in words ("a conversation with the pupil"; "" when it has none).
    logged_as: str = ""


@dataclass
class PictureStage:
    key: str
    label: str
    name: str
    colour: str
    text_colour: str
    track: str
    entry: str
    entry_name: str
    criteria: str
    description: str
    roles: list[str]
    actions: list[PictureAction]
    letters: list[str]
    review_every_weeks: int | None
    monitoring: str
    count: int | None
    column: int  # 1-based grid column: its own place on the falling track, or its mirror's
    row: int = 1
    mirrors_key: str | None = None
    mirrors: PictureStage | None = None
    step: int = 0  # position among the falling stages, 1-based (0 for improving stages)


@dataclass
class Picture:
    falling: list[PictureStage]
    improving: list[PictureStage]
    columns: int
    rows: int
    notes: list[str] = field(default_factory=list)

    @property
    def stages(self) -> list[PictureStage]:
        return [*self.falling, *self.improving]


def _role_name(role: str) -> str:
    return ROLE_NAMES.get(role, humanise(role))


def _action_role(action: Mapping[str, Any], task_role: Callable[[Mapping[str, Any]], str] | None) -> str:
    """Whose the action is, in words: "class teacher"; or, when its task goes to someone else because
    the role named does not log actions here (`task_role`), "attendance lead, with the LA officer"."""
    named = action.get("role", "attendance_lead")
    owner = task_role(action) if task_role is not None else named
    return _role_name(owner) if owner == named else f"{_role_name(owner)}, with the {_role_name(named)}"


def ladder_picture(
    document: Mapping[str, Any],
    counts: Mapping[str, int] | None = None,
    flag_names: Mapping[str, str] | None = None,
    letter_names: Mapping[str, str] | None = None,
    task_role: Callable[[Mapping[str, Any]], str] | None = None,
) -> Picture:
    """Lay a ladder document out for drawing. `counts`: pupils at each stage key (None: not placed yet)."""
    falling: list[PictureStage] = []
    improving: list[PictureStage] = []
    by_key: dict[str, PictureStage] = {}
    for item in document.get("stages") or []:
        colour = item.get("colour") or "#6c757d"
        track = item.get("track") or "falling"
        stage = PictureStage(
            key=item["key"],
            label=item.get("label") or item["key"][:20],
            name=item.get("name", item["key"]),
            colour=colour,
            text_colour=text_colour(colour),
            track=track,
            entry=item.get("entry") or "automatic",
            entry_name=ENTRY_NAMES.get(item.get("entry") or "automatic", "Automatic"),
            criteria=describe_criterion(item.get("criteria"), flag_names),
            description=(item.get("description") or "").strip(),
            roles=[ROLE_NAMES.get(r, humanise(r)) for r in item.get("roles") or []],
            actions=[
                PictureAction(
                    title=a.get("title", a.get("key", "")),
                    role=_action_role(a, task_role),
                    due_in_school_days=a.get("due_in_school_days"),
                    when=describe_criterion(a["when"], flag_names) if a.get("when") else "",
                    logged_as=LOGGED_AS_WORDS.get(a.get("logged_as", ""), ""),
                )
                for a in item.get("actions") or []
            ],
            letters=[
                ((letter_names or {}).get(k) or humanise(k))
                + (f" (only if: {describe_criterion(when, flag_names)})" if when else "")
                for k, when in stage_letters(item)
            ],
            review_every_weeks=item.get("review_every_weeks"),
            monitoring=item.get("monitoring") or "",
            count=None if counts is None else counts.get(item["key"], 0),
            column=0,
        )
        by_key[stage.key] = stage
        if track == "improving":
            stage.mirrors_key = item.get("mirrors")  # resolved below, once every falling stage is known
            improving.append(stage)
        else:
            falling.append(stage)
            stage.step = stage.column = len(falling)
    rows_used: dict[int, int] = {}
    for stage in improving:
        mirrored = by_key.get(stage.mirrors_key or "")
        stage.mirrors = mirrored
        stage.column = mirrored.column if mirrored else 1
        rows_used[stage.column] = rows_used.get(stage.column, 1) + 1
        stage.row = rows_used[stage.column]
    return Picture(
        falling=falling,
        improving=improving,
        columns=max(len(falling), 1),
        rows=max(rows_used.values(), default=1),
    )
