"""Celery tasks for pupils: thin wrappers over the services (see `pupils.uploads`)."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task
def import_upload_task(token: str, school_id: int, user_id: int | None) -> str:
    """Import a file uploaded on the office page (`uploads.upload_import`). Returns how it ended.

    Not retried: an import that stops part-way has rolled back, and the page
    asks for the file again. A finished upload run twice does nothing.
    """
    from django.contrib.auth import get_user_model

    from .models import School
    from .uploads import upload_import

    school = School.objects.get(pk=school_id)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    progress = upload_import(token=token, school=school, user=user)
    state = progress.state if progress else "forgotten"
    logger.info("Upload %s for school %s: %s (batch %s)", token, school.urn, state, progress and progress.batch_id)
    return state
