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
PROCESS_CHUNK = "scans.tasks.process_chunk"
SEND_CONSENT = "scans.tasks.send_consent"
SIGN_TREE_HEAD = "scans.tasks.sign_audit_tree_head"


def publish_processing(scan_id: uuid.UUID | str) -> None:
    """Put one de-identification message on the broker; raises if the broker is unreachable."""
    current_app.send_task(PROCESS_SCAN, args=[str(scan_id)])


def publish_chunk(chunk_id: uuid.UUID | str) -> None:
    """Put one chunk of a study on the de-identification queue; raises if the broker is
    unreachable. Only ``scans.fairshare`` calls this: it decides whose chunk goes next."""
    current_app.send_task(PROCESS_CHUNK, args=[str(chunk_id)])


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


def enqueue_head_signing() -> None:
    """Ask a worker that holds the audit signing key to sign a tree head now (the message has
    no arguments). If the broker is down, beat's periodic signing anchors the entry a few
    minutes later, and the sender signs (and so checks the log) before it sends anything."""
    try:
        current_app.send_task(SIGN_TREE_HEAD)
    except Exception:
        log.warning("broker unreachable: the tree head is left to the periodic signing",
                    exc_info=True)
