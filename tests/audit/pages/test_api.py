"""The auditor API: events with the same filters as the pages, and the chain's verification."""

from __future__ import annotations

import pytest

from audit import merkle
from audit.log import sign_head
from tests.support.accounts import bearer
from tests.support.auditing import logged_seqs
from tests.support.tampering import tamper

pytestmark = pytest.mark.django_db


@pytest.fixture
def headers(auditor) -> dict[str, str]:
    return bearer(auditor)


def test_events_come_in_log_order_with_the_fields_their_leaf_hash_covers(client, headers, case):
    body = client.get("/api/v1/audit/events", headers=headers).json()
    assert body["count"] == len(logged_seqs())
    assert [item["seq"] for item in body["items"]] == logged_seqs()
    item = body["items"][1]
    leaf_hash = item.pop("leaf_hash")
    assert merkle.leaf_hash(merkle.canonical_json(item).encode()).hex() == leaf_hash


def test_events_can_be_paged_with_limit_and_offset(client, headers, case):
    body = client.get("/api/v1/audit/events", {"limit": 2, "offset": 3}, headers=headers).json()
    assert (body["count"], body["limit"], body["offset"]) == (len(logged_seqs()), 2, 3)
    assert [item["seq"] for item in body["items"]] == logged_seqs()[3:5]


def test_events_take_the_same_filters_as_the_pages(client, headers, case):
    query = {
        "action": "scan.",
        "object_id": str(case.scan.id),
        "actor": "worker",
        "since": "2000-01-01T00:00:00Z",
        "outcome": "ok",
    }
    body = client.get("/api/v1/audit/events", query, headers=headers).json()
    assert [item["action"] for item in body["items"]] == ["scan.sent"]
    assert body["items"][0]["details"]["consent"] == case.consent


def test_a_malformed_filter_is_a_400_with_a_detail(client, headers, case):
    response = client.get("/api/v1/audit/events", {"until": "next week"}, headers=headers)
    assert response.status_code == 400
    assert "until" in response.json()["detail"]
    response = client.get("/api/v1/audit/events", {"limit": 5000}, headers=headers)
    assert response.status_code == 400


def test_verify_reports_ok_and_the_latest_signed_head(client, headers, case):
    head = sign_head()
    body = client.get("/api/v1/audit/verify", headers=headers).json()
    assert body["ok"] is True
    assert body["entries"] == len(logged_seqs())
    assert body["first_bad"] is None
    assert body["head"]["tree_size"] == head.tree_size
    assert body["head"]["root_hash"] == head.root_hash
    assert body["head"]["key_id"] == head.key_id


def test_verify_reports_the_first_bad_entry_after_tampering(client, headers, case):
    sign_head()
    tamper(("DELETE FROM audit_auditentry WHERE seq = %s", [case.case_seqs[2]]))
    body = client.get("/api/v1/audit/verify", headers=headers).json()
    assert body["ok"] is False
    assert body["first_bad"] == case.case_seqs[2]
    assert "missing" in body["reason"]


def test_the_operations_document_their_responses():
    from gateway.api import api

    paths = api.get_openapi_schema()["paths"]
    events = paths["/api/v1/audit/events"]["get"]["responses"]
    assert events[200]["content"]["application/json"]["schema"]["$ref"].endswith("EventPage")
    assert {400, 401, 403} <= set(events)
    export = paths["/api/v1/audit/export"]["get"]["responses"]
    assert set(export[200]["content"]) == {
        "text/csv",
        "application/jsonl",
        "application/fhir+json",
    }
