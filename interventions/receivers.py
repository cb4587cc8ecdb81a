"""Answers the pupils app's hooks: a demo school gets the shipped ladders and a first night; a pupil's last N
explained closes the follow-up asked for it."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from pupils.models import StaffMembership
from pupils.signals import demo_loaded, marks_explained, staff_role_removed

from . import nightly, services
from .models import Task

logger = logging.getLogger(__name__)

#: The ladder a demo school runs: the national framework, as for any new school.
DEMO_LADDER = "dfe"


@receiver(demo_loaded, dispatch_uid="interventions_demo_ladders")
def demo_ladders(sender: Any, *, schools: list[Any], today: date, **kwargs: Any) -> None:
    """Load every shipped ladder (so a school can compare and copy), activate the default, run last night."""
    for school in schools:
        for name in services.SHIPPED:
            document = services.ladder_file_read(name)
            services.ladder_load(school=school, document=document, activate=(name == DEMO_LADDER))
        nightly.nightly_run(school=school, as_of=today - timedelta(days=1))


@receiver(marks_explained, dispatch_uid="interventions_follow_ups_done")
def follow_ups_done(sender: Any, *, pupil: Any, user: Any, words: str, **kwargs: Any) -> str | None:
    """The office recorded a reason: if it was the pupil's last N, the follow-up it asked for is done."""
    try:
        with transaction.atomic():  # a savepoint: whatever goes wrong here, the reason itself is kept
            done = services.follow_ups_close(
                school=pupil.school,
                tasks=Task.objects.filter(pupil=pupil),
                user=user,
                outcome=f"Reason recorded: {words}",
            )
    except Exception:
        logger.exception("Could not close the follow-ups of pupil %s: the night will", pupil.pk)
        return None
    if not done:
        return None
    titles = " and ".join(f"“{task.title}”" for task in done)
    task_is = "task" if len(done) == 1 else "tasks"
    return f"No N is left for {pupil.forename}, so the follow-up {task_is} {titles} {'is' if len(done) == 1 else 'are'} done."


@receiver(staff_role_removed, dispatch_uid="interventions_tasks_back_to_the_role")
def tasks_back_to_the_role(sender: Any, *, membership: Any, **kwargs: Any) -> int:
    """A member of staff loses a role: their open tasks in it go back to everyone in that role there. If it was
    their last role at the school, every open task of theirs there does (a next step given to them by name too),
    so none is left with someone who can no longer see it."""
    theirs = Task.objects.filter(school=membership.school, assigned_to=membership.user, status=Task.Status.OPEN)
    others = StaffMembership.objects.filter(user=membership.user, school=membership.school).exclude(pk=membership.pk)
    if others.exists():
        theirs = theirs.filter(role=membership.role)
    return theirs.update(assigned_to=None)
