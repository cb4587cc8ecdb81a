"""Server-drawn SVG charts: no JavaScript, no CDN, readable in print. Plain Python."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Line:
    label: str
    points: str  # SVG polyline points
    css: str
    last: str  # the latest value, for the legend


@dataclass(frozen=True)
class Mark:
    """A point marked with words beside it."""

    x: float
    y: float
    text: str
    text_y: float
    anchor: str  # SVG text-anchor


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    lines: tuple[Line, ...]
    references: tuple[tuple[str, float, str], ...]  # (label, y, css)
    y_ticks: tuple[tuple[float, str], ...]
    x_labels: tuple[tuple[float, str, str], ...]  # (x, text, SVG text-anchor)
    note: str = ""  # a line under the chart: what it leaves out, and why
    lowest: Mark | None = None  # the first line's lowest week


#: Room an x-axis label ("23 Nov" at 10px) needs beside a right-aligned one, in chart units.
LABEL_ROOM = 60
#: Room between centred x-axis labels, in chart units: a narrower chart labels fewer weeks.
LABEL_STEP = 45


def weekly_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[Decimal | None], str]],
    references: Sequence[tuple[str, float, str]] = (),
    *,
    y_min: float = 0,
    y_max: float = 100,
    width: int = 640,
    height: int = 220,
) -> Chart:
    """Lines of weekly percentages on one 0-100 (or y_min-y_max) axis, with horizontal reference lines.

    The x axis labels as many weeks as fit, always the latest. The first
    line's lowest week is marked with its value and its own label, as the
    axis may not name it.
    """
    left, right, top, bottom = 36, 8, 8, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(labels) - 1, 1)

    def x(i: int) -> float:
        return round(left + plot_w * i / n, 1)

    def y(value: float) -> float:
        clamped = min(max(value, y_min), y_max)
        return round(top + plot_h * (1 - (clamped - y_min) / (y_max - y_min)), 1)

    lines = []
    for label, values, css in series:
        pts = " ".join(f"{x(i)},{y(float(v))}" for i, v in enumerate(values) if v is not None)
        latest = next((v for v in reversed(values) if v is not None), None)
        lines.append(Line(label, pts, css, f"{latest:.1f}%" if latest is not None else "n/a"))
    most = max(2, plot_w // LABEL_STEP)
    step = max(1, -(-len(labels) // most))
    shown = list(range(0, len(labels), step))
    last = len(labels) - 1
    if shown and shown[-1] != last:  # the latest week is always labelled...
        shown.append(last)
    # ...right-aligned, so it ends at the edge: the labels before it that it would overlap give way.
    while len(shown) > 1 and x(last) - x(shown[-2]) < LABEL_ROOM:
        del shown[-2]
    low, lowest = _lowest(series[0][1]) if series else None, None
    if low is not None:
        value = series[0][1][low]
        lowest = _marked(x(low), y(float(value)), value, labels[low], width=width, plot_bottom=height - bottom)
    return Chart(
        width=width,
        height=height,
        lines=tuple(lines),
        references=tuple((label, y(value), css) for label, value, css in references),
        y_ticks=tuple((y(v), f"{v:g}%") for v in _ticks(y_min, y_max)),
        # The last label ends at the plot's right edge rather than centring on it and being cut off.
        x_labels=tuple((x(i), labels[i], "end" if i == last and i > 0 else "middle") for i in shown),
        lowest=lowest,
    )


def _marked(x: float, y: float, value: Decimal, label: str, *, width: int, plot_bottom: float) -> Mark:
    """The lowest value's mark ("lowest 88.1%, 3 Nov"): under the point, or over it near the axis; inside the chart."""
    room = 2 * LABEL_ROOM  # about the width of the words at 10px
    anchor = "end" if x + room / 2 > width else "start" if x - room / 2 < 0 else "middle"
    text_y = y + 14 if y + 14 < plot_bottom else y - 8
    return Mark(x, y, f"lowest {value:.1f}%, {label}", text_y, anchor)


def _lowest(values: Sequence[Decimal | None]) -> int | None:
    """The index of the lowest value (the latest of equals), or None if there is none or all are equal."""
    known = [(v, i) for i, v in enumerate(values) if v is not None]
    if len({v for v, _ in known}) < 2:
        return None
    low = min(v for v, _ in known)
    return max(i for v, i in known if v == low)


def _ticks(low: float, high: float) -> list[float]:
    span = high - low
    step = 5 if span <= 30 else 10 if span <= 60 else 20
    first = low + (-low % step)
    return [first + i * step for i in range(int((high - first) // step) + 1)]
