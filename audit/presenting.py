"""How the auditor pages show log entries: details as labelled fields, repeated previews as one row.

The log stores details as small JSON objects of ids, hashes, counts and enums (``audit.log``
admits nothing else). An auditor reads them as named fields, with the ids that link one case
(scan, consent request, consent, answer) turned into links to that case's trail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from audit.actions import AuditAction
from audit.models import AuditEntry
from audit.reading import CASE_DETAIL_KEYS

# Labels for the keys the code writes; any other key is shown with its underscores as spaces.
DETAIL_LABELS: dict[str, Promise] = {
    "scan_id": _("Scan"),
    "scan": _("Scan"),
    "request_id": _("Consent request"),
    "consent_id": _("Consent"),
    "consent": _("Consent"),
    "answer_id": _("Answer"),
    "answer": _("Answer"),
    "endpoint_id": _("Endpoint"),
    "endpoint": _("Endpoint"),
    "config_version": _("Endpoint configuration version"),
    "image_count": _("Images"),
    "images": _("Images"),
    "files": _("Files"),
    "bytes": _("Bytes"),
    "manifest_sha256": _("Manifest SHA-256"),
    "consent_text_version": _("Consent text version"),
    "consent_text_sha256": _("Consent text SHA-256"),
    "consent_language": _("Consent text language"),
    "answer_sha256": _("Answer SHA-256"),
    "client_hash": _("Browser fingerprint hash"),
    "question_flagged": _("Question flagged for identifiers"),
    "identifiers_confirmed": _("Patient confirmed the flagged question"),
    "expires_at": _("Expires (UTC)"),
    "outcome": _("Outcome"),
    "reason": _("Reason"),
    "status": _("HTTP status"),
    "attempt": _("Attempt"),
    "attempts": _("Attempts"),
    "shredded": _("Objects shredded"),
    "original": _("Original (before de-identification)"),
    "role": _("Role"),
    "from": _("From"),
    "to": _("To"),
    "format": _("Format"),
    "rows": _("Rows"),
    "through_seq": _("Up to entry"),
    "is_local": _("Local endpoint"),
    "has_api_key": _("Has an API key"),
    "sessions": _("Sessions ended"),
    "tokens": _("Tokens revoked"),
    "authenticators": _("Authenticators removed"),
    "elapsed_ms": _("Time taken (ms)"),
    "patient": _("Patient"),
    "how": _("How"),
    "category": _("Rule"),
    "change": _("Change"),
    "count": _("Count"),
    "fields": _("Fields"),
    "image": _("Image"),
    "objects": _("Objects"),
    "scans": _("Scans"),
    "source": _("Source"),
    "studies": _("Studies"),
    "boxes": _("Boxes"),
    "originals_days": _("Originals (days)"),
    "sanitized_days": _("De-identified images (days)"),
    "answers_days": _("Answers (days)"),
    "unconsented_days": _("Never consented to (days)"),
    "originals": _("Originals"),
    "sanitized": _("De-identified images"),
    "answers": _("Answers"),
    "unconsented": _("Never consented to"),
}

# What each action means, for the filter's list and the events table (the action's name itself is
# data: it is what the log stores and what exports and the API filter by).
ACTION_LABELS: dict[str, Promise] = {
    AuditAction.SIGN_IN: _("Signed in"),
    AuditAction.SIGN_IN_FAILED: _("Sign-in failed"),
    AuditAction.ROLE_CHANGED: _("Role changed"),
    AuditAction.TOKEN_CREATED: _("API token created"),
    AuditAction.TOKEN_REVOKED: _("API token revoked"),
    AuditAction.USER_INVITED: _("User invited"),
    AuditAction.INVITATION_ACCEPTED: _("Invitation accepted"),
    AuditAction.USER_DISABLED: _("Account disabled"),
    AuditAction.USER_ENABLED: _("Account enabled"),
    AuditAction.MFA_RESET: _("Two-factor authentication reset"),
    AuditAction.IDENTITY_REVEALED: _("E-mail address behind a pseudonym shown"),
    AuditAction.ACCOUNT_ERASED: _("Account erased"),
    AuditAction.SCAN_UPLOADED: _("Scan uploaded"),
    AuditAction.SCAN_DEIDENTIFIED: _("Scan de-identified"),
    AuditAction.SCAN_DELETED: _("Scan deleted"),
    AuditAction.PREVIEW_VIEWED: _("Image preview viewed"),
    AuditAction.ORIGINAL_VALUES_VIEWED: _("Removed original values viewed"),
    AuditAction.CONSENT_REQUESTED: _("Consent requested"),
    AuditAction.CONSENT_GIVEN: _("Consent given"),
    AuditAction.CONSENT_WITHDRAWN: _("Consent withdrawn"),
    AuditAction.CONSENT_EXPIRED: _("Consent expired"),
    AuditAction.SEND_ATTEMPT: _("Send attempted"),
    AuditAction.SEND_OUTCOME: _("Send finished"),
    AuditAction.ANSWER_VIEWED: _("Answer viewed"),
    AuditAction.ANSWER_DELETED: _("Answer deleted"),
    AuditAction.ENDPOINT_CREATED: _("AI endpoint added"),
    AuditAction.ENDPOINT_CHANGED: _("AI endpoint changed"),
    AuditAction.ENDPOINT_DISABLED: _("AI endpoint disabled"),
    AuditAction.ENDPOINT_TESTED: _("AI endpoint connection tested"),
    AuditAction.RETENTION_CHANGED: _("Retention policy changed"),
    AuditAction.RETENTION_SHREDDED: _("Data past its retention destroyed"),
    AuditAction.RETENTION_APPLIED: _("Retention run finished"),
    AuditAction.DICOM_ASSOCIATION: _("DICOM association"),
    AuditAction.DICOM_REFUSED: _("DICOM association refused"),
    AuditAction.DICOM_NODE_CHANGED: _("DICOM node settings changed"),
    AuditAction.DICOMWEB_STORED: _("Study stored through DICOMweb"),
    AuditAction.STUDY_RECEIVED: _("Study received"),
    AuditAction.STUDY_VIEWED: _("Study viewed"),
    AuditAction.STUDY_HANDED_OFF: _("Study handed to a patient"),
    AuditAction.IMAGE_REDACTED: _("Image redacted"),
    AuditAction.SHARE_CREATED: _("Answer shared"),
    AuditAction.SHARE_REVOKED: _("Share revoked"),
    AuditAction.SHARE_VIEWED: _("Shared answer viewed"),
    AuditAction.AUDIT_EXPORTED: _("Audit log exported"),
}


def action_label(action: str) -> str:
    """What ``action`` means, in the reader's language; "" for an action this code does not know
    (an older log may hold one)."""
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else ""


def family_label(family: str) -> str:
    """The filter's choice for a whole family, e.g. "Every consent action"."""
    return gettext("Every %(family)s action") % {"family": family}


# How verify_log words a verdict (audit.log), and the same words for the reader.
_REASONS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"log intact"), lambda m: gettext("log intact")),
    (
        re.compile(r"log intact; (\d+) newest entries not yet signed"),
        lambda m: (
            ngettext(
                "log intact; %(count)s newest entry not yet signed",
                "log intact; %(count)s newest entries not yet signed",
                int(m[1]),
            )
            % {"count": m[1]}
        ),
    ),
    (
        re.compile(r"signed head of size (\d+) has an invalid signature"),
        lambda m: gettext("signed head of size %(size)s has an invalid signature") % {"size": m[1]},
    ),
    (
        re.compile(r"entries before (\d+) do not match their signed head's root"),
        lambda m: (
            gettext("entries before %(size)s do not match their signed head's root")
            % {"size": m[1]}
        ),
    ),
    (
        re.compile(r"entry (\d+) is missing"),
        lambda m: gettext("entry %(seq)s is missing") % {"seq": m[1]},
    ),
    (
        re.compile(r"prev_hash does not match the previous entry's leaf hash"),
        lambda m: gettext("prev_hash does not match the previous entry's leaf hash"),
    ),
    (
        re.compile(r"stored fields do not match the entry's leaf hash"),
        lambda m: gettext("stored fields do not match the entry's leaf hash"),
    ),
    (
        re.compile(r"a signed head covers (\d+) entries but the log has (\d+)"),
        lambda m: (
            gettext("a signed head covers %(head)s entries but the log has %(log)s")
            % {"head": m[1], "log": m[2]}
        ),
    ),
    (
        re.compile(r"verification could not run \((\w+)\)"),
        lambda m: gettext("verification could not run (%(error)s)") % {"error": m[1]},
    ),
]


def verdict_reason(reason: str) -> str:
    """``reason`` of a verification verdict, in the reader's language. The log's verifier words
    it in English (it is also logged and stored); any wording not known here is shown as it is."""
    for pattern, words in _REASONS:
        if match := pattern.fullmatch(reason):
            return words(match)
    return reason


# Entries a patient can download a signed receipt for (scans.consent.receipts).
RECEIPT_ACTIONS: dict[str, Promise] = {
    AuditAction.CONSENT_GIVEN.value: _("Consent receipt"),
    AuditAction.SEND_OUTCOME.value: _("Send receipt"),
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

    @property
    def action_label(self) -> str:
        return action_label(self.entry.action)


def _shown(key: str, value: object) -> str:
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if key == "expires_at" and isinstance(value, int):
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or gettext("none")
    if value is None:
        return gettext("none")
    return str(value)


def detail_fields(details: dict[str, object]) -> list[DetailField]:
    """Each detail as a label and a value, in the order the writer gave them."""
    return [
        DetailField(
            key=key,
            label=str(DETAIL_LABELS.get(key, key.replace("_", " ").capitalize())),
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
                receipt=str(RECEIPT_ACTIONS.get(entry.action, "")),
            )
        )
    return result
