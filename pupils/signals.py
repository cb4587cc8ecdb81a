"""Signals the pupils app sends."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent by `manage.py load_demo` once the demo data is committed, with
#: `schools` (a list of School) and `today` (the date the register runs up to,
#: exclusive). Receivers add what their app needs on top (a ladder, a first
#: nightly run). They run in the loading process; one that fails is reported
#: and does not undo the data.
demo_loaded = Signal()

#: Sent by `services.mark_explain` in its transaction, once a pupil's N marks on a day have their
#: reason: with `pupil`, `date`, `user`, `marks` (those changed) and `words` (what became what, as
#: the office is told). A receiver that does something more because of it (closes a follow-up
#: task, say) answers with a sentence saying so, which the office is shown too; otherwise None.
marks_explained = Signal()

#: Sent by `services.staff_remove` in its transaction, before a member of staff's role at a school is
#: taken away: with `membership`. A receiver holding work given to that person in that role hands it
#: back (the role's shared list) and answers with how many pieces; otherwise None.
staff_role_removed = Signal()
