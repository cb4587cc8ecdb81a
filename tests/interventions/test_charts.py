"""The dashboard's weekly chart: where its labels go."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from interventions.charts import weekly_chart


@pytest.mark.parametrize("weeks", [2, 9, 16, 43, 44])
def test_the_latest_week_is_labelled_and_ends_inside_the_chart(weeks):
    labels = [f"w{i}" for i in range(weeks)]
    chart = weekly_chart(labels, [("School", [Decimal(95)] * weeks, "school")], width=640)
    x, text, anchor = chart.x_labels[-1]
    assert (text, anchor, x) == (labels[-1], "end", 640 - 8)  # right-aligned on the plot's right edge
    assert all(a == "middle" for _, _, a in chart.x_labels[:-1])
    xs = [x for x, _, _ in chart.x_labels]
    gap = 596 / weeks * max(1, weeks // 8) * 0.99  # about a label's step apart: never crowded together
    assert all(b - a >= gap for a, b in itertools.pairwise(xs))
