"""Audit log helpers for tests: a marker no entry may ever show, and the entries logged."""

from __future__ import annotations

from audit.models import AuditEntry

MARKER = "ZZ-PATIENT-SECRET-7f3c"


PATIENT_EMAIL = "jane.patient@example.org"


def logged_seqs() -> list[int]:
    """Every entry in the log now, oldest first. Account code logs too (roles, tokens, sign-ins),
    so tests compare with the log rather than with the entries they wrote themselves."""
    return list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
