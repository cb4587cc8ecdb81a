"""The dashboard's weekly chart: where its labels go."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from interventions.charts import LABEL_ROOM, LABEL_STEP, weekly_chart


@pytest.mark.parametrize("width", [640, 360])
@pytest.mark.parametrize("weeks", [2, 9, 14, 16, 43, 44])
def test_the_latest_week_is_labelled_and_ends_inside_the_chart(weeks, width):
    labels = [f"w{i}" for i in range(weeks)]
    chart = weekly_chart(labels, [("School", [Decimal(95)] * weeks, "school")], width=width)
    x, text, anchor = chart.x_labels[-1]
    assert (text, anchor, x) == (labels[-1], "end", width - 8)  # right-aligned on the plot's right edge
    assert all(a == "middle" for _, _, a in chart.x_labels[:-1])
    xs = [x for x, _, _ in chart.x_labels]
    assert all(b - a >= LABEL_STEP for a, b in itertools.pairwise(xs[:-1]))
    if len(xs) > 1:  # the right-aligned last label has room for the text before it
        assert xs[-1] - xs[-2] >= LABEL_ROOM


def test_a_phone_sized_chart_labels_fewer_weeks_than_a_wide_one():
    labels = [f"w{i}" for i in range(44)]
    wide, narrow = (weekly_chart(labels, [("School", [Decimal(95)] * 44, "s")], width=w) for w in (640, 360))
    assert len(narrow.x_labels) < len(wide.x_labels)
    assert len(narrow.x_labels) <= (360 - 44) // LABEL_STEP


@pytest.mark.parametrize("width", [640, 360])
def test_the_lowest_week_is_marked_with_its_value_and_week_where_the_axis_does_not_name_it(width):
    labels = [f"{day} Nov" for day in range(1, 45)]
    values = [Decimal(95)] * 44
    labelled = {text for _, text, _ in weekly_chart(labels, [("School", values, "s")], width=width).x_labels}
    dip = next(i for i, text in enumerate(labels) if text not in labelled and 0 < i < 40)
    values[dip] = Decimal("81.3")
    chart = weekly_chart(labels, [("School", values, "s"), ("PA", [Decimal(10)] * 44, "pa")], width=width)
    assert chart.lowest.text == f"lowest 81.3%, {labels[dip]}"
    points = dict(p.split(",") for p in chart.lines[0].points.split())
    (x,) = [x for x, y in points.items() if float(y) == max(float(y) for y in points.values())]
    assert (chart.lowest.x, chart.lowest.y) == (float(x), float(points[x]))
    assert labels[dip] not in {text for _, text, _ in chart.x_labels}  # the axis still skips it: the mark names it


def test_the_mark_keeps_inside_the_chart_and_off_the_axis():
    labels = [f"w{i}" for i in range(10)]
    first = weekly_chart(labels, [("School", [Decimal(80)] + [Decimal(95)] * 9, "s")])
    last = weekly_chart(labels, [("School", [Decimal(95)] * 9 + [Decimal(80)], "s")])
    middle = weekly_chart(labels, [("School", [Decimal(95)] * 4 + [Decimal(2)] + [Decimal(95)] * 5, "s")])
    assert (first.lowest.anchor, last.lowest.anchor, middle.lowest.anchor) == ("start", "end", "middle")
    assert first.lowest.text_y > first.lowest.y  # under the point...
    assert middle.lowest.text_y < middle.lowest.y  # ...unless that is the axis's labels


def test_no_mark_when_every_week_is_the_same_or_there_is_no_figure():
    labels = ["w0", "w1", "w2"]
    assert weekly_chart(labels, [("School", [Decimal(95)] * 3, "s")]).lowest is None
    assert weekly_chart(labels, [("School", [None, None, None], "s")]).lowest is None
    assert weekly_chart(labels, [("School", [None, Decimal(90), Decimal(95)], "s")]).lowest.text == "lowest 90.0%, w1"
