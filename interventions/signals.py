"""Hooks other apps answer, so that interventions never imports them.

`stage_entered` is sent inside the night's transaction when pupils enter
stages, once for all of a night's movers; receivers (the letters app) queue
each stage's letters and return how many they queued. `letter_templates_requested` asks which letter
templates a school can use, by key and name: ladder files are checked against them, and pages name them.
`stage_letters_given` asks which letters stage changes have queued already, whatever became of them
(the night's catch-up asks only the rest's `when`). `action_corrected` is sent inside the transaction
that corrects a logged action (`services.action_correct`), so what follows from the entry follows it:
a letter's posting date, say. A receiver may refuse the correction by raising ValidationError naming a
field of the correction form ("occurred_on", "kind", "outcome", "notes"): nothing is then changed.
"""

from __future__ import annotations

from django.dispatch import Signal

stage_entered = Signal()  # kwargs: entries [(stage_change, letter_keys)], on, user
letter_templates_requested = Signal()  # kwargs: school; receivers return {key: name}
stage_letters_given = Signal()  # kwargs: changes; receivers return {(stage_change_id, letter_key)}
action_corrected = Signal()  # kwargs: action (as corrected), before (its ActionCorrection)
