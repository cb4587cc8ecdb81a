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
