"""Exports: CSV a spreadsheet opens safely, JSON Lines, and a structurally valid FHIR R4 Bundle."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from audit import merkle
from audit.export import export_csv, export_fhir, export_jsonl
from audit.log import append, events
from audit.models import AuditEntry
from tests.support.fhir import (  # noqa: F401
    FHIR_INSTANT,
    assert_coding,
    assert_valid_audit_event,
    assert_valid_consent,
)

USER = "u-3f2a9c0d1e4b5a6f7c8d"
SCAN = "0b6f7c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e"
# FHIR R4 "instant": a full date-time with seconds and a time zone.

pytestmark = pytest.mark.django_db


@pytest.fixture
def consent_story() -> None:
    append("auth.sign_in", actor=USER)
    append("scan.uploaded", actor=USER, object_type="scan", object_id=SCAN, details={"files": 3})
    scan = {"object_type": "scan", "object_id": SCAN}
    append("consent.requested", actor="system", **scan, details={"patient": USER})
    append("consent.given", actor=USER, **scan)
    append("consent.withdrawn", actor=USER, **scan)
    append("consent.expired", actor="system", **scan)  # names no patient
    append("send.outcome", actor="worker", **scan, details={"status": 200, "sha256": "ab" * 32})


def test_csv_has_a_header_and_one_parsable_row_per_entry(consent_story):
    out = io.StringIO(newline="")
    export_csv(events(), out)
    text = out.getvalue()
    assert "\r\n" in text  # RFC 4180 line breaks
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == 7
    assert rows[1]["action"] == "scan.uploaded"
    assert json.loads(rows[1]["details"]) == {"files": 3}
    assert rows[6]["leaf_hash"] == AuditEntry.objects.get(seq=6).leaf_hash
    text.encode("utf-8")


def test_csv_neutralises_cells_a_spreadsheet_would_run_as_formulas():
    # Such values can't get past append(); the export must be safe even if one got in anyway.
    rows = [
        AuditEntry(
            seq=0,
            at=datetime(2025, 1, 1, tzinfo=UTC),
            actor=start + "cmd|' /C calc'!A0",
            action="scan.uploaded",
            object_id="-1",
            leaf_hash="00",
        )
        for start in ("=", "+", "-", "@")
    ]
    out = io.StringIO(newline="")
    export_csv(rows, out)
    parsed = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert [row["actor"][:2] for row in parsed] == ["'=", "'+", "'-", "'@"]
    assert {row["object_id"] for row in parsed} == {"'-1"}


def test_jsonl_lines_are_the_canonical_entries_with_their_leaf_hash(consent_story):
    out = io.StringIO()
    export_jsonl(events(), out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 7
    first = json.loads(lines[0])
    leaf_hash = first.pop("leaf_hash")
    assert leaf_hash == merkle.leaf_hash(merkle.canonical_json(first).encode()).hex()








def test_fhir_export_is_a_bundle_of_audit_events_and_consents(consent_story):
    bundle = export_fhir(events())
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    resources = [e["resource"] for e in bundle["entry"]]
    assert all(e["fullUrl"].startswith("urn:uuid:") for e in bundle["entry"])
    assert len({e["fullUrl"] for e in bundle["entry"]}) == len(bundle["entry"])

    audit_events = [r for r in resources if r["resourceType"] == "AuditEvent"]
    assert [e["subtype"][0]["code"] for e in audit_events] == [e.action for e in events()]
    for event in audit_events:
        assert_valid_audit_event(event)
    assert audit_events[0]["agent"][0] == {
        "who": {"identifier": {"system": "urn:scan-gateway:pseudonym", "value": USER}},
        "requestor": True,
    }
    assert audit_events[6]["agent"][0]["requestor"] is False
    assert audit_events[1]["entity"][0]["what"]["identifier"]["value"] == SCAN

    consents = [r for r in resources if r["resourceType"] == "Consent"]
    for consent in consents:
        assert_valid_consent(consent)
    # consent.expired by "system" names no patient, so it is an AuditEvent only.
    assert [c["status"] for c in consents] == ["proposed", "active", "inactive"]
    assert {c["patient"]["identifier"]["value"] for c in consents} == {USER}
    json.dumps(bundle)  # serializable as is
