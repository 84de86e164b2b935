"""Every action the audit log records, by name: writers, readers, filters and exports use these.

An action is ``family.verb``. The values are the strings stored in the log (and hashed into its
leaves), so a value never changes once released; a new event gets a new member.
"""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    # Accounts
    SIGN_IN = "auth.sign_in"
    SIGN_IN_FAILED = "auth.sign_in_failed"
    ROLE_CHANGED = "role.changed"
    TOKEN_CREATED = "token.created"  # noqa: S105 - an event name, not a secret
    TOKEN_REVOKED = "token.revoked"  # noqa: S105 - an event name, not a secret
    USER_INVITED = "user.invited"
    INVITATION_ACCEPTED = "user.invitation_accepted"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    MFA_RESET = "mfa.reset"
    # A clinic admin saw which e-mail address a pseudonym belongs to (find by e-mail, or an
    # account page that shows the address): the re-identification is itself on the record.
    IDENTITY_REVEALED = "identity.revealed"
    ACCOUNT_ERASED = "account.erased"
    # A scan's life
    SCAN_UPLOADED = "scan.uploaded"
    SCAN_DEIDENTIFIED = "scan.deidentified"
    SCAN_DELETED = "scan.deleted"
    PREVIEW_VIEWED = "preview.viewed"
    # The owner read the original values of what was removed (details: the scan's id only).
    ORIGINAL_VALUES_VIEWED = "scan.original_values_viewed"
    CONSENT_REQUESTED = "consent.requested"
    CONSENT_GIVEN = "consent.given"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    CONSENT_EXPIRED = "consent.expired"
    SEND_ATTEMPT = "send.attempt"
    SEND_OUTCOME = "send.outcome"
    ANSWER_VIEWED = "answer.viewed"
    ANSWER_DELETED = "answer.deleted"
    # The clinic's configuration and housekeeping
    ENDPOINT_CREATED = "endpoint.created"
    ENDPOINT_CHANGED = "endpoint.changed"
    ENDPOINT_DISABLED = "endpoint.disabled"
    ENDPOINT_TESTED = "endpoint.tested"
    RETENTION_CHANGED = "retention.changed"
    RETENTION_SHREDDED = "retention.shredded"
    RETENTION_APPLIED = "retention.applied"
    # The clinic's PACS: intake, the clinicians' inbox, hand-off to a patient, shared answers
    DICOM_ASSOCIATION = "dicom.association"
    DICOM_REFUSED = "dicom.refused"
    DICOM_NODE_CHANGED = "dicom.node_changed"
    DICOMWEB_STORED = "dicomweb.stored"
    STUDY_RECEIVED = "study.received"
    STUDY_VIEWED = "study.viewed"
    STUDY_HANDED_OFF = "study.handed_off"
    IMAGE_REDACTED = "study.image_redacted"
    SHARE_CREATED = "share.created"
    SHARE_REVOKED = "share.revoked"
    SHARE_VIEWED = "share.viewed"
    # The log itself
    AUDIT_EXPORTED = "audit.exported"

    @property
    def family(self) -> str:
        """The part before the dot ("consent" for "consent.given"): what filters group by."""
        return self.value.split(".", 1)[0]


def families() -> list[str]:
    """Each family once, in the order above."""
    return list(dict.fromkeys(action.family for action in AuditAction))
