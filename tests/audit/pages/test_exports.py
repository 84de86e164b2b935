"""Exports from the pages and the API: files that parse, for the current filter, and recorded."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from audit.export import CSV_COLUMNS
from audit.log import append
from audit.models import AuditEntry
from tests.support.accounts import bearer
from tests.support.auditing import logged_seqs
from tests.support.fhir import assert_valid_audit_event, assert_valid_consent
from tests.support.tampering import tamper

pytestmark = pytest.mark.django_db


def download(client, fmt: str, **filters: str):
    response = client.post("/audit/export/", {"format": fmt, **filters})
    assert response.status_code == 200
    return response, b"".join(response.streaming_content)


def csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


def test_the_csv_export_opens_as_a_spreadsheet_with_the_logs_columns(auditor_client, case):
    response, body = download(auditor_client, "csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-log-')
    assert response["Content-Disposition"].endswith('.csv"')
    assert not body.startswith(b"\xef\xbb\xbf")  # no BOM: the header's first name is "seq"
    rows = csv_rows(body)
    assert list(rows[0]) == CSV_COLUMNS
    assert [int(row["seq"]) for row in rows] == logged_seqs()[:-1]  # the last is the export's
    uploaded = next(row for row in rows if int(row["seq"]) == case.case_seqs[0])
    assert uploaded["leaf_hash"] == AuditEntry.objects.get(seq=case.case_seqs[0]).leaf_hash
    assert json.loads(uploaded["details"]) == {"files": 2}


def test_the_csv_export_holds_only_the_filtered_rows(auditor_client, case):
    _, body = download(auditor_client, "csv", object_id=str(case.scan.id))
    rows = csv_rows(body)
    assert {row["object_id"] for row in rows} == {str(case.scan.id)}
    assert len(rows) == 3


def test_the_csv_export_neutralises_cells_a_spreadsheet_would_run(auditor_client, db):
    # No action may start with "-" or "=" through append(), so one is planted the way an
    # attacker with database access would, to prove the export is safe anyway.
    planted = append("scan.uploaded", actor="system")
    tamper(
        (
            "UPDATE audit_auditentry SET action = %s, object_id = %s WHERE seq = %s",
            ['=HYPERLINK("x")', "-1+2", planted.seq],
        )
    )
    _, body = download(auditor_client, "csv")
    row = next(row for row in csv_rows(body) if int(row["seq"]) == planted.seq)
    assert row["action"] == '\'=HYPERLINK("x")'
    assert row["object_id"] == "'-1+2"


def test_the_jsonl_export_is_one_json_entry_per_line(auditor_client, case):
    response, body = download(auditor_client, "jsonl", action="consent.")
    assert response["Content-Type"] == "application/jsonl; charset=utf-8"
    assert response["Content-Disposition"].endswith('.jsonl"')
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert [line["action"] for line in lines] == ["consent.given"]
    assert lines[0]["object_id"] == case.consent
    assert set(lines[0]) == {*CSV_COLUMNS}


def test_the_fhir_export_is_a_structurally_valid_r4_bundle(auditor_client, case):
    seqs = logged_seqs()
    response, body = download(auditor_client, "fhir")
    assert response["Content-Type"] == "application/fhir+json; fhirVersion=4.0"
    assert response["Content-Disposition"].endswith('.fhir.json"')
    bundle = json.loads(body)
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    resources = [item["resource"] for item in bundle["entry"]]
    assert all(item["fullUrl"].startswith("urn:uuid:") for item in bundle["entry"])
    events = [r for r in resources if r["resourceType"] == "AuditEvent"]
    assert [e["id"] for e in events] == [f"audit-{seq}" for seq in seqs]
    for event in events:
        assert_valid_audit_event(event)
    consents = [r for r in resources if r["resourceType"] == "Consent"]
    assert len(consents) == 1
    assert_valid_consent(consents[0])


def test_an_empty_fhir_export_has_no_empty_entry_array(auditor_client, case):
    _, body = download(auditor_client, "fhir", action="nothing.matches")
    assert json.loads(body) == {"resourceType": "Bundle", "type": "collection"}


def test_every_export_is_recorded_with_its_format_row_count_and_filter(
    auditor_client, auditor, case
):
    last = logged_seqs()[-1]
    download(auditor_client, "jsonl", action="scan.", since="2020-01-01")
    record = AuditEntry.objects.order_by("-seq").first()
    assert record.action == "audit.exported"
    assert record.actor == auditor.pseudonym
    assert record.details == {
        "format": "jsonl",
        "rows": 5,
        "through_seq": last,
        "filter_action": "scan.",
        "filter_since_ms": int(datetime(2020, 1, 1, tzinfo=UTC).timestamp() * 1000),
    }


def test_an_export_never_contains_its_own_record(auditor_client, case):
    last = logged_seqs()[-1]
    _, body = download(auditor_client, "csv", action="audit.")
    assert csv_rows(body) == []
    _, body = download(auditor_client, "csv", action="audit.")
    assert [row["details"] for row in csv_rows(body)] == [
        json.dumps(
            {"filter_action": "audit.", "format": "csv", "rows": 0, "through_seq": last},
            separators=(",", ":"),
        )
    ]


def test_a_bad_format_or_filter_exports_nothing(auditor_client, case):
    count = AuditEntry.objects.count()
    assert auditor_client.post("/audit/export/", {"format": "xlsx"}).status_code == 302
    bad_filter = {"format": "csv", "actor": "Jane Doe"}
    assert auditor_client.post("/audit/export/", bad_filter).status_code == 302
    assert AuditEntry.objects.count() == count


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("csv", "text/csv; charset=utf-8"),
        ("jsonl", "application/jsonl; charset=utf-8"),
        ("fhir", "application/fhir+json; fhirVersion=4.0"),
    ],
)
def test_the_api_exports_each_format_as_an_attachment(client, auditor, case, fmt, content_type):
    response = client.get(
        "/api/v1/audit/export", {"format": fmt, "action": "answer."}, headers=bearer(auditor)
    )
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"].startswith("attachment;")
    b"".join(response.streaming_content)
    record = AuditEntry.objects.order_by("-seq").first()
    assert (record.action, record.details["format"], record.details["rows"]) == (
        "audit.exported",
        fmt,
        2,
    )
