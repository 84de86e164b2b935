"""Celery tasks: thin shells that fetch by id and call the pipeline's functions.

Messages carry scan ids only (JSON), never patient data. Every task is idempotent: running it
twice, or again after a worker died mid-way, changes nothing the second time.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from scans import processing, retention, sending, sweeper
from scans.audit.log import sign_head_if_grown
from scans.clinic import health

log = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def process_scan(scan_id: str) -> None:
    """De-identify one scan (claim it, clean every image, verify, seal the outputs)."""
    processing.process_scan(scan_id)


@shared_task(ignore_result=True)
def sweep_stuck_scans() -> int:
    """Re-enqueue scans left waiting or half-done past the timeout (lost message, dead worker),
    and settle consents that expired, lost their message, or lost their sender."""
    sweeper.sweep_consents()
    return sweeper.sweep()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_consent(consent_id: str) -> None:
    """Send one consented set of images to its endpoint, at most once."""
    sending.send_consent(consent_id)


@shared_task(ignore_result=True)
def sign_audit_tree_head() -> None:
    """Anchor the audit log: a signed tree head every few minutes makes a cut tail detectable."""
    sign_head_if_grown()


@shared_task(ignore_result=True)
def apply_retention() -> int:
    """Destroy what the retention policy says has outlived its time (idempotent)."""
    report = retention.apply(timezone.now(), actor="beat")
    return sum(len(done) for done in report.targets.values())


@shared_task(ignore_result=True)
def verify_audit_chain() -> bool:
    """Verify the whole audit log and store the verdict for the clinic's health page."""
    return health.verify_audit_chain().ok


@shared_task(bind=True, ignore_result=True)
def record_heartbeat(self, queue: str) -> None:
    """Beat sends one to each queue; the worker that takes it proves the queue is consumed."""
    health.record_heartbeat(queue, self.request.hostname or "")
