"""Celery tasks: thin shells that fetch by id and call the pipeline's functions.

Messages carry scan ids only (JSON), never patient data. Every task is idempotent: running it
twice, or again after a worker died mid-way, changes nothing the second time.
"""

from __future__ import annotations

import logging

from celery import shared_task

from scans import processing, sending, sweeper
from scans.audit.log import sign_head_if_grown

log = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def process_scan(scan_id: str) -> None:
    """De-identify one scan (claim it, clean every image, verify, seal the outputs)."""
    processing.process_scan(scan_id)


@shared_task(ignore_result=True)
def sweep_stuck_scans() -> int:
    """Re-enqueue scans left waiting or half-done past the timeout (lost message, dead worker)."""
    return sweeper.sweep()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_consent(consent_id: str) -> None:
    """Send one consented set of images to its endpoint, at most once."""
    sending.send_consent(consent_id)


@shared_task(ignore_result=True)
def sign_audit_tree_head() -> None:
    """Anchor the audit log: a signed tree head every few minutes makes a cut tail detectable."""
    sign_head_if_grown()
