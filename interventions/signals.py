"""Hooks other apps answer, so that interventions never imports them.

`stage_entered` is sent inside the night's transaction when pupils enter
stages, once for all of a night's movers; receivers (the letters app) queue
each stage's letters and return how many they queued. `letter_keys_requested` asks which letter template keys a
school can use, for validating ladder files.
"""

from __future__ import annotations

from django.dispatch import Signal

stage_entered = Signal()  # kwargs: entries [(stage_change, letter_keys)], on, user
letter_keys_requested = Signal()  # kwargs: school; receivers return a set of keys
