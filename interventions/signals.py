"""Hooks other apps answer, so that interventions never imports them.

`stage_entered` is sent inside the night's transaction when a pupil enters a
stage; receivers (the letters app) queue the stage's letters and return how
many they queued. `letter_keys_requested` asks which letter template keys a
school can use, for validating ladder files.
"""

from __future__ import annotations

from django.dispatch import Signal

stage_entered = Signal()  # kwargs: stage_change, letter_keys, on, user
letter_keys_requested = Signal()  # kwargs: school; receivers return a set of keys
