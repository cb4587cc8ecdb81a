"""The dashboard's weekly chart: where its labels go."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from interventions.charts import LABEL_ROOM, weekly_chart


@pytest.mark.parametrize("weeks", [2, 9, 14, 16, 43, 44])
def test_the_latest_week_is_labelled_and_ends_inside_the_chart(weeks):
    labels = [f"w{i}" for i in range(weeks)]
    chart = weekly_chart(labels, [("School", [Decimal(95)] * weeks, "school")], width=640)
    x, text, anchor = chart.x_labels[-1]
    assert (text, anchor, x) == (labels[-1], "end", 640 - 8)  # right-aligned on the plot's right edge
    assert all(a == "middle" for _, _, a in chart.x_labels[:-1])
    xs = [x for x, _, _ in chart.x_labels]
    gap = min(596 / max(weeks - 1, 1) * max(1, weeks // 8), 596) * 0.99  # about a label's step apart
    assert all(b - a >= gap for a, b in itertools.pairwise(xs[:-1]))
    if len(xs) > 1:  # the right-aligned last label has room for the text before it
        assert xs[-1] - xs[-2] >= LABEL_ROOM
