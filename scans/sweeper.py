"""Finding scans that a lost message or a dead worker left behind, and handing them back.

A scan in ``uploaded`` never reached the broker (it was down); one in ``queued`` for longer
than ``SWEEP_STUCK_AFTER_SECONDS`` lost its message; one in ``deidentifying`` that long whose
planner's lease has run out lost its worker before its chunks were planned.
Once planned, a scan is watched chunk by chunk: a chunk whose worker's lease ran out goes back
to the fair share to be run again; a chunk queued that long without being claimed lost its
message and is published again; chunks waiting their turn are handed out when it comes.
Re-enqueueing is safe because processing is idempotent. After ``SWEEP_MAX_ATTEMPTS`` a scan (or
a chunk that keeps losing its worker) is marked failed instead of being retried forever.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from scans import fairshare, pipeline, processing, sending
from scans.consent.expiry import discard_expired_requests, expire_stale_consents
from scans.models import ChunkState, Consent, ConsentState, Scan, ScanChunk, Status
from scans.queue import enqueue_send, publish_chunk, publish_processing

log = logging.getLogger(__name__)

GAVE_UP = gettext_noop("Processing failed repeatedly. Please delete this scan and try again.")


def stuck_scans() -> list[Scan]:
    """Scans to hand back to a planner. One query of OR-ed conditions, not a UNION: SQLite
    refuses a UNION of ordered querysets (the model orders by creation time)."""
    now = timezone.now()
    stuck_after = timedelta(seconds=settings.SWEEP_STUCK_AFTER_SECONDS)
    never_queued = Q(status=Status.UPLOADED, status_changed_at__lt=now - timedelta(seconds=30))
    stalled = Q(
        status__in=[Status.QUEUED, Status.DEIDENTIFYING], status_changed_at__lt=now - stuck_after
    ) & ~Q(
        # A planner renews its lease: a scan is not stuck while its lease is alive (re-enqueueing
        # it would count attempts up to SWEEP_MAX_ATTEMPTS and fail a scan being worked on).
        status=Status.DEIDENTIFYING,
        lease_expires_at__gte=now,
    )
    planned = Exists(ScanChunk.objects.filter(scan_id=OuterRef("pk")))
    return list(Scan.objects.filter(never_queued | stalled).exclude(planned).order_by("created_at"))


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
    """Re-enqueue every stuck scan and chunk; returns how many were handed back."""
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
    handed_back += sweep_chunks()
    return handed_back


def sweep_chunks() -> int:
    """Chunks whose worker died or whose message was lost go back to work; then whatever the
    fair share now allows is handed out. Returns how many chunks were handed back."""
    now = timezone.now()
    handed_back = 0
    dead = ScanChunk.objects.filter(
        state=ChunkState.RUNNING, lease_expires_at__lt=now, scan__status=Status.DEIDENTIFYING
    )
    for chunk in dead:
        if chunk.attempts + 1 >= settings.SWEEP_MAX_ATTEMPTS:
            processing.fail(chunk.scan_id, GAVE_UP)
            continue
        # Back to waiting its turn: the fair share hands it out again (first, by its number).
        handed_back += ScanChunk.objects.filter(
            pk=chunk.pk, state=ChunkState.RUNNING, lease_token=chunk.lease_token
        ).update(
            state=ChunkState.PENDING,
            lease_token=None,
            lease_expires_at=None,
            queued_at=None,
            attempts=F("attempts") + 1,
        )
        log.info("sweeper: chunk %s of scan %s lost its worker", chunk.pk, chunk.scan_id)
    stuck_after = timedelta(seconds=settings.SWEEP_STUCK_AFTER_SECONDS)
    lost = ScanChunk.objects.filter(
        state=ChunkState.QUEUED,
        queued_at__lt=now - stuck_after,
        scan__status=Status.DEIDENTIFYING,
    )
    for chunk in lost:
        try:
            publish_chunk(chunk.pk)
        except Exception:
            log.warning("sweeper: broker unreachable, will retry", exc_info=True)
            return handed_back
        ScanChunk.objects.filter(pk=chunk.pk, state=ChunkState.QUEUED).update(queued_at=now)
        handed_back += 1
    fairshare.dispatch()
    return handed_back
