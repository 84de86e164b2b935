"""Audit receipts a patient can download for a consent and for its send's outcome."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from audit import log as audit
from audit.actions import AuditAction
from audit.models import AuditEntry
from scans.models import Consent

RECEIPT_ACTIONS = {"consent": AuditAction.CONSENT_GIVEN, "send": AuditAction.SEND_OUTCOME}


def receipt(consent: Consent, kind: str) -> dict[str, Any]:
    """The audit receipt for the consent ("consent") or its send's outcome ("send")."""
    action = RECEIPT_ACTIONS.get(kind)
    if action is None:
        raise Http404("No such receipt.")
    entry = (
        AuditEntry.objects.filter(action=action, object_type="consent", object_id=str(consent.pk))
        .order_by("seq")
        .first()
    )
    if entry is None:
        raise Http404("There is no record of this yet.")
    return audit.receipt_for(entry)
