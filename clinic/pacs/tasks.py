"""The inbox's periodic task (the worker finds it; beat sends it by name)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from clinic.pacs.expiry import shred_expired_studies


@shared_task(name="clinic.pacs.tasks.expire_inbox", ignore_result=True)
def expire_inbox() -> int:
    """Crypto-shred studies that have been in the clinic's inbox too long (idempotent)."""
    return shred_expired_studies(timezone.now())
