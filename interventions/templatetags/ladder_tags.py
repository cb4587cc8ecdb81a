"""Small pieces every list row repeats, as Python rather than template includes (much cheaper per row)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html

from interventions import selectors
from interventions.forms import TREND_POINTS, TaskDoneForm
from interventions.ladder_words import text_colour
from pupils.statistics import hours_text

register = template.Library()


@register.simple_tag
def decline_rest_days() -> int:
    """How many school days a declined move rests (`selectors.DECLINE_RESTS_SCHOOL_DAYS`), for the pages that say so."""
    return selectors.DECLINE_RESTS_SCHOOL_DAYS


@register.simple_tag
def stage_chip(stage: Any) -> str:
    """A stage's coloured chip, with text that reads on its colour (anything with colour, name and label)."""
    return chip(stage.colour, stage.label, stage.name)


@register.simple_tag
def chip(colour: str, label: str, name: str = "") -> str:
    """A chip of this colour: dark or white text, whichever reads on it."""
    return format_html(
        '<span class="stage-chip" style="background: {}; color: {}" title="{}">{}</span>',
        colour,
        text_colour(colour),
        name or label,
        label,
    )


@register.simple_tag
def trend_key() -> str:
    """What the trend arrows mean, in words, for a key under a table."""
    return (
        "Trend: how attendance this year has moved over the last 4 school weeks, in percentage points: ▲ up, "
        f"▼ down, ▬ steady (moved less than {TREND_POINTS:g} of a point), – not enough data yet."
    )


@register.simple_tag
def trend(change: Decimal | None) -> str:
    """An arrow for year-to-date attendance over the last 4 school weeks."""
    # The arrow is hidden from screen readers, which read the words instead (an aria-label on a plain span
    # is ignored by most of them).
    if change is None:
        return format_html(
            '<span class="text-body-secondary" title="{0}"><span aria-hidden="true">–</span>'
            '<span class="visually-hidden">{0}</span></span>',
            "Not enough data yet",
        )
    points = f"{abs(change):.1f}"
    if change >= Decimal(str(TREND_POINTS)):
        return format_html(
            '<span class="trend-up" title="Up {0} points in 4 weeks"><span aria-hidden="true">▲ {0}</span>'
            '<span class="visually-hidden">Improving: up {0} points in 4 weeks</span></span>',
            points,
        )
    if change <= -Decimal(str(TREND_POINTS)):
        return format_html(
            '<span class="trend-down" title="Down {0} points in 4 weeks"><span aria-hidden="true">▼ {0}</span>'
            '<span class="visually-hidden">Declining: down {0} points in 4 weeks</span></span>',
            points,
        )
    return format_html(
        '<span class="text-body-secondary" title="{0}"><span aria-hidden="true">▬</span>'
        '<span class="visually-hidden">{0}</span></span>',
        "Steady",
    )


@register.filter
def may_be_done_by(task: Any, access: Any) -> bool:
    """Whether this person may mark this task done (`Access.may_do`): it shows the Done button."""
    return access.may_do(role=task.role, assigned_to_id=task.assigned_to_id)


@register.filter
def overdue_on(task: Any, day: Any) -> bool:
    """`Task.is_overdue_on`, for a template: {% if task|overdue_on:today %}."""
    return task.is_overdue_on(day)


@register.simple_tag
def task_outcome_max() -> int:
    """How long "how it went" may be when a task is marked done (`forms.TaskDoneForm`): the box's maxlength."""
    return TaskDoneForm.base_fields["outcome"].max_length


@register.filter
def may_be_reopened_by(task: Any, user: Any) -> bool:
    """Whether this person may take back marking this task done (`selectors.task_reopen_refusal`): the Undo button."""
    return not selectors.task_reopen_refusal(task=task, user=user)


@register.simple_tag
def tasks_waiting(access: Any) -> int:
    """How many of this person's open tasks are due today or overdue (for the office's and teachers' pages)."""
    return selectors.tasks_waiting_count(access, on=timezone.localdate())


@register.simple_tag
def tasks_coming_up(access: Any) -> int:
    """How many of this person's open tasks are due after today: "none due today" is not "nothing to do"."""
    return selectors.tasks_coming_up_count(access, on=timezone.localdate())


@register.filter
def hours(value: Decimal) -> str:
    """Hours of lost learning as the letters print them: 45.5, 9.75, 39."""
    return hours_text(value)
