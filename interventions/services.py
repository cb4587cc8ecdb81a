"""Every write to ladders, placements, proposals, tasks and logged actions."""

from __future__ import annotations
