"""Celery tasks of a scan's life: thin shells that fetch by id and call one service function.

Messages carry scan and consent ids only (JSON), never patient data. Every task is idempotent:
running it twice, or again after a worker died mid-way, changes nothing the second time. Each
task is named explicitly: the names are what the broker, the routes and the beat schedule know,
and ``scans.queue`` publishes by name. Nothing imports this module (the worker finds it).
"""

from __future__ import annotations

import logging

from celery import shared_task

from scans import processing, resumable, sending, sweeper

log = logging.getLogger(__name__)


@shared_task(
    name="scans.tasks.process_scan", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def process_scan(scan_id: str) -> None:
    """Plan one scan's de-identification in chunks and hand them out (running one here)."""
    processing.process_scan(scan_id)


@shared_task(
    name="scans.tasks.process_chunk", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def process_chunk(chunk_id: str) -> None:
    """De-identify one slice range of a study (clean each image, verify, seal the outputs)."""
    processing.process_chunk(chunk_id)


@shared_task(name="scans.tasks.sweep_stuck_scans", ignore_result=True)
def sweep_stuck_scans() -> int:
    """Re-enqueue scans left waiting or half-done past the timeout (lost message, dead worker),
    and settle consents that expired, lost their message, or lost their sender."""
    sweeper.sweep_consents()
    resumable.discard_stale_uploads()
    return sweeper.sweep()


@shared_task(
    name="scans.tasks.send_consent", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def send_consent(consent_id: str) -> None:
    """Send one consented set of images to its endpoint, at most once."""
    sending.send_consent(consent_id)
