"""Signals the pupils app sends."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent by `manage.py load_demo` once the demo data is committed, with
#: `schools` (a list of School) and `today` (the date the register runs up to,
#: exclusive). Receivers add what their app needs on top (a ladder, a first
#: nightly run). They run in the loading process; one that fails is reported
#: and does not undo the data.
demo_loaded = Signal()
