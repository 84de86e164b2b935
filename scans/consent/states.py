"""A consent's state machine: the one place where a consent changes state.

Like ``scans.pipeline`` for scans: every change is one conditional UPDATE (``WHERE state IN the
allowed sources``, plus whatever else the caller must still hold: its claim token, an unexpired
consent ...), so two runs racing for the same consent cannot both win, and each change writes
``state_changed_at``, which the sweeper reads to tell a live send from a dead one. The content
fields of a consent are never written after it is given (``Consent.save`` refuses).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from scans.models import Consent, ConsentState, Status

log = logging.getLogger(__name__)

# A scan may be consented from these statuses (answered / send_failed: another try).
CONSENTABLE = frozenset({Status.READY_FOR_REVIEW, Status.ANSWERED, Status.SEND_FAILED})

# Which states a consent may move to from each state. Everything but active and sending is final.
ALLOWED: dict[str, frozenset[str]] = {
    ConsentState.ACTIVE: frozenset(
        {ConsentState.SENDING, ConsentState.WITHDRAWN, ConsentState.EXPIRED}
    ),
    ConsentState.SENDING: frozenset(
        {
            ConsentState.SENT,
            ConsentState.SEND_FAILED,
            ConsentState.REFUSED,
            ConsentState.OUTCOME_UNKNOWN,
        }
    ),
    ConsentState.WITHDRAWN: frozenset(),
    ConsentState.EXPIRED: frozenset(),
    ConsentState.SENT: frozenset(),
    ConsentState.SEND_FAILED: frozenset(),
    ConsentState.REFUSED: frozenset(),
    ConsentState.OUTCOME_UNKNOWN: frozenset(),
}


class IllegalConsentTransition(Exception):
    """Raised when a caller asks for a change the state table does not allow."""


def sources_of(target: str) -> frozenset[str]:
    return frozenset(src for src, targets in ALLOWED.items() if target in targets)


def transition(
    consent_id: uuid.UUID | str,
    target: str,
    *,
    expected: Iterable[str] | None = None,
    holder: uuid.UUID | None = None,
    where: dict[str, Any] | None = None,
    **fields: Any,
) -> bool:
    """Move a consent to ``target`` if it is in an allowed (and expected) state.

    ``holder``: only if the consent's claim token is this one (the run that claimed it);
    ``where``: further conditions the row must meet (e.g. ``{"expires_at__gt": now}``);
    ``fields`` are written in the same UPDATE. Returns True if this call made the change.
    """
    if target not in ALLOWED:
        raise IllegalConsentTransition(f"unknown consent state {target!r}")
    allowed_from = sources_of(target)
    if expected is not None:
        expected = frozenset(expected)
        illegal = expected - allowed_from
        if illegal:
            raise IllegalConsentTransition(f"{sorted(illegal)} -> {target} is not allowed")
        allowed_from = expected
    query = Consent.objects.filter(pk=consent_id, state__in=allowed_from)
    if holder is not None:
        query = query.filter(claim_token=holder)
    if where:
        query = query.filter(**where)
    changed = query.update(state=target, state_changed_at=timezone.now(), **fields)
    if changed:
        log.info("consent %s -> %s", consent_id, target)
    return bool(changed)
