"""Celery tasks: thin wrappers over the letters services."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="letters.print_batch_render", acks_late=True)
def print_batch_render(batch_id: int) -> dict[str, object]:
    """Render a print batch in the background (the service is safe to run twice)."""
    from .services import print_batch_render as render

    batch = render(batch_id=batch_id)
    logger.info("print batch %s: %s, %s letters, %s pages", batch.pk, batch.status, batch.total, batch.pages)
    return {"batch": batch.pk, "status": batch.status, "letters": batch.total, "pages": batch.pages}
