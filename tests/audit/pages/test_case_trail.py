"""The case trail, fed by the real code: one scan taken through the whole journey (upload,
de-identification, previews, consent request, consent, send to a fake provider, answer, receipts,
deletion) must show every entry of that journey and nothing of anybody else's."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.test import Client

from audit.actions import AuditAction
from audit.models import AuditEntry
from forwarding.models import Endpoint
from scans import sending
from scans.models import Answer, Scan
from tests.support.accounts import bearer, make_user
from tests.support.consent import (
    accept_request,
    create_request,
    endpoint_for,
    no_sleep,
    upload_and_process,
)
from tests.support.fakes import FakeProvider

pytestmark = pytest.mark.django_db

ROW = re.compile(r'<tr data-seq="(\d+)" data-action="([a-z_.]+)"(?: data-count="(\d+)")?>')

JOURNEY = [
    AuditAction.SCAN_UPLOADED,
    AuditAction.SCAN_DEIDENTIFIED,
    AuditAction.PREVIEW_VIEWED,  # three views of the study, shown as one row
    AuditAction.CONSENT_REQUESTED,
    AuditAction.CONSENT_GIVEN,
    AuditAction.SEND_ATTEMPT,
    AuditAction.SEND_OUTCOME,
    AuditAction.ANSWER_VIEWED,
    AuditAction.ANSWER_DELETED,
    AuditAction.SCAN_DELETED,
]


def shown(response) -> list[tuple[int, str, int]]:
    """(first seq, action, count) of each row of a trail page, in the order shown."""
    return [
        (int(seq), action, int(count or 1))
        for seq, action, count in ROW.findall(response.content.decode())
    ]


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider("openai") as fake:
        yield fake


def journey(patient_client: Client, patient, endpoint: Endpoint) -> Scan:
    """Upload to deletion through the real API, the real pipeline and a real (fake) provider."""
    scan = upload_and_process(patient_client, patient, count=2)
    image = scan.images.order_by("pk").first()
    for _ in range(3):
        response = patient_client.get(
            f"/api/v1/scans/{scan.id}/images/{image.id}/preview", headers=bearer(patient)
        )
        assert response.status_code == 200
    consent_id = accept_request(
        patient_client, patient, create_request(patient_client, patient, scan, endpoint)
    )
    sending.send_consent(consent_id, sleep=no_sleep)
    answer = Answer.objects.get(consent_id=consent_id)
    for kind in ("consent", "send"):
        response = patient_client.get(
            f"/api/v1/consents/{consent_id}/receipt", {"kind": kind}, headers=bearer(patient)
        )
        assert response.status_code == 200, response.content
    as_patient = bearer(patient)
    assert patient_client.get(f"/api/v1/answers/{answer.id}", headers=as_patient).status_code == 200
    deleted = patient_client.delete(f"/api/v1/answers/{answer.id}", headers=as_patient)
    assert deleted.status_code == 204
    assert patient_client.delete(f"/api/v1/scans/{scan.id}", headers=as_patient).status_code == 204
    return scan


@pytest.fixture
def journeys(blob_dir, provider) -> tuple[Scan, Scan]:
    """GIVEN two patients whose scans each went the whole way, from upload to deletion."""
    mine, theirs = make_user("pat@example.org"), make_user("someone.else@example.org")
    endpoint = endpoint_for(provider)
    return journey(Client(), mine, endpoint), journey(Client(), theirs, endpoint)


def test_the_trail_of_a_scan_follows_it_to_every_consent_send_answer_and_deletion(
    auditor_client, journeys
):
    scan, other = journeys
    response = auditor_client.get("/audit/trail/", {"id": str(scan.id)})
    rows = shown(response)
    assert [action for _, action, _ in rows] == [action.value for action in JOURNEY]
    counts = {action: count for _, action, count in rows}
    assert counts[AuditAction.PREVIEW_VIEWED] == 3
    # Nothing of the other patient's case, and every entry that names this scan.
    names_scan = AuditEntry.objects.filter(object_id=str(scan.id)) | AuditEntry.objects.filter(
        details__scan_id=str(scan.id)
    ) | AuditEntry.objects.filter(details__scan=str(scan.id))
    assert sum(count for *_, count in rows) == names_scan.count() == len(JOURNEY) + 2
    assert str(other.id) not in response.content.decode()


@pytest.mark.parametrize("start", ["consent", "answer", "request"])
def test_the_trail_from_any_id_of_the_case_is_the_same_whole_journey(
    auditor_client, journeys, start
):
    scan, _ = journeys
    from_scan = shown(auditor_client.get("/audit/trail/", {"id": str(scan.id)}))
    given = AuditEntry.objects.get(action=AuditAction.CONSENT_GIVEN, details__scan_id=str(scan.id))
    sent = AuditEntry.objects.get(action=AuditAction.SEND_OUTCOME, details__scan_id=str(scan.id))
    start_id = {
        "consent": given.object_id,
        "request": given.details["request_id"],
        "answer": sent.details["answer_id"],
    }[start]
    assert shown(auditor_client.get("/audit/trail/", {"id": start_id})) == from_scan


def test_the_trail_shows_details_as_labelled_fields_and_names_the_receipts(
    auditor_client, journeys
):
    scan, _ = journeys
    page = auditor_client.get("/audit/trail/", {"id": str(scan.id)}).content.decode()
    assert "<dt>Manifest SHA-256</dt>" in page
    assert "<dt>Consent request</dt>" in page
    assert "<dt>Outcome</dt><dd><span class=\"value\">sent</span></dd>" in page
    assert "Consent receipt" in page and "Send receipt" in page
    assert '{"' not in page  # no raw JSON
    assert "Time (UTC)" in page
