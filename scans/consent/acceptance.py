"""Accepting a consent request: the patient's consent to ONE send of exactly what they saw."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from audit import log as audit
from audit.actions import AuditAction
from forwarding.endpoints import snapshot
from scans import pipeline
from scans.consent.errors import ConsentError
from scans.consent.queries import request_of
from scans.consent.states import CONSENTABLE
from scans.models import Consent, ConsentRequest, Status
from scans.queue import enqueue_head_signing, enqueue_send


def client_hash(ip: str, user_agent: str) -> str:
    """A keyed hash of where the consent came from: comparable later, never reversible."""
    key = hashlib.sha256(b"consent-client-v1|" + settings.SECRET_KEY.encode("utf-8")).digest()
    return hmac.new(key, f"{ip}\n{user_agent}".encode(), hashlib.sha256).hexdigest()


def accept(
    request_id: uuid.UUID | str,
    user: User,
    consent_text_sha256: str,
    manifest_sha256: str,
    affirm: bool,
    ip: str,
    user_agent: str,
) -> Consent:
    """Record the patient's consent to the request and hand it to the sender after commit.

    Refuses (ConsentError) unless the patient affirmed, both hashes match what they were shown,
    the request is unexpired and not yet accepted, the endpoint is unchanged and enabled, and
    the scan can be consented. Exactly one consent can ever come from a request.
    """
    consent_request = request_of(user, request_id)
    if affirm is not True:
        raise ConsentError(_("Tick the box to confirm that you agree."), status=400)
    if not (
        hmac.compare_digest(consent_text_sha256, consent_request.consent_text_sha256)
        and hmac.compare_digest(manifest_sha256, consent_request.manifest_sha256)
    ):
        raise ConsentError(
            _("What you agreed to does not match what was prepared. Review it again."), status=409
        )
    now = timezone.now()
    if consent_request.expires_at <= now:
        raise ConsentError(
            _("This consent request has expired. Please start again."), status=409
        )
    endpoint = consent_request.endpoint
    if not endpoint.enabled or snapshot(endpoint) != consent_request.endpoint_snapshot:
        raise ConsentError(
            _(
                "This AI service was changed or switched off after you reviewed it. "
                "Please start again."
            ),
            status=409,
        )
    with transaction.atomic():
        claimed = ConsentRequest.objects.filter(
            pk=consent_request.pk, accepted_at__isnull=True
        ).update(accepted_at=now)
        if not claimed:
            raise ConsentError(
                _("You have already answered this consent request."), status=409
            )
        scan_id = consent_request.scan_id
        if not pipeline.transition(scan_id, Status.CONSENTED, expected=CONSENTABLE):
            raise ConsentError(
                _("This scan cannot be sent right now (it may be sending already or deleted)."),
                status=409,
            )
        consent = Consent.objects.create(
            request=consent_request,
            scan_id=scan_id,
            patient_pseudonym=user.pseudonym,
            endpoint=endpoint,
            endpoint_snapshot=consent_request.endpoint_snapshot,
            consent_text=consent_request.consent_text,
            consent_text_version=consent_request.consent_text_version,
            consent_text_sha256=consent_request.consent_text_sha256,
            consent_language=consent_request.consent_language,
            manifest=consent_request.manifest,
            manifest_sha256=consent_request.manifest_sha256,
            question_object=consent_request.question_object,
            prepared_objects={p["image_id"]: p["object_id"] for p in consent_request.prepared},
            given_at=now,
            expires_at=consent_request.expires_at,
            client_hash=client_hash(ip, user_agent),
        )
        audit.append(
            AuditAction.CONSENT_GIVEN,
            actor=user.pseudonym,
            object_type="consent",
            object_id=str(consent.id),
            details={
                "scan_id": str(scan_id),
                "request_id": str(consent_request.pk),
                "endpoint_id": str(endpoint.id),
                "config_version": endpoint.config_version,
                "consent_text_version": f"v{consent.consent_text_version}",
                "consent_text_sha256": consent.consent_text_sha256,
                "consent_language": consent.consent_language,
                "manifest_sha256": consent.manifest_sha256,
                "image_count": len(consent_request.prepared),
                "client_hash": consent.client_hash,
                "expires_at": int(consent.expires_at.timestamp()),
            },
        )
        consent_id = str(consent.id)
        # The head that anchors this consent is signed by a worker that holds the key (web only
        # verifies); the sender signs again, checking the whole log, before anything leaves.
        transaction.on_commit(enqueue_head_signing, robust=True)
        transaction.on_commit(lambda: enqueue_send(consent_id), robust=True)
    return consent
