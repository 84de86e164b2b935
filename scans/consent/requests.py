"""Preparing a consent request: exactly what would be sent, and the consent text.

Every image is read from the vault, checked against its attestation, scaled for the endpoint and
sealed again; the question is sealed too; a canonical manifest describes all of it. Nothing
leaves the gateway here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from audit import log as audit
from audit.actions import AuditAction
from forwarding.endpoints import snapshot
from forwarding.models import Endpoint
from scans.attestation import is_attested
from scans.consent.errors import ConsentError, QuestionNeedsConfirmation
from scans.consent.headers import check_question
from scans.consent.queries import enabled_endpoints
from scans.consent.selection import chosen_images
from scans.consent.states import CONSENTABLE
from scans.consent.text import consent_language, consent_text_version, render_consent_text
from scans.deid.preview import scale_for_sending
from scans.deid.text import PixelError
from scans.hashing import canonical_json, sha256_hex
from scans.models import ConsentRequest, Scan, ScanImage
from scans.rendering import window_bounds
from vault import VaultError, get_vault

MAX_QUESTION_CHARS = 4000


def build_manifest(
    endpoint_snapshot: dict[str, Any], images: Iterable[dict[str, Any]], question_sha256: str
) -> str:
    return canonical_json(
        {
            "endpoint": endpoint_snapshot,
            "images": [
                {
                    key: image[key]
                    for key in ("image_id", "sha256", "mime", "bytes", "window")
                    if key in image
                }
                for image in images
            ],
            "question_sha256": question_sha256,
        }
    )


def ttl() -> timedelta:
    return timedelta(seconds=settings.CONSENT_TTL_SECONDS)


@dataclass(frozen=True)
class Prepared:
    image_id: str
    object_id: str
    sha256: str
    mime: str
    bytes: int
    # The CT window the picture was rendered in (scans.rendering); "" for the file's own.
    window: str = ""

    def as_dict(self) -> dict[str, Any]:
        item = {
            "image_id": self.image_id,
            "object_id": self.object_id,
            "sha256": self.sha256,
            "mime": self.mime,
            "bytes": self.bytes,
        }
        if self.window:
            item["window"] = self.window
        return item


def prepare_image(scan: Scan, image: ScanImage, endpoint: Endpoint, window: str = "") -> Prepared:
    """Seal the image exactly as it would be sent (in CT window ``window`` if one is named);
    refuse one whose bytes or attestation fail."""
    window = window if window_bounds(window) is not None else ""
    vault = get_vault()
    assert image.sanitized_object is not None  # only clean images with a sanitized copy are chosen
    data = vault.read_bytes(image.sanitized_object)
    if sha256_hex(data) != image.sanitized_sha256 or not is_attested(
        image.sanitized_sha256, scan.pk, image.attestation
    ):
        raise ConsentError(
            _("Image %(position)s no longer matches what was verified, so it cannot be sent.")
            % {"position": image.position},
            status=409,
        )
    try:
        scaled, mime = scale_for_sending(
            data,
            max_side=endpoint.max_image_side,
            max_bytes=endpoint.max_image_bytes,
            window=window_bounds(window),
        )
    except PixelError as exc:
        raise ConsentError(
            _("Image %(position)s cannot be made small enough for %(name)s.")
            % {"position": image.position, "name": endpoint.name},
            status=400,
        ) from exc
    info = vault.put_bytes(scaled)
    return Prepared(str(image.id), str(info.object_id), info.sha256, mime, info.size, window)


def request_consent(
    scan: Scan,
    user: User,
    *,
    endpoint_id: uuid.UUID | str,
    question: str,
    image_ids: Sequence[str] | None = None,
    confirm_identifiers: bool = False,
    windows: Mapping[str, str] | None = None,
    language: str = "en",
) -> ConsentRequest:
    """Prepare what would be sent and the consent text; nothing leaves the gateway here.

    Raises ConsentError (with a message for the patient) for a scan that cannot be consented,
    an unknown or disabled endpoint, images that are not clean and attested, too many images,
    an empty question; QuestionNeedsConfirmation when the question seems to hold identifying
    details and ``confirm_identifiers`` is false. ``windows`` names, by image id, the CT
    window an image is rendered in (the manifest records it); others keep the file's own.
    ``language`` is the page's language: the consent text is written in it (English when the
    gateway has no consent text in that language) and the request records which one.
    """
    if scan.status not in CONSENTABLE:
        raise ConsentError(
            _("This scan cannot be sent right now: it is %(status)s.")
            % {"status": scan.get_status_display().lower()},
            status=409,
        )
    endpoint = enabled_endpoints().filter(pk=endpoint_id).first()
    if endpoint is None:
        raise ConsentError(_("Choose one of the AI services offered."), status=400)
    question = question.strip()
    if not question:
        raise ConsentError(_("Write the question you want to ask."), status=400)
    if len(question) > MAX_QUESTION_CHARS:
        raise ConsentError(
            _("Keep the question under %(count)s characters.") % {"count": MAX_QUESTION_CHARS},
            status=400,
        )
    chosen = chosen_images(scan, endpoint, image_ids)
    warnings = check_question(scan, user, question)
    if warnings and not confirm_identifiers:
        raise QuestionNeedsConfirmation(warnings)

    vault = get_vault()
    sealed: list[str] = []
    try:
        prepared = []
        for image in chosen:
            item = prepare_image(scan, image, endpoint, (windows or {}).get(str(image.id), ""))
            sealed.append(item.object_id)
            prepared.append(item)
        question_info = vault.put_bytes(question.encode("utf-8"))
        sealed.append(str(question_info.object_id))
        endpoint_snapshot = snapshot(endpoint)
        manifest = build_manifest(
            endpoint_snapshot, [p.as_dict() for p in prepared], question_info.sha256
        )
        manifest_sha256 = sha256_hex(manifest.encode("utf-8"))
        expires_at = timezone.now() + ttl()
        text = render_consent_text(
            endpoint,
            image_count=len(prepared),
            manifest_sha256=manifest_sha256,
            expires_at=expires_at,
            language=language,
        )
        language = consent_language(language)
        with transaction.atomic():
            consent_request = ConsentRequest.objects.create(
                scan=scan,
                endpoint=endpoint,
                endpoint_snapshot=endpoint_snapshot,
                question_object=question_info.object_id,
                question_sha256=question_info.sha256,
                prepared=[p.as_dict() for p in prepared],
                manifest=manifest,
                manifest_sha256=manifest_sha256,
                consent_text=text,
                consent_text_version=consent_text_version(language),
                consent_text_sha256=sha256_hex(text.encode("utf-8")),
                consent_language=language,
                question_warnings=warnings,
                warnings_confirmed=bool(warnings),
                expires_at=expires_at,
            )
            audit.append(
                AuditAction.CONSENT_REQUESTED,
                actor=user.pseudonym,
                object_type="consent_request",
                object_id=str(consent_request.id),
                details={
                    "scan_id": str(scan.pk),
                    "endpoint_id": str(endpoint.id),
                    "config_version": endpoint.config_version,
                    "image_count": len(prepared),
                    "manifest_sha256": manifest_sha256,
                    "question_flagged": bool(warnings),
                    "identifiers_confirmed": bool(warnings) and confirm_identifiers,
                },
            )
    except BaseException:
        for object_id in sealed:
            vault.shred(object_id)
        raise
    return consent_request


def prepared_image(consent_request: ConsentRequest, image_id: uuid.UUID | str) -> tuple[bytes, str]:
    """The exact bytes (and type) of one prepared image, for the patient to look at."""
    for item in consent_request.prepared:
        if item["image_id"] == str(image_id):
            try:
                return get_vault().read_bytes(item["object_id"]), item["mime"]
            except VaultError as exc:
                raise Http404("This prepared image is no longer available.") from exc
    raise Http404("No such image in this consent request.")


def question_of(consent_request: ConsentRequest) -> str:
    return get_vault().read_bytes(consent_request.question_object).decode("utf-8")
