"""Whether a scan is busy: a worker or a send holds its objects, or its patient is mid-consent.

Retention, erasure and deletion leave a busy scan alone (or refuse) until it is not, because
shredding an object a worker is reading, or one that may be on the wire, would break a promise
made to the patient. One rule, asked three ways.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q

from scans import pipeline
from scans.models import Consent, ConsentRequest, ConsentState, Scan, Status

# Statuses in which a worker holds the scan's objects; touching them would break its run.
IN_PROCESSING = frozenset(pipeline.WORKING)
_HELD = IN_PROCESSING | {Status.SENDING}


def _consent_in_flight(now: datetime) -> Q:
    """A consent being sent, or one still waiting to be sent."""
    return Q(state=ConsentState.SENDING) | Q(state=ConsentState.ACTIVE, expires_at__gt=now)


def busy_scan_ids(now: datetime) -> set[uuid.UUID]:
    """Every scan that is busy at ``now`` (see the module docstring)."""
    busy = set(Scan.objects.filter(status__in=_HELD).values_list("pk", flat=True))
    busy |= set(Consent.objects.filter(_consent_in_flight(now)).values_list("scan_id", flat=True))
    busy |= set(
        ConsentRequest.objects.filter(accepted_at__isnull=True, expires_at__gt=now).values_list(
            "scan_id", flat=True
        )
    )
    return busy


def is_busy(scan: Scan, now: datetime) -> bool:
    """The same rule for one scan (read with its row locked by the caller)."""
    if scan.status in _HELD:
        return True
    return (
        Consent.objects.filter(scan=scan).filter(_consent_in_flight(now)).exists()
        or ConsentRequest.objects.filter(
            scan=scan, accepted_at__isnull=True, expires_at__gt=now
        ).exists()
    )


def is_sending(scans: Iterable[Scan]) -> bool:
    """Whether any of ``scans`` is being sent right now: its images may be on the wire."""
    scans = list(scans)
    return any(scan.status == Status.SENDING for scan in scans) or Consent.objects.filter(
        scan__in=scans, state=ConsentState.SENDING
    ).exists()
