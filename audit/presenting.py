"""How the auditor pages show log entries: details as labelled fields, repeated previews as one row.

The log stores details as small JSON objects of ids, hashes, counts and enums (``audit.log``
admits nothing else). An auditor reads them as named fields, with the ids that link one case
(scan, consent request, consent, answer) turned into links to that case's trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from audit.actions import AuditAction
from audit.models import AuditEntry
from audit.reading import CASE_DETAIL_KEYS

# Labels for the keys the code writes; any other key is shown with its underscores as spaces.
DETAIL_LABELS = {
    "scan_id": "Scan",
    "scan": "Scan",
    "request_id": "Consent request",
    "consent_id": "Consent",
    "consent": "Consent",
    "answer_id": "Answer",
    "answer": "Answer",
    "endpoint_id": "Endpoint",
    "endpoint": "Endpoint",
    "config_version": "Endpoint configuration version",
    "image_count": "Images",
    "images": "Images",
    "files": "Files",
    "bytes": "Bytes",
    "manifest_sha256": "Manifest SHA-256",
    "consent_text_version": "Consent text version",
    "consent_text_sha256": "Consent text SHA-256",
    "consent_language": "Consent text language",
    "answer_sha256": "Answer SHA-256",
    "client_hash": "Browser fingerprint hash",
    "question_flagged": "Question flagged for identifiers",
    "identifiers_confirmed": "Patient confirmed the flagged question",
    "expires_at": "Expires (UTC)",
    "outcome": "Outcome",
    "reason": "Reason",
    "status": "HTTP status",
    "attempt": "Attempt",
    "attempts": "Attempts",
    "shredded": "Objects shredded",
    "original": "Original (before de-identification)",
    "role": "Role",
    "from": "From",
    "to": "To",
    "format": "Format",
    "rows": "Rows",
    "through_seq": "Up to entry",
    "is_local": "Local endpoint",
    "has_api_key": "Has an API key",
    "sessions": "Sessions ended",
    "tokens": "Tokens revoked",
    "authenticators": "Authenticators removed",
    "elapsed_ms": "Time taken (ms)",
}

# Entries a patient can download a signed receipt for (scans.consent.receipts).
RECEIPT_ACTIONS = {
    AuditAction.CONSENT_GIVEN.value: "Consent receipt",
    AuditAction.SEND_OUTCOME.value: "Send receipt",
}


@dataclass(frozen=True)
class DetailField:
    key: str
    label: str
    value: str
    case_link: bool  # an id that opens the trail of its case


@dataclass(frozen=True)
class Row:
    """One table row: an entry, or a run of ``count`` consecutive previews ending at ``last``."""

    entry: AuditEntry
    fields: list[DetailField]
    count: int = 1
    last: AuditEntry | None = None
    receipt: str = ""


def _shown(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "expires_at" and isinstance(value, int):
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "none"
    if value is None:
        return "none"
    return str(value)


def detail_fields(details: dict[str, object]) -> list[DetailField]:
    """Each detail as a label and a value, in the order the writer gave them."""
    return [
        DetailField(
            key=key,
            label=DETAIL_LABELS.get(key, key.replace("_", " ").capitalize()),
            value=_shown(key, value),
            case_link=key in CASE_DETAIL_KEYS and isinstance(value, str) and bool(value),
        )
        for key, value in details.items()
    ]


def rows(entries: Iterable[AuditEntry], *, collapse_previews: bool = False) -> list[Row]:
    """Table rows for ``entries`` in the given order.

    With ``collapse_previews``, consecutive ``preview.viewed`` entries of the same scan become one
    row with their count and first and last entries: a patient paging through a study logs one
    entry per image shown, which would bury the few events a trail is read for.
    """
    result: list[Row] = []
    for entry in entries:
        previous = result[-1] if result else None
        if (
            collapse_previews
            and previous is not None
            and entry.action == AuditAction.PREVIEW_VIEWED
            and previous.entry.action == AuditAction.PREVIEW_VIEWED
            and previous.entry.details.get("scan") == entry.details.get("scan")
            and previous.entry.actor == entry.actor
        ):
            result[-1] = Row(previous.entry, previous.fields, previous.count + 1, entry)
            continue
        result.append(
            Row(
                entry,
                detail_fields(entry.details),
                receipt=RECEIPT_ACTIONS.get(entry.action, ""),
            )
        )
    return result
