"""The clinic admin's retention page: the policy, its audit entry, and what is due."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from clinic.retention import current_policy
from scans.models import Status
from tests.support.stored import stored_scan

pytestmark = pytest.mark.django_db


def audit(action: str) -> AuditEntry:
    return AuditEntry.objects.filter(action=action).order_by("-seq").first()


def test_the_retention_policy_is_changed_from_its_page_and_audited(admin_client, admin):
    response = admin_client.post("/clinic/retention/", {
        "originals_days": 3, "sanitized_days": 30, "answers_days": 180, "unconsented_days": 14,
    })

    assert response.status_code == 302
    policy = current_policy()
    assert (policy.originals_days, policy.answers_days) == (3, 180)
    entry = audit("retention.changed")
    assert entry.actor == admin.pseudonym
    assert entry.details["fields"] == ["answers_days", "originals_days"]


def test_the_retention_page_refuses_zero_days(admin_client):
    response = admin_client.post("/clinic/retention/", {
        "originals_days": 0, "sanitized_days": 30, "answers_days": 365, "unconsented_days": 14,
    })

    assert response.status_code == 200
    assert current_policy().originals_days == 7
    assert audit("retention.changed") is None


def test_the_retention_page_shows_what_is_due(admin_client, patient):
    stored_scan(patient, uploaded_days_ago=15, status=Status.FAILED)

    page = admin_client.get("/clinic/retention/").content.decode()

    assert '<td data-label="Rule">unconsented</td>' in page
    assert (
        '<td data-label="Scans or answers">1</td><td data-label="Encrypted objects">4</td>' in page
    )
