"""Accounts and one patient's case, logged the way the consent and sending code logs it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from accounts.models import Role, User
from audit.log import append
from scans.models import Scan, Status
from tests.support.accounts import make_user, with_totp
from tests.support.auditing import MARKER, PATIENT_EMAIL, logged_seqs  # noqa: F401

# Planted where an auditor must never look: if it shows up on a page or in an export, patient
# data leaked into the auditor area.


@pytest.fixture
def auditor(db) -> User:
    return with_totp(make_user("auditor@example.org", Role.AUDITOR))


@pytest.fixture
def auditor_client(client, auditor):
    client.force_login(auditor)
    return client


@pytest.fixture
def clinic_admin(db) -> User:
    return with_totp(make_user("admin@example.org", Role.CLINIC_ADMIN))


@pytest.fixture
def clinician(db) -> User:
    return with_totp(make_user("doctor@example.org", Role.CLINICIAN))


@pytest.fixture
def auditor_without_mfa(db) -> User:
    return make_user("new-auditor@example.org", Role.AUDITOR)


@dataclass(frozen=True)
class Case:
    patient: User
    scan: Scan
    consent: str
    answer: str
    other_scan: str
    case_seqs: list[int]


@pytest.fixture
def case(db) -> Case:
    """GIVEN a patient whose scan went from upload to answer, and another patient's scan."""
    patient = make_user(PATIENT_EMAIL)
    other = make_user("someone.else@example.org")
    scan = Scan.objects.create(owner=patient, status=Status.ANSWERED, error_message=MARKER)
    consent, answer, other_scan = uuid.uuid4().hex, str(uuid.uuid4()), str(uuid.uuid4())
    me, sid = patient.pseudonym, str(scan.id)
    on_scan = {"object_type": "scan", "object_id": sid}
    entries = [
        ("other", append("auth.sign_in", actor=me, object_type="user", object_id=me)),
        ("case", append("scan.uploaded", actor=me, **on_scan, details={"files": 2})),
        (
            "other",
            append(
                "scan.uploaded",
                actor=other.pseudonym,
                object_type="scan",
                object_id=other_scan,
                details={"files": 1},
            ),
        ),
        (
            "case",
            append(
                "scan.deidentified",
                actor="worker",
                **on_scan,
                details={"outcome": "clean", "images": 2},
            ),
        ),
        (
            "case",
            append(
                "consent.given",
                actor=me,
                object_type="consent",
                object_id=consent,
                details={"scan": sid, "patient": me},
            ),
        ),
        (
            "case",
            append(
                "scan.sent",
                actor="worker",
                **on_scan,
                details={"outcome": "ok", "consent": consent, "sha256": "ab" * 32},
            ),
        ),
        (
            "other",
            append(
                "scan.sent",
                actor="worker",
                object_type="scan",
                object_id=other_scan,
                details={"outcome": "http_error", "status": 502},
            ),
        ),
        (
            "case",
            append(
                "answer.received",
                actor="worker",
                object_type="answer",
                object_id=answer,
                details={"consent": consent},
            ),
        ),
        ("case", append("answer.viewed", actor=me, object_type="answer", object_id=answer)),
    ]
    return Case(
        patient=patient,
        scan=scan,
        consent=consent,
        answer=answer,
        other_scan=other_scan,
        case_seqs=[entry.seq for kind, entry in entries if kind == "case"],
    )
