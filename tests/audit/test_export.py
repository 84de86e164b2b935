"""Exports: CSV a spreadsheet opens safely, JSON Lines, and a structurally valid FHIR R4 Bundle."""

import csv
import io
import json
import re
from datetime import UTC, datetime

import pytest

from audit import merkle
from audit.export import export_csv, export_fhir, export_jsonl
from audit.log import append, events
from audit.models import AuditEntry

USER = "u-3f2a9c0d1e4b5a6f7c8d"
SCAN = "0b6f7c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e"
# FHIR R4 "instant": a full date-time with seconds and a time zone.
FHIR_INSTANT = re.compile(
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)"
    r"(\.\d+)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))"
)

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


def assert_coding(concept: dict) -> None:
    assert concept["coding"] and all(c["system"] and c["code"] for c in concept["coding"])


def assert_valid_audit_event(event: dict) -> None:
    """The R4 AuditEvent elements with minimum cardinality 1."""
    assert event["type"]["system"] and event["type"]["code"]  # type 1..1 Coding
    assert FHIR_INSTANT.fullmatch(event["recorded"])  # recorded 1..1 instant
    assert len(event["agent"]) >= 1  # agent 1..*
    for agent in event["agent"]:
        assert isinstance(agent["requestor"], bool)  # agent.requestor 1..1
        assert agent["who"]["identifier"]["value"]
    assert event["source"]["observer"]  # source 1..1, source.observer 1..1
    assert event["outcome"] in {"0", "4", "8", "12"}
    assert event["action"] in {"C", "R", "U", "D", "E"}
    for entity in event.get("entity", []):
        assert entity["what"]["identifier"]["value"]


def assert_valid_consent(consent: dict) -> None:
    """The R4 Consent elements with minimum cardinality 1, and invariants ppc-1 and ppc-2."""
    assert consent["status"] in {
        "draft", "proposed", "active", "rejected", "inactive", "entered-in-error",
    }  # fmt: skip
    assert_coding(consent["scope"])
    assert len(consent["category"]) >= 1
    for category in consent["category"]:
        assert_coding(category)
    assert consent.get("policy") or consent.get("policyRule")  # ppc-1
    assert consent["patient"]["identifier"]["value"]  # ppc-2: privacy consent names a patient
    assert FHIR_INSTANT.fullmatch(consent["dateTime"])


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
