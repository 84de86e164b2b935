"""The scan's status machine: the one place where a scan changes status.

Every change is a conditional UPDATE (``WHERE status IN allowed sources``), so two workers racing
for the same scan cannot both win, and an illegal jump is refused instead of silently applied.
Each change is recorded in ``ScanTransition`` with its time.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from scans.models import Scan, ScanTransition, Status

log = logging.getLogger(__name__)

# Which statuses a scan may move to from each status. ``deleted`` is reachable from anywhere
# except ``sending``: a request that may already be on the wire must finish first.
ALLOWED: dict[str, frozenset[str]] = {
    # uploaded -> deidentifying: a worker may pick the task up before the sender records queued.
    Status.UPLOADED: frozenset(
        {Status.QUEUED, Status.DEIDENTIFYING, Status.FAILED, Status.DELETED}
    ),
    Status.QUEUED: frozenset({Status.DEIDENTIFYING, Status.FAILED, Status.DELETED}),
    Status.DEIDENTIFYING: frozenset(
        {
            Status.READY_FOR_REVIEW,
            Status.QUARANTINED,
            Status.NO_IMAGES,
            Status.FAILED,
            Status.QUEUED,
            Status.DELETED,
        }
    ),
    Status.READY_FOR_REVIEW: frozenset({Status.CONSENTED, Status.DELETED}),
    # quarantined -> ready_for_review: a clinician blacked out what held an image of a study the
    # clinic handed over, and the verifier, run again alone, released it (clinic.pacs.redaction).
    Status.QUARANTINED: frozenset({Status.READY_FOR_REVIEW, Status.DELETED}),
    Status.NO_IMAGES: frozenset({Status.DELETED}),
    Status.FAILED: frozenset({Status.QUEUED, Status.DELETED}),
    Status.CONSENTED: frozenset({Status.SENDING, Status.READY_FOR_REVIEW, Status.DELETED}),
    Status.SENDING: frozenset({Status.ANSWERED, Status.SEND_FAILED}),
    Status.ANSWERED: frozenset({Status.CONSENTED, Status.DELETED}),
    Status.SEND_FAILED: frozenset({Status.CONSENTED, Status.DELETED}),
    Status.DELETED: frozenset(),
}

# Statuses in which a worker is (or should be) busy; the sweeper watches these.
WORKING = frozenset({Status.UPLOADED, Status.QUEUED, Status.DEIDENTIFYING})


class IllegalTransition(Exception):
    """Raised when a caller asks for a change the status machine does not allow."""


def sources_of(target: str) -> frozenset[str]:
    return frozenset(src for src, targets in ALLOWED.items() if target in targets)


def transition(
    scan_id: uuid.UUID | str,
    target: str,
    *,
    expected: Iterable[str] | None = None,
    **fields: object,
) -> bool:
    """Move a scan to ``target`` if it is in one of the allowed (and expected) statuses.

    Returns True if this call made the change, False if the scan was not in a status from which
    the change is allowed (another worker got there first, or the scan was deleted). ``fields``
    are written in the same UPDATE (progress, error message).
    """
    if target not in ALLOWED:
        raise IllegalTransition(f"unknown status {target!r}")
    allowed_from = sources_of(target)
    if expected is not None:
        expected = frozenset(expected)
        illegal = expected - allowed_from
        if illegal:
            raise IllegalTransition(f"{sorted(illegal)} -> {target} is not allowed")
        allowed_from = expected
    now = timezone.now()
    with transaction.atomic():
        current = (
            Scan.objects.select_for_update()
            .filter(pk=scan_id, status__in=allowed_from)
            .values_list("status", flat=True)
            .first()
        )
        if current is None:
            return False
        Scan.objects.filter(pk=scan_id).update(status=target, status_changed_at=now, **fields)
        ScanTransition.objects.create(scan_id=scan_id, from_status=current, to_status=target)
    log.info("scan %s: %s -> %s", scan_id, current, target)
    return True
