"""Every write to letter templates and letters."""

from __future__ import annotations
