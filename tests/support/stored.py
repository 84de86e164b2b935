"""Builders of scans whose every kind of data really is in the vault, aged as a test needs.

A built scan has one uploaded file, one image with a sanitized copy and two previews, and
optionally a consent (with its prepared image and sealed question) and an answer. Ages are set
with queryset updates, as if the rows had been written that many days ago.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from accounts.models import User
from forwarding.endpoints import create_endpoint
from forwarding.models import Endpoint
from scans.models import (
    Answer,
    Consent,
    ConsentRequest,
    ConsentState,
    Outcome,
    Scan,
    ScanFile,
    ScanImage,
    Status,
)
from tests.support import builders
from vault import get_vault
from vault.models import VaultKey


@dataclass
class StoredScan:
    scan: Scan
    originals: list[uuid.UUID]
    sanitized: list[uuid.UUID]
    consent_material: list[uuid.UUID] = field(default_factory=list)
    question: uuid.UUID | None = None
    answer: Answer | None = None
    answer_object: uuid.UUID | None = None

    @property
    def everything(self) -> list[uuid.UUID]:
        answer = [self.answer_object] if self.answer_object else []
        question = [self.question] if self.question else []
        return self.originals + self.sanitized + self.consent_material + question + answer


def in_vault(object_id: uuid.UUID) -> bool:
    """The object can still be decrypted: its wrapped key exists (and so does its blob)."""
    has_key = VaultKey.objects.filter(object_id=object_id).exists()
    return has_key and get_vault().store.exists(object_id.hex)


def gone(object_id: uuid.UUID) -> bool:
    """Crypto-shredded: no wrapped key, and the blob deleted too."""
    has_key = VaultKey.objects.filter(object_id=object_id).exists()
    return not has_key and not get_vault().store.exists(object_id.hex)


def endpoint() -> Endpoint:
    return Endpoint.objects.filter(name="Test model").first() or create_endpoint(
        name="Test model", protocol="openai", base_url="https://ai.example.org/v1", model="m-1"
    )


def _put(data: bytes) -> uuid.UUID:
    return uuid.UUID(str(get_vault().put_bytes(data).object_id))


def stored_scan(
    owner: User,
    *,
    uploaded_days_ago: float = 0,
    status: str = Status.READY_FOR_REVIEW,
    consent_state: str | None = None,
    consent_expires_in_days: float = -1,
    answered_days_ago: float | None = None,
) -> StoredScan:
    """A scan of ``owner`` with everything in the vault; a consent if ``consent_state`` is
    given (or an answer is), and an answer ``answered_days_ago`` if that is given."""
    now = timezone.now()
    scan = Scan.objects.create(owner=owner, status=status)
    original = _put(builders.make_dicom_bytes())
    file = ScanFile.objects.create(scan=scan, position=1, kind="dicom", size=10,
                                   vault_object=original)
    png = builders.make_png(8, 8)
    sanitized, preview, original_preview = _put(b"clean dicom"), _put(png), _put(png)
    ScanImage.objects.create(
        scan=scan, source=file, position=1, outcome=Outcome.CLEAN, kind="dicom",
        sanitized_object=sanitized, preview_object=preview,
        original_preview_object=original_preview,
    )
    stored = StoredScan(scan, [original, original_preview], [sanitized, preview])
    if answered_days_ago is not None:
        consent_state = ConsentState.SENT
    if consent_state is not None:
        _consent(stored, now, consent_state, consent_expires_in_days)
    if answered_days_ago is not None:
        stored.answer_object = _put(b"the model's answer")
        stored.answer = Answer.objects.create(
            consent=scan.consents.get(), scan=scan, answer_object=stored.answer_object,
            sha256="ab" * 32, endpoint_name="Test model", model="m-1",
        )
        Answer.objects.filter(pk=stored.answer.pk).update(
            created_at=now - timedelta(days=answered_days_ago)
        )
    past = now - timedelta(days=uploaded_days_ago)
    Scan.objects.filter(pk=scan.pk).update(created_at=past, status_changed_at=past)
    scan.refresh_from_db()
    return stored


def _consent(stored: StoredScan, now, state: str, expires_in_days: float) -> None:
    target = endpoint()
    snapshot = {"endpoint_id": str(target.pk), "config_version": target.config_version}
    prepared = _put(b"prepared image")
    question = _put(b"What is this shadow?")
    digest = hashlib.sha256(b"x").hexdigest()
    expires = now + timedelta(days=expires_in_days)
    image_id = str(stored.scan.images.get().pk)
    request = ConsentRequest.objects.create(
        scan=stored.scan, endpoint=target, endpoint_snapshot=snapshot,
        question_object=question, question_sha256=digest,
        prepared=[{"image_id": image_id, "object_id": str(prepared), "sha256": digest,
                   "mime": "image/png", "bytes": 10}],
        manifest="{}", manifest_sha256=digest, consent_text="I agree.",
        consent_text_version="1", consent_text_sha256=digest, expires_at=expires,
        accepted_at=now,
    )
    Consent.objects.create(
        request=request, scan=stored.scan, patient_pseudonym=stored.scan.owner.pseudonym,
        endpoint=target, endpoint_snapshot=snapshot, consent_text="I agree.",
        consent_text_version="1", consent_text_sha256=digest, manifest="{}",
        manifest_sha256=digest, question_object=question,
        prepared_objects={image_id: str(prepared)}, given_at=now, expires_at=expires,
        client_hash=digest, state=state,
    )
    stored.consent_material = [prepared]
    stored.question = question
