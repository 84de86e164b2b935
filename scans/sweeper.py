"""Finding scans that a lost message or a dead worker left behind, and handing them back.

A scan in ``uploaded`` never reached the broker (it was down); one in ``queued`` for longer
than ``SWEEP_STUCK_AFTER_SECONDS`` lost its message; one in ``deidentifying`` that long whose
worker's lease has run out lost its worker.
Re-enqueueing is safe because processing is idempotent. After ``SWEEP_MAX_ATTEMPTS`` a scan is
marked failed instead of being retried forever.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from scans import pipeline, sending
from scans.consent.expiry import discard_expired_requests, expire_stale_consents
from scans.models import Consent, ConsentState, Scan, Status
from scans.queue import enqueue_send, publish_processing

log = logging.getLogger(__name__)

GAVE_UP = "Processing failed repeatedly. Please delete this scan and try again."


def stuck_scans() -> list[Scan]:
    now = timezone.now()
    stuck_after = timedelta(seconds=settings.SWEEP_STUCK_AFTER_SECONDS)
    never_queued = Scan.objects.filter(
        status=Status.UPLOADED, status_changed_at__lt=now - timedelta(seconds=30)
    )
    stalled = Scan.objects.filter(
        status__in=[Status.QUEUED, Status.DEIDENTIFYING], status_changed_at__lt=now - stuck_after
    ).exclude(
        # A worker renews its lease per image: a big study may take longer than stuck_after
        # and is not stuck while its lease is alive (re-enqueueing it would count attempts up
        # to SWEEP_MAX_ATTEMPTS and mark a scan failed that a live worker is finishing).
        status=Status.DEIDENTIFYING,
        lease_expires_at__gte=now,
    )
    return list(never_queued.union(stalled))


def sweep_consents() -> dict[str, int]:
    """Consents whose time ran out, whose message was lost, or whose sender died mid-request.

    A consent still ``sending`` long after any live sender would have finished is settled as
    ``outcome_unknown``: a request may have left, so it is never sent again.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.SEND_STUCK_AFTER_SECONDS)
    settled = sum(
        sending.settle_unknown(stuck)
        for stuck in Consent.objects.filter(state=ConsentState.SENDING, state_changed_at__lt=cutoff)
    )
    return {
        "expired": expire_stale_consents(),
        "redelivered": redeliver_lost_consents(),
        "requests_discarded": discard_expired_requests(),
        "settled_unknown": settled,
    }


def redeliver_lost_consents(older_than_seconds: int = 120) -> int:
    """For the sweeper: re-enqueue active consents whose message may have been lost.

    Safe to repeat: the sender claims a consent with a conditional update, so a duplicate
    message finds nothing to do.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    lost = Consent.objects.filter(
        state=ConsentState.ACTIVE, given_at__lt=cutoff, expires_at__gt=timezone.now()
    ).values_list("pk", flat=True)
    count = 0
    for consent_id in list(lost):
        try:
            enqueue_send(str(consent_id))
        except Exception:
            log.warning("consent redelivery: broker unreachable, will retry", exc_info=True)
            break
        count += 1
    return count


def sweep() -> int:
    """Re-enqueue every stuck scan; returns how many were handed back."""
    handed_back = 0
    for scan in stuck_scans():
        if scan.attempts >= settings.SWEEP_MAX_ATTEMPTS:
            pipeline.transition(
                scan.pk,
                Status.FAILED,
                expected={scan.status},
                error_message=GAVE_UP,
            )
            continue
        try:
            publish_processing(scan.pk)
        except Exception:
            log.warning("sweeper: broker unreachable, will retry", exc_info=True)
            return handed_back
        # Touch the status time so the scan is not swept again before the new message runs.
        Scan.objects.filter(pk=scan.pk, status=scan.status).update(
            status_changed_at=timezone.now(), attempts=F("attempts") + 1
        )
        if scan.status == Status.UPLOADED:
            pipeline.transition(scan.pk, Status.QUEUED, expected={Status.UPLOADED})
        handed_back += 1
        log.info("sweeper: scan %s handed back (was %s)", scan.pk, scan.status)
    return handed_back
