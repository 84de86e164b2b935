"""Audit log exports: CSV for spreadsheets, JSON Lines for tools, FHIR R4 for health systems.

Every export carries the same fields as the log (pseudonymous ids and hashes only) plus each
entry's leaf hash, so an exported row can be matched against a receipt.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable
from typing import Any, TextIO

from audit import merkle
from audit.actions import AuditAction
from audit.models import AuditEntry, format_instant

CSV_COLUMNS = [
    "seq", "at", "actor", "action", "object_type", "object_id", "details", "prev_hash", "leaf_hash",
]  # fmt: skip
# OWASP "CSV injection": a spreadsheet runs a cell starting with one of these as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

FHIR_ID_SYSTEM = "urn:scan-gateway:pseudonym"
FHIR_ACTION_SYSTEM = "urn:scan-gateway:audit-action"
FHIR_OBJECT_SYSTEM = "urn:scan-gateway:object"
AUDIT_EVENT_TYPE = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
SOURCE_TYPE = {
    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
    "code": "4",
    "display": "Application Server",
}
CONSENT_STATUS = {
    AuditAction.CONSENT_REQUESTED: "proposed",
    AuditAction.CONSENT_GIVEN: "active",
    AuditAction.CONSENT_WITHDRAWN: "inactive",
    AuditAction.CONSENT_EXPIRED: "inactive",
    # A patient sharing an answer with the clinic is a privacy consent too.
    AuditAction.SHARE_CREATED: "active",
    AuditAction.SHARE_REVOKED: "inactive",
}
# For a FHIR reader, the verb of our action: R(ead), D(elete), C(reate) or E(xecute).
ACTION_VERB = {"viewed": "R", "exported": "R", "deleted": "D", "uploaded": "C"}
FULL_URL_NAMESPACE = uuid.UUID("6f1c3a52-9d1e-5a7b-8c2f-6962a0d1e5b4")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def export_csv(qs: Iterable[AuditEntry], stream: TextIO) -> None:
    """RFC 4180 CSV (header row, CRLF, quoted where needed) as text; encode it as UTF-8.

    Open the stream with ``newline=""`` when it is a file, as the csv module asks.
    """
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in qs:
        row = {**entry.canonical_fields(), "leaf_hash": entry.leaf_hash}
        row["details"] = merkle.canonical_json(entry.details)
        writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])


def export_jsonl(qs: Iterable[AuditEntry], stream: TextIO) -> None:
    """One canonical JSON object per line: the hashed entry fields plus its leaf hash."""
    for entry in qs:
        line = {**entry.canonical_fields(), "leaf_hash": entry.leaf_hash}
        stream.write(merkle.canonical_json(line) + "\n")


def _identifier(system: str, value: str) -> dict[str, Any]:
    return {"identifier": {"system": system, "value": value}}


def _audit_event(entry: AuditEntry) -> dict[str, Any]:
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"audit-{entry.seq}",
        "type": AUDIT_EVENT_TYPE,
        "subtype": [{"system": FHIR_ACTION_SYSTEM, "code": entry.action}],
        "action": ACTION_VERB.get(entry.action.rsplit(".", 1)[-1], "E"),
        "recorded": format_instant(entry.at),
        "outcome": "0",
        "agent": [
            {
                "who": _identifier(FHIR_ID_SYSTEM, entry.actor),
                # A person asked for this; "system"/"worker" entries act on their own.
                "requestor": entry.actor.startswith("u-"),
            }
        ],
        "source": {
            "observer": {"display": "scan-gateway"},
            "type": [SOURCE_TYPE],
        },
    }
    if entry.object_id:
        event["entity"] = [
            {
                "what": _identifier(f"{FHIR_OBJECT_SYSTEM}:{entry.object_type}", entry.object_id),
            }
        ]
    return event


def _consent(entry: AuditEntry) -> dict[str, Any] | None:
    """Consent.patient is required by R4 invariant ppc-2 for privacy consents; without a
    pseudonymous patient (the acting user, or details["patient"]) no Consent is emitted."""
    patient = entry.details.get("patient") or (entry.actor if entry.actor.startswith("u-") else "")
    if not patient:
        return None
    consent: dict[str, Any] = {
        "resourceType": "Consent",
        "id": f"consent-{entry.seq}",
        "status": CONSENT_STATUS[AuditAction(entry.action)],
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                    "display": "Privacy Consent",
                }
            ]
        },
        "category": [
            {"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Consent"}]}
        ],
        "patient": _identifier(FHIR_ID_SYSTEM, patient),
        "dateTime": format_instant(entry.at),
        # R4 invariant ppc-1: a policy or a policyRule is required.
        "policyRule": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "OPTIN",
                    "display": "opt-in",
                }
            ]
        },
    }
    if entry.object_id:
        consent["identifier"] = [{"system": FHIR_OBJECT_SYSTEM, "value": entry.object_id}]
    return consent


def export_fhir(qs: Iterable[AuditEntry]) -> dict[str, Any]:
    """A FHIR R4 Bundle (type collection): an AuditEvent per entry, and a Consent per consent
    event, next to its AuditEvent."""
    entries: list[dict[str, Any]] = []
    for entry in qs:
        # fullUrl derives from the leaf hash: stable across re-exports, unique across logs.
        resource = _audit_event(entry)
        entries.append({"fullUrl": _full_url("AuditEvent", entry), "resource": resource})
        if entry.action in CONSENT_STATUS and (consent := _consent(entry)):
            entries.append({"fullUrl": _full_url("Consent", entry), "resource": consent})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _full_url(resource_type: str, entry: AuditEntry) -> str:
    return "urn:uuid:" + str(uuid.uuid5(FULL_URL_NAMESPACE, f"{resource_type}/{entry.leaf_hash}"))
