"""Sending a consented set of images to its AI endpoint, at most once.

The order of steps is the promise:

1. claim: one conditional UPDATE moves the consent active -> sending (and the scan consented ->
   sending) before anything leaves, so a second message, a second worker or a retry after a
   crash finds nothing to claim;
2. a run that finds its consent already ``sending`` knows an earlier run died after the request
   may have left: it records ``outcome_unknown`` and never sends again;
3. verify: the payload is rebuilt from the vault and every hash is checked against the
   consent's manifest (and the manifest against the append-only audit log), every source image
   against its attestation, and the endpoint against the configuration consented to; any
   difference refuses the send;
4. send, with retries recorded in the database and the audit log before each attempt;
5. record the outcome: answer sealed in the vault, or a failure message for the patient.

Messages carry consent ids only. Nothing here logs or audits images, questions or answers.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from audit import log as audit
from audit.actions import AuditAction
from audit.models import AuditEntry
from forwarding import egress, protocols, retry
from forwarding.endpoints import read_api_key, snapshot
from forwarding.errors import ForwardingError
from forwarding.models import Endpoint
from scans import answers, metrics, pipeline, wording
from scans.attestation import is_attested
from scans.consent import states
from scans.consent.expiry import expire_consent
from scans.consent.text import RETRIES_DISCLOSED
from scans.deid.preview import scale_for_sending
from scans.deid.report import REDACTION_NOTE
from scans.hashing import sha256_hex
from scans.logsafe import describe
from scans.models import Answer, Consent, ConsentState, Outcome, Scan, ScanImage, Status
from scans.rendering import window_bounds
from vault import VaultError, get_vault

log = logging.getLogger(__name__)

ACTOR = "worker"
REFUSED_MESSAGE = gettext_noop(
    "Your images were not sent: the gateway's last check before sending found that the images, "
    "your question or the AI service no longer match exactly what you agreed to. You can give a "
    "new consent to try again."
)
# Stored with the endpoint's name in it; scans.wording finds the name again to translate it.
UNKNOWN_MESSAGE = wording.UNKNOWN_SEND
INTERNAL_MESSAGE = gettext_noop(
    "Something went wrong in the gateway before your images were sent, so nothing was sent. "
    "You can give a new consent to try again."
)
NOTIFICATION_SUBJECT = gettext_noop("An answer is ready")
NOTIFICATION_BODY = gettext_noop(
    "An answer to the question you asked about one of your scans is ready.\n\n"
    "Sign in to read it:\n{link}\n\n"
    "For your privacy, this email does not contain the answer or anything about your scan.\n"
)
_REASONS = {
    "SendFailed": "send_failed",
    "EgressRefused": "egress_refused",
    "ProviderError": "provider_error",
    "TransportError": "transport_error",
}


class Refusal(Exception):
    """The payload is not exactly what was consented to; ``reason`` is an audit enum."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ClaimLost(Exception):
    """Another run settled this consent while this one was sending."""


@dataclass
class Payload:
    endpoint: Endpoint
    question: str = field(repr=False)
    images: list[tuple[bytes, str]] = field(repr=False)
    # Some image sent has blacked-out text: the prompt says what the rectangles are.
    redacted: bool = False

    def system_prompt(self) -> str:
        """The endpoint's system prompt, plus the redaction note when any image has a
        redaction: a model that is not told may describe a black rectangle as a finding."""
        prompt = self.endpoint.system_prompt
        return f"{prompt.rstrip()}\n\n{REDACTION_NOTE}" if self.redacted else prompt


def send_consent(consent_id: str, *, sleep: Callable[[float], None] | None = None) -> None:
    """Send the consent's images and question once, and record what happened.

    Idempotent: a run for a consent that is withdrawn, expired or finished does nothing, and a
    run that finds the consent mid-send settles it as ``outcome_unknown`` without sending.
    ``sleep`` replaces the wait between retries (tests pass a no-op).
    """
    consent = Consent.objects.filter(pk=consent_id).first()
    if consent is None:
        log.warning("consent %s: not found, nothing to send", consent_id)
        return
    if consent.state == ConsentState.SENDING:
        if not sender_presumed_dead(consent):
            # Another run may be mid-request right now (a duplicate message): leave it be.
            log.info("consent %s: being sent by another run", consent_id)
            return
        settle_unknown(consent)
        return
    if consent.state != ConsentState.ACTIVE:
        log.info("consent %s: %s, nothing to send", consent_id, consent.state)
        return
    if consent.expires_at <= timezone.now():
        expire_consent(consent.pk)
        return
    token = claim(consent)
    if token is None:
        return

    try:
        payload = verified_payload(consent)
        prepared = protocols.build_request(
            payload.endpoint.protocol,
            base_url=payload.endpoint.base_url,
            model=payload.endpoint.model,
            api_key=read_api_key(payload.endpoint),
            system_prompt=payload.system_prompt(),
            question=payload.question,
            images=payload.images,
        )
    except Refusal as exc:
        _finish_without_sending(consent, token, ConsentState.REFUSED, exc.reason, REFUSED_MESSAGE)
        return
    except Exception as exc:
        log.error("consent %s: could not prepare the request: %s", consent_id, describe(exc))
        _finish_without_sending(
            consent, token, ConsentState.REFUSED, "internal_error", INTERNAL_MESSAGE
        )
        return

    attempts = 0

    def record_attempt(number: int) -> None:
        nonlocal attempts
        with transaction.atomic():
            # Not a state change: the attempt count, written only while this run holds the claim.
            still_ours = Consent.objects.filter(
                pk=consent.pk, state=ConsentState.SENDING, claim_token=token
            ).update(attempts=number)
            if not still_ours:
                raise ClaimLost(str(consent.pk))
            audit.append(
                AuditAction.SEND_ATTEMPT,
                actor=ACTOR,
                object_type="consent",
                object_id=str(consent.pk),
                details={"attempt": number, "scan_id": str(consent.scan_id)},
            )
        attempts = number

    endpoint = payload.endpoint
    try:
        response = retry.send_with_retries(
            lambda: egress.send(
                prepared, allow_local=endpoint.is_local, timeout=endpoint.timeout_seconds
            ),
            on_attempt=record_attempt,
            sleep=sleep or time.sleep,
            # The consent text discloses exactly this many repeats of the same request.
            max_attempts=RETRIES_DISCLOSED + 1,
        )
    except ClaimLost:
        log.warning("consent %s: settled by another run while sending", consent_id)
        return
    except ForwardingError as exc:
        record_failure(consent, token, exc, getattr(exc, "last_status", None))
        return
    except Exception as exc:
        log.error("consent %s: failed while sending: %s", consent_id, describe(exc))
        if attempts == 0:
            _finish_without_sending(
                consent, token, ConsentState.REFUSED, "internal_error", INTERNAL_MESSAGE
            )
        else:
            settle_unknown(consent, token=token)
        return
    try:
        text = protocols.parse_answer(endpoint.protocol, response.status, response.body)
    except ForwardingError as exc:
        record_failure(consent, token, exc, response.status)
        return
    record_answer(consent, token, endpoint, text, response.status)


# --- Claiming -----------------------------------------------------------------------------------


def claim(consent: Consent) -> uuid.UUID | None:
    """Take the consent for this run (active -> sending, scan consented -> sending).

    Returns the claim token, or None if the consent was not active and unexpired any more.
    A consent whose scan is no longer consented (deleted meanwhile) is refused instead.
    """
    token = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        if not states.transition(
            consent.pk, ConsentState.SENDING, where={"expires_at__gt": now}, claim_token=token
        ):
            return None
        if pipeline.transition(consent.scan_id, Status.SENDING, expected={Status.CONSENTED}):
            return token
        states.transition(
            consent.pk, ConsentState.REFUSED, holder=token, failure_reason="scan_not_consented"
        )
        _audit_outcome(consent, ConsentState.REFUSED, reason="scan_not_consented")
    return None


# --- Verifying ----------------------------------------------------------------------------------


def verified_payload(consent: Consent) -> Payload:
    """Rebuild the payload from the vault and prove it is exactly what was consented to.

    Raises Refusal with a reason code; never returns anything that failed a check.
    """
    try:
        return _verified_payload(consent)
    except VaultError as exc:
        raise Refusal("vault_unreadable") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise Refusal("manifest_malformed") from exc


def _verified_payload(consent: Consent) -> Payload:
    # Signing a head re-reads the whole log and refuses one that no longer extends the last
    # signed head: a rewritten history stops the send, as it once stopped the consent itself.
    try:
        audit.sign_head()
    except audit.LogBrokenError as exc:
        raise Refusal("audit_log_broken") from exc
    given = (
        AuditEntry.objects.filter(
            action=AuditAction.CONSENT_GIVEN, object_type="consent", object_id=str(consent.pk)
        )
        .order_by("seq")
        .first()
    )
    # The audit log is append-only: a consent row edited after the fact no longer matches it.
    if (
        given is None
        or given.details.get("manifest_sha256") != consent.manifest_sha256
        or given.details.get("consent_text_sha256") != consent.consent_text_sha256
    ):
        raise Refusal("consent_record_mismatch")
    if sha256_hex(consent.manifest.encode("utf-8")) != consent.manifest_sha256:
        raise Refusal("manifest_mismatch")
    if sha256_hex(consent.consent_text.encode("utf-8")) != consent.consent_text_sha256:
        raise Refusal("consent_text_mismatch")
    manifest = json.loads(consent.manifest)
    if manifest["endpoint"] != consent.endpoint_snapshot:
        raise Refusal("manifest_mismatch")

    endpoint = Endpoint.objects.filter(pk=consent.endpoint_id).first()
    if endpoint is None or not endpoint.enabled:
        raise Refusal("endpoint_disabled")
    if snapshot(endpoint) != consent.endpoint_snapshot:
        raise Refusal("endpoint_changed")

    items = manifest["images"]
    if not items or {item["image_id"] for item in items} != set(consent.prepared_objects):
        raise Refusal("manifest_mismatch")
    vault = get_vault()
    images: list[tuple[bytes, str]] = []
    redacted = False
    for item in items:
        image = ScanImage.objects.filter(pk=item["image_id"], scan_id=consent.scan_id).first()
        if image is None or image.outcome != Outcome.CLEAN or image.sanitized_object is None:
            raise Refusal("image_not_clean")
        if not is_attested(image.sanitized_sha256, consent.scan_id, image.attestation):
            raise Refusal("attestation_invalid")
        sanitized = vault.read_bytes(image.sanitized_object)
        if sha256_hex(sanitized) != image.sanitized_sha256:
            raise Refusal("sanitized_changed")
        data = vault.read_bytes(consent.prepared_objects[item["image_id"]])
        if sha256_hex(data) != item["sha256"] or len(data) != item["bytes"]:
            raise Refusal("prepared_changed")
        # Scaling is deterministic: the prepared bytes must be what the attested image gives.
        rescaled, mime = scale_for_sending(
            sanitized,
            max_side=endpoint.max_image_side,
            max_bytes=endpoint.max_image_bytes,
            window=window_bounds(item.get("window")),
        )
        if rescaled != data or mime != item["mime"]:
            raise Refusal("prepared_not_derived")
        images.append((data, item["mime"]))
        redacted = redacted or bool((image.report or {}).get("pixels", {}).get("regions"))

    question = vault.read_bytes(consent.question_object)
    if sha256_hex(question) != manifest["question_sha256"]:
        raise Refusal("question_changed")
    return Payload(endpoint, question.decode("utf-8"), images, redacted=redacted)


# --- Recording outcomes -------------------------------------------------------------------------


def _audit_outcome(consent: Consent, outcome: str, **details: object) -> None:
    audit.append(
        AuditAction.SEND_OUTCOME,
        actor=ACTOR,
        object_type="consent",
        object_id=str(consent.pk),
        details={"outcome": outcome, "scan_id": str(consent.scan_id), **details},
    )
    try:
        audit.sign_head()
    except audit.LogBrokenError:
        # Nothing left (or this run refused because of it); the periodic verification shows
        # the broken log to the clinic and the auditors.
        log.error("consent %s: the audit log no longer extends its signed head", consent.pk)
    transaction.on_commit(lambda: metrics.count_send_outcome(outcome))


def _finish_without_sending(
    consent: Consent, token: uuid.UUID, state: str, reason: str, message: str
) -> None:
    """End a claimed consent before any request left (refused by a check, or a bug)."""
    with transaction.atomic():
        if not states.transition(consent.pk, state, holder=token, failure_reason=reason):
            return
        pipeline.transition(
            consent.scan_id, Status.SEND_FAILED, expected={Status.SENDING}, error_message=message
        )
        _audit_outcome(consent, state, reason=reason, attempts=0)
    log.warning("consent %s: not sent (%s)", consent.pk, reason)


def sender_presumed_dead(consent: Consent) -> bool:
    """A consent ``sending`` for longer than any live sender takes (every attempt timing out,
    every back-off waited) lost its sender; a younger one may still be on the wire."""
    cutoff = timezone.now() - timedelta(seconds=settings.SEND_STUCK_AFTER_SECONDS)
    return consent.state_changed_at < cutoff


def settle_unknown(consent: Consent, *, token: uuid.UUID | None = None) -> bool:
    """Mark a consent found mid-send as ``outcome_unknown``: a request may have left, so it is
    never sent again, and the patient is told so. Returns True if this call settled it."""
    name = consent.endpoint_snapshot.get("name", "the AI service")
    with transaction.atomic():
        if not states.transition(
            consent.pk,
            ConsentState.OUTCOME_UNKNOWN,
            holder=token,
            failure_reason="outcome_unknown",
        ):
            return False
        pipeline.transition(
            consent.scan_id,
            Status.SEND_FAILED,
            expected={Status.SENDING},
            error_message=UNKNOWN_MESSAGE.format(name=name)[:300],
        )
        attempts = Consent.objects.filter(pk=consent.pk).values_list("attempts", flat=True).get()
        _audit_outcome(consent, ConsentState.OUTCOME_UNKNOWN, attempts=attempts)
    log.warning("consent %s: found mid-send; outcome unknown, not resent", consent.pk)
    return True


def record_failure(
    consent: Consent, token: uuid.UUID, exc: ForwardingError, last_status: int | None
) -> None:
    reason = _REASONS.get(type(exc).__name__, "forwarding_error")
    with transaction.atomic():
        row = Consent.objects.filter(pk=consent.pk, state=ConsentState.SENDING, claim_token=token)
        attempts = row.values_list("attempts", flat=True).first()
        if attempts is None or not states.transition(
            consent.pk,
            ConsentState.SEND_FAILED,
            holder=token,
            last_status=last_status,
            failure_reason=reason,
        ):
            return
        pipeline.transition(
            consent.scan_id,
            Status.SEND_FAILED,
            expected={Status.SENDING},
            error_message=exc.patient_message[:300],
        )
        _audit_outcome(
            consent, ConsentState.SEND_FAILED, reason=reason, status=last_status, attempts=attempts
        )
    # str(exc) is written for administrators and never holds patient data (errors.py).
    log.warning("consent %s: sending failed: %s", consent.pk, exc)


def record_answer(
    consent: Consent, token: uuid.UUID, endpoint: Endpoint, text: str, status: int
) -> Answer | None:
    """Seal the answer, finish the consent and the scan, and tell the patient by email."""
    vault = get_vault()
    # Rendered here, once, in the worker: a page or the API never parses a hostile answer.
    info = vault.put_bytes(answers.sealed_answer(text))
    text_sha256 = sha256_hex(text.encode("utf-8"))
    try:
        with transaction.atomic():
            row = Consent.objects.filter(
                pk=consent.pk, state=ConsentState.SENDING, claim_token=token
            )
            attempts = row.values_list("attempts", flat=True).first()
            if attempts is None or not states.transition(
                consent.pk, ConsentState.SENT, holder=token, last_status=status
            ):
                # Another run settled it as outcome_unknown meanwhile; that verdict stands.
                vault.shred(info.object_id)
                return None
            answer = Answer.objects.create(
                consent_id=consent.pk,
                scan_id=consent.scan_id,
                answer_object=info.object_id,
                sha256=text_sha256,
                endpoint_name=endpoint.name,
                model=endpoint.model,
            )
            pipeline.transition(
                consent.scan_id, Status.ANSWERED, expected={Status.SENDING}, error_message=""
            )
            _audit_outcome(
                consent,
                ConsentState.SENT,
                status=status,
                answer_sha256=text_sha256,
                answer_id=str(answer.pk),
                attempts=attempts,
            )
            scan_id = consent.scan_id
            transaction.on_commit(lambda: notify_patient(scan_id), robust=True)
    except BaseException:
        vault.shred(info.object_id)
        raise
    log.info("consent %s: answered", consent.pk)
    return answer


def _mail_language(scan: Scan) -> str:
    """The patient's own language if their account has one, else the language they consented
    in (the newest consent), else the site's."""
    supported = {code for code, _name in settings.LANGUAGES}
    if scan.owner.language in supported:
        return scan.owner.language
    consented = scan.consents.order_by("-given_at").values_list("consent_language", flat=True)
    return next((c for c in consented[:1] if c in supported), settings.LANGUAGE_CODE)


def notify_patient(scan_id: uuid.UUID) -> None:
    """Email the patient that an answer is waiting; no medical content, just a sign-in link."""
    scan = Scan.objects.select_related("owner").get(pk=scan_id)
    link = settings.PUBLIC_URL.rstrip("/") + reverse("scans:detail", args=[scan_id])
    with translation.override(_mail_language(scan)):
        subject = gettext(NOTIFICATION_SUBJECT)
        body = gettext(NOTIFICATION_BODY).format(link=link)
    try:
        send_mail(
            subject,
            body,
            None,
            [scan.owner.email],
        )
    except Exception as exc:
        # smtplib's errors quote the recipient's address: the type and place only.
        log.warning("scan %s: answer notification could not be sent: %s", scan_id, describe(exc))
