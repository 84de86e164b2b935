"""The clinic's periodic tasks: retention, audit verification for the health page, heartbeats.

Their names predate this module and are kept: the beat schedule and any message already on the
broker call them by those names.
"""

from __future__ import annotations

from celery import Task, shared_task
from django.utils import timezone

from clinic import health, retention


@shared_task(name="scans.tasks.apply_retention", ignore_result=True)
def apply_retention() -> int:
    """Destroy what the retention policy says has outlived its time (idempotent)."""
    report = retention.apply(timezone.now(), actor="beat")
    return sum(len(done) for done in report.targets.values())


@shared_task(name="scans.tasks.verify_audit_chain", ignore_result=True)
def verify_audit_chain() -> bool:
    """Verify the whole audit log and store the verdict for the clinic's health page."""
    return health.verify_audit_chain().ok


@shared_task(name="scans.tasks.record_heartbeat", bind=True, ignore_result=True)
def record_heartbeat(self: Task, queue: str) -> None:
    """Beat sends one to each queue; the worker that takes it proves the queue is consumed."""
    health.record_heartbeat(queue, self.request.hostname or "")
