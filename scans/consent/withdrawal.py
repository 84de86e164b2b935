"""Withdrawing a consent before sending starts."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext

from accounts.models import User
from audit import log as audit
from audit.actions import AuditAction
from scans import pipeline
from scans.consent import states
from scans.consent.errors import WithdrawalRefused
from scans.models import Consent, ConsentState, Status


def withdraw(consent: Consent, user: User) -> None:
    """Withdraw a consent that has not started sending; raises WithdrawalRefused once it has."""
    with transaction.atomic():
        if not states.transition(consent.pk, ConsentState.WITHDRAWN):
            raise WithdrawalRefused(
                gettext(
                    "This consent can no longer be withdrawn: sending has started or it has ended."
                )
            )
        pipeline.transition(consent.scan_id, Status.READY_FOR_REVIEW, expected={Status.CONSENTED})
        audit.append(
            AuditAction.CONSENT_WITHDRAWN,
            actor=user.pseudonym,
            object_type="consent",
            object_id=str(consent.pk),
            details={"scan_id": str(consent.scan_id)},
        )
