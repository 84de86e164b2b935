"""The end of consents and requests that were never used: expired, and nothing of them kept."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from audit import log as audit
from audit.actions import AuditAction
from scans import pipeline
from scans.consent import states
from scans.models import Consent, ConsentRequest, ConsentState, Status
from vault import get_vault


def expire_consent(consent_id: uuid.UUID | str) -> bool:
    """Mark an active consent past its expiry as expired; True if this call did it."""
    now = timezone.now()
    with transaction.atomic():
        consent = Consent.objects.filter(pk=consent_id).only("scan_id").first()
        if consent is None:
            return False
        if not states.transition(consent_id, ConsentState.EXPIRED, where={"expires_at__lte": now}):
            return False
        pipeline.transition(consent.scan_id, Status.READY_FOR_REVIEW, expected={Status.CONSENTED})
        audit.append(
            AuditAction.CONSENT_EXPIRED,
            actor="system",
            object_type="consent",
            object_id=str(consent_id),
            details={"scan_id": str(consent.scan_id)},
        )
    return True


def expire_stale_consents() -> int:
    """For the sweeper: expire every unused consent past its time; returns how many."""
    stale = Consent.objects.filter(
        state=ConsentState.ACTIVE, expires_at__lte=timezone.now()
    ).values_list("pk", flat=True)
    return sum(expire_consent(consent_id) for consent_id in list(stale))


def discard_expired_requests() -> int:
    """For the sweeper: shred the prepared images and question of requests that expired
    without consent. Nothing of them may be sent any more, so nothing of them is kept."""
    vault = get_vault()
    stale = ConsentRequest.objects.filter(accepted_at__isnull=True, expires_at__lte=timezone.now())
    count = 0
    for consent_request in stale:
        # Delete first, and only if still unaccepted: an accept racing with the sweeper then
        # finds no request to accept, and never a request whose objects are gone.
        if not ConsentRequest.objects.filter(
            pk=consent_request.pk, accepted_at__isnull=True
        ).delete()[0]:
            continue
        for item in consent_request.prepared:
            vault.shred(item["object_id"])
        vault.shred(consent_request.question_object)
        count += 1
    return count
