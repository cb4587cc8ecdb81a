from __future__ import annotations

from django.contrib import admin  # noqa: F401
