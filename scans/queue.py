"""The only way work is handed to the workers: by task name, with ids only.

Tasks are named explicitly (``scans.tasks.process_scan`` ...), and the routes in settings send
each name to its queue. Publishing by name keeps every other module from importing the task
modules, which import the services, which would import this module back.
"""

from __future__ import annotations

import logging
import uuid

from celery import current_app

from scans import pipeline
from scans.models import Status

log = logging.getLogger(__name__)

PROCESS_SCAN = "scans.tasks.process_scan"
SEND_CONSENT = "scans.tasks.send_consent"


def publish_processing(scan_id: uuid.UUID | str) -> None:
    """Put one de-identification message on the broker; raises if the broker is unreachable."""
    current_app.send_task(PROCESS_SCAN, args=[str(scan_id)])


def enqueue_processing(scan_id: uuid.UUID) -> None:
    """Hand the scan to the de-identification queue, after the scan's rows are committed.

    If the broker is unreachable the scan stays ``uploaded`` and the sweeper retries later;
    the upload itself has already succeeded.
    """
    try:
        publish_processing(scan_id)
    except Exception:
        log.warning("scan %s: broker unreachable, left for the sweeper", scan_id, exc_info=True)
        return
    pipeline.transition(scan_id, Status.QUEUED, expected={Status.UPLOADED})


def enqueue_send(consent_id: str) -> None:
    """Hand the consent to the send queue (ids only). If the broker is down, the consent stays
    active; the sweeper redelivers it until it expires."""
    current_app.send_task(SEND_CONSENT, args=[consent_id])
