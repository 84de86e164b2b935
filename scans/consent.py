"""Consent: preparing exactly what would leave, the patient's agreement to it, and its end.

A consent request prepares every image exactly as it will be sent (read from the vault, checked
against its attestation, scaled for the endpoint, sealed again) and seals the question, then
describes all of it in a canonical manifest. The consent text names the endpoint, the number
of images and the expiry, and the patient's consent commits to the hashes of both. Nothing here
sends anything: ``scans.sending`` does, once, and only for an active, unexpired consent.

Questions are checked for identifying details before anything is prepared: names and ids from
the scan's original headers, dates, phone numbers, email addresses, long numbers and the
account's own address. The patient is told which kinds were found (never the values) and must
edit the question or confirm it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pydicom
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.errors import InvalidDicomError

from accounts.models import User
from scans import pipeline
from scans.attestation import is_attested
from scans.audit import log as audit
from scans.audit.models import AuditEntry
from scans.deid.identifiers import Identifiers, collect_identifiers
from scans.deid.preview import scale_for_sending
from scans.deid.text import PixelError
from scans.forwarding.endpoints import snapshot
from scans.forwarding.models import Endpoint
from scans.intake import IntakeRejected, iter_zip_members
from scans.models import (
    Consent,
    ConsentRequest,
    ConsentState,
    FileKind,
    Outcome,
    Scan,
    ScanImage,
    Status,
)
from scans.vault import VaultError, get_vault

log = logging.getLogger(__name__)

CONSENT_TEXT_VERSION = "2026-11-2"
# The sender's retries after a timeout or a temporary error, disclosed in the consent text.
RETRIES_DISCLOSED = 3
DEFAULT_TTL_SECONDS = 24 * 60 * 60
MAX_QUESTION_CHARS = 4000
# Headers of this many original DICOM images are read for names and ids: a study's images
# share the patient module, so more would cost time and find nothing new.
HEADER_SAMPLE = 3
# A scan may be consented from these statuses (answered / send_failed: another try).
CONSENTABLE = frozenset({Status.READY_FOR_REVIEW, Status.ANSWERED, Status.SEND_FAILED})

NO_DATA_USE_NOTE = (
    "The operator of this gateway has not described how this AI service handles what it receives."
)


class ConsentError(Exception):
    """A consent step refused; ``message`` is written for the patient, ``status`` for HTTP."""

    def __init__(self, message: str, status: int = 400, warnings: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.warnings = list(warnings)


class QuestionNeedsConfirmation(ConsentError):
    """The question looks like it holds identifying details; the patient must edit or confirm."""

    def __init__(self, warnings: Sequence[str]) -> None:
        super().__init__(
            "Your question may contain details that identify you: "
            + "; ".join(warnings)
            + ". Edit the question, or confirm that you want to send it as it is.",
            status=409,
            warnings=warnings,
        )


# --- Looking things up for their owner (anything else is a 404) ---------------------------------


def requests_of(user: User) -> QuerySet[ConsentRequest]:
    return ConsentRequest.objects.filter(scan__owner=user).exclude(scan__status=Status.DELETED)


def request_of(user: User, request_id: uuid.UUID | str) -> ConsentRequest:
    found = requests_of(user).select_related("scan", "endpoint").filter(pk=request_id).first()
    if found is None:
        raise Http404("No such consent request.")
    return found


def consent_of(user: User, consent_id: uuid.UUID | str) -> Consent:
    found = (
        Consent.objects.filter(pk=consent_id, scan__owner=user)
        .exclude(scan__status=Status.DELETED)
        .select_related("scan")
        .first()
    )
    if found is None:
        raise Http404("No such consent.")
    return found


def enabled_endpoints() -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(enabled=True)


# --- Which images may be sent -------------------------------------------------------------------


def sendable_images(scan: Scan) -> list[ScanImage]:
    """Clean images with a sanitized copy and a valid attestation, in study order."""
    return [
        image
        for image in scan.images.filter(outcome=Outcome.CLEAN, sanitized_object__isnull=False)
        if is_attested(image.sanitized_sha256, scan.pk, image.attestation)
    ]


def default_selection(images: Sequence[ScanImage], cap: int) -> list[ScanImage]:
    """``cap`` images spread evenly from first to last, so the whole study is represented
    rather than its first slices."""
    count = min(len(images), cap)
    if count <= 0:
        return []
    if count == 1:
        return [images[len(images) // 2]]
    last = len(images) - 1
    picks = sorted({round(i * last / (count - 1)) for i in range(count)})
    return [images[i] for i in picks]


def _chosen_images(
    scan: Scan, endpoint: Endpoint, image_ids: Sequence[str] | None
) -> list[ScanImage]:
    if not image_ids:
        chosen = default_selection(sendable_images(scan), endpoint.max_images)
        if not chosen:
            raise ConsentError("This scan has no image that can be sent.", status=409)
        return chosen
    by_id = {str(image.id): image for image in scan.images.all()}
    chosen: list[ScanImage] = []
    for raw in dict.fromkeys(str(i) for i in image_ids):
        image = by_id.get(raw)
        if image is None:
            raise ConsentError("One of the chosen images is not part of this scan.", status=400)
        if image.outcome != Outcome.CLEAN or image.sanitized_object is None:
            raise ConsentError(
                f"Image {image.position} was not made safe to share "
                f"({image.get_outcome_display().lower()}), so it can never be sent.",
                status=400,
            )
        if not is_attested(image.sanitized_sha256, scan.pk, image.attestation):
            raise ConsentError(
                f"Image {image.position} has no valid verification record, so it cannot be "
                "sent. Please upload the scan again.",
                status=400,
            )
        chosen.append(image)
    if len(chosen) > endpoint.max_images:
        raise ConsentError(
            f"{endpoint.name} accepts at most {endpoint.max_images} images; you chose "
            f"{len(chosen)}.",
            status=400,
        )
    return sorted(chosen, key=lambda image: image.position)


# --- Checking the question for identifiers ------------------------------------------------------

NAME = "a name from your scan"
SCAN_ID = "a patient or record number from your scan"
SCAN_DETAIL = "a detail from your scan's header (such as a hospital or address)"
SCAN_DATE = "a date from your scan"
DATE = "a date"
PHONE = "a phone number"
EMAIL = "an email address"
LONG_NUMBER = "a long number (it may be an id)"
ACCOUNT = "your account's email address or user name"

_DATE_PATTERNS = (
    re.compile(r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b"),
    re.compile(r"\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b"),
    re.compile(
        r"\b\d{1,2}(st|nd|rd|th)?\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
        r"\.?(\s+\d{2,4})?\b|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
        r"\s+\d{1,2}(st|nd|rd|th)?,?\s+\d{4}\b",
        re.IGNORECASE,
    ),
)
_PHONE = re.compile(r"(?<![\w])(\+|00)?\d[\d\s().-]{7,}\d(?![\w])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_LONG_DIGITS = re.compile(r"\d{6,}")
_ID_KEYWORDS = re.compile(r"ID|Number|Identifier", re.IGNORECASE)


def _contains(text: str, value: str) -> bool:
    """``value`` occurs in ``text`` as a whole word (case-insensitive)."""
    pattern = r"(?<![^\W_])" + re.escape(value) + r"(?![^\W_])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def _iter_original_headers(scan: Scan, limit: int = HEADER_SAMPLE) -> Iterator[pydicom.Dataset]:
    """Headers (no pixels) of the first ``limit`` original DICOM images, decrypted in memory."""
    from scans.submission import intake_limits

    vault = get_vault()
    found = 0
    for file in scan.files.filter(kind__in=[FileKind.DICOM, FileKind.ZIP]):
        if file.vault_object is None:
            continue
        try:
            if file.kind == FileKind.DICOM:
                with vault.open(file.vault_object) as reader:
                    yield pydicom.dcmread(reader, stop_before_pixels=True, force=True)
                found += 1
            else:
                with vault.open(file.vault_object) as sealed:
                    members = iter_zip_members(sealed, intake_limits(), file.position)
                    for _number, kind, opener in members:
                        if kind != "dicom":
                            continue
                        # Straight from the member stream: only the header is read, never the
                        # pixels (a member can be gigabytes).
                        with opener() as member:
                            header = pydicom.dcmread(member, stop_before_pixels=True, force=True)
                        yield header
                        found += 1
                        if found >= limit:
                            break
        except (InvalidDicomError, IntakeRejected, VaultError, ValueError, EOFError):
            log.warning(
                "scan %s: an original header could not be read for the question check", scan.pk
            )
            continue
        if found >= limit:
            return


def scan_identifiers(scan: Scan) -> Identifiers:
    """Identifying values from the scan's original headers; held in memory only."""
    merged = Identifiers()
    values: set[str] = set()
    dates: set[str] = set()
    sources: dict[str, str] = {}
    for ds in _iter_original_headers(scan):
        found = collect_identifiers(ds)
        values |= found.values
        dates |= found.dates
        sources.update(found.sources)
    if not values and not dates:
        return merged
    return Identifiers(values=frozenset(values), dates=frozenset(dates), sources=sources)


def _category_of(source: str) -> str:
    """Which kind of detail a header value is, from the attribute it came from."""
    tag = tag_for_keyword(source)
    if tag is not None and dictionary_VR(tag) == "PN":
        return NAME
    if _ID_KEYWORDS.search(source):
        return SCAN_ID
    return SCAN_DETAIL


def question_warnings(question: str, *, identifiers: Identifiers, email: str) -> list[str]:
    """The kinds of identifying detail found in ``question``, in a stable order, no values."""
    found: set[str] = set()
    for value in identifiers.values:
        if _contains(question, value):
            found.add(_category_of(identifiers.sources.get(value, "")))
    for value in identifiers.dates:
        if _contains(question, value):
            found.add(SCAN_DATE)
    if any(pattern.search(question) for pattern in _DATE_PATTERNS):
        found.add(DATE)
    if _EMAIL.search(question):
        found.add(EMAIL)
    without_emails = _EMAIL.sub(" ", question)
    if _LONG_DIGITS.search(without_emails):
        found.add(LONG_NUMBER)
    if any(
        sum(c.isdigit() for c in match.group()) >= 8 for match in _PHONE.finditer(without_emails)
    ):
        found.add(PHONE)
    local_part = email.split("@", 1)[0]
    if email and (
        _contains(question, email) or (len(local_part) >= 3 and _contains(question, local_part))
    ):
        found.add(ACCOUNT)
    order = [NAME, SCAN_ID, SCAN_DATE, SCAN_DETAIL, ACCOUNT, EMAIL, PHONE, DATE, LONG_NUMBER]
    return [category for category in order if category in found]


def check_question(scan: Scan, user: User, question: str) -> list[str]:
    return question_warnings(question, identifiers=scan_identifiers(scan), email=user.email)


# --- Preparing a request ------------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    """One spelling per value (sorted keys, no whitespace), so its hash is reproducible."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_manifest(
    endpoint_snapshot: dict[str, Any], images: Iterable[dict[str, Any]], question_sha256: str
) -> str:
    return canonical_json(
        {
            "endpoint": endpoint_snapshot,
            "images": [
                {key: image[key] for key in ("image_id", "sha256", "mime", "bytes")}
                for image in images
            ],
            "question_sha256": question_sha256,
        }
    )


def ttl() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "CONSENT_TTL_SECONDS", DEFAULT_TTL_SECONDS)))


def render_consent_text(
    endpoint: Endpoint, *, image_count: int, manifest_sha256: str, expires_at: datetime
) -> str:
    """The words the patient agrees to. Any change of wording needs a new CONSENT_TEXT_VERSION."""
    images = "1 de-identified image" if image_count == 1 else f"{image_count} de-identified images"
    note = endpoint.data_use_note.strip() or NO_DATA_USE_NOTE
    when = expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "Consent to ask an AI service about my scan "
        f"(consent text version {CONSENT_TEXT_VERSION})\n"
        "\n"
        f'I agree that this gateway sends, once, to the AI service "{endpoint.name}" at '
        f"{endpoint.host} (model {endpoint.model}, protocol {endpoint.protocol}, "
        f"configuration version {endpoint.config_version}):\n"
        f"- {images} from my scan, exactly as they were shown to me;\n"
        "- my question, exactly as I wrote it.\n"
        "\n"
        f"How this service handles what it receives: {note}\n"
        "\n"
        "This consent covers ONE send of these images and this question to this endpoint, and "
        "nothing else: not other images, not another service, not a second send. I can withdraw "
        "it until sending starts. If it has not been used by "
        f"{when}, it expires and nothing is sent.\n"
        "\n"
        "If the service does not answer in time or reports a temporary error, the gateway repeats "
        f"this same request, unchanged, at most {RETRIES_DISCLOSED} more times, so the service may "
        "receive it more than once. Nothing is sent after an answer arrives.\n"
        "\n"
        "The answer comes from an AI model. It is not a diagnosis and does not replace a doctor.\n"
        f"\nReference of the exact content: {manifest_sha256}\n"
    )


@dataclass(frozen=True)
class Prepared:
    image_id: str
    object_id: str
    sha256: str
    mime: str
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "object_id": self.object_id,
            "sha256": self.sha256,
            "mime": self.mime,
            "bytes": self.bytes,
        }


def prepare_image(scan: Scan, image: ScanImage, endpoint: Endpoint) -> Prepared:
    """Seal the image exactly as it would be sent; refuse one whose bytes or attestation fail."""
    vault = get_vault()
    data = vault.read_bytes(image.sanitized_object)
    if sha256_hex(data) != image.sanitized_sha256 or not is_attested(
        image.sanitized_sha256, scan.pk, image.attestation
    ):
        raise ConsentError(
            f"Image {image.position} no longer matches what was verified, so it cannot be sent.",
            status=409,
        )
    try:
        scaled, mime = scale_for_sending(
            data, max_side=endpoint.max_image_side, max_bytes=endpoint.max_image_bytes
        )
    except PixelError as exc:
        raise ConsentError(
            f"Image {image.position} cannot be made small enough for {endpoint.name}.",
            status=400,
        ) from exc
    info = vault.put_bytes(scaled)
    return Prepared(str(image.id), str(info.object_id), info.sha256, mime, info.size)


def request_consent(
    scan: Scan,
    user: User,
    *,
    endpoint_id: uuid.UUID | str,
    question: str,
    image_ids: Sequence[str] | None = None,
    confirm_identifiers: bool = False,
) -> ConsentRequest:
    """Prepare what would be sent and the consent text; nothing leaves the gateway here.

    Raises ConsentError (with a message for the patient) for a scan that cannot be consented,
    an unknown or disabled endpoint, images that are not clean and attested, too many images,
    an empty question; QuestionNeedsConfirmation when the question seems to hold identifying
    details and ``confirm_identifiers`` is false.
    """
    if scan.status not in CONSENTABLE:
        raise ConsentError(
            f"This scan cannot be sent right now: it is {scan.get_status_display().lower()}.",
            status=409,
        )
    endpoint = enabled_endpoints().filter(pk=endpoint_id).first()
    if endpoint is None:
        raise ConsentError("Choose one of the AI services offered.", status=400)
    question = question.strip()
    if not question:
        raise ConsentError("Write the question you want to ask.", status=400)
    if len(question) > MAX_QUESTION_CHARS:
        raise ConsentError(f"Keep the question under {MAX_QUESTION_CHARS} characters.", status=400)
    chosen = _chosen_images(scan, endpoint, image_ids)
    warnings = check_question(scan, user, question)
    if warnings and not confirm_identifiers:
        raise QuestionNeedsConfirmation(warnings)

    vault = get_vault()
    sealed: list[str] = []
    try:
        prepared = []
        for image in chosen:
            item = prepare_image(scan, image, endpoint)
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
        )
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
                consent_text_version=CONSENT_TEXT_VERSION,
                consent_text_sha256=sha256_hex(text.encode("utf-8")),
                question_warnings=warnings,
                warnings_confirmed=bool(warnings),
                expires_at=expires_at,
            )
            audit.append(
                "consent.requested",
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


# --- Accepting ----------------------------------------------------------------------------------


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
        raise ConsentError("Tick the box to confirm that you agree.", status=400)
    if not (
        hmac.compare_digest(consent_text_sha256, consent_request.consent_text_sha256)
        and hmac.compare_digest(manifest_sha256, consent_request.manifest_sha256)
    ):
        raise ConsentError(
            "What you agreed to does not match what was prepared. Review it again.", status=409
        )
    now = timezone.now()
    if consent_request.expires_at <= now:
        raise ConsentError("This consent request has expired. Please start again.", status=409)
    endpoint = consent_request.endpoint
    if not endpoint.enabled or snapshot(endpoint) != consent_request.endpoint_snapshot:
        raise ConsentError(
            "This AI service was changed or switched off after you reviewed it. "
            "Please start again.",
            status=409,
        )
    with transaction.atomic():
        claimed = ConsentRequest.objects.filter(
            pk=consent_request.pk, accepted_at__isnull=True
        ).update(accepted_at=now)
        if not claimed:
            raise ConsentError("You have already answered this consent request.", status=409)
        scan_id = consent_request.scan_id
        if not pipeline.transition(scan_id, Status.CONSENTED, expected=CONSENTABLE):
            raise ConsentError(
                "This scan cannot be sent right now (it may be sending already or deleted).",
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
            manifest=consent_request.manifest,
            manifest_sha256=consent_request.manifest_sha256,
            question_object=consent_request.question_object,
            prepared_objects={p["image_id"]: p["object_id"] for p in consent_request.prepared},
            given_at=now,
            expires_at=consent_request.expires_at,
            client_hash=client_hash(ip, user_agent),
        )
        audit.append(
            "consent.given",
            actor=user.pseudonym,
            object_type="consent",
            object_id=str(consent.id),
            details={
                "scan_id": str(scan_id),
                "request_id": str(consent_request.pk),
                "endpoint_id": str(endpoint.id),
                "config_version": endpoint.config_version,
                "consent_text_version": f"v{CONSENT_TEXT_VERSION}",
                "consent_text_sha256": consent.consent_text_sha256,
                "manifest_sha256": consent.manifest_sha256,
                "image_count": len(consent_request.prepared),
                "client_hash": consent.client_hash,
                "expires_at": int(consent.expires_at.timestamp()),
            },
        )
        consent_id = str(consent.id)
        # The head that anchors this consent is signed by the worker that holds the key.
        transaction.on_commit(enqueue_head_signing, robust=True)
        transaction.on_commit(lambda: enqueue_send(consent_id), robust=True)
    return consent


def enqueue_head_signing() -> None:
    """Ask a worker to sign a tree head now (ids only: the message has no arguments). If the
    broker is down, beat's periodic signing covers the entry a few minutes later."""
    from scans.tasks import sign_audit_tree_head

    sign_audit_tree_head.delay()


def enqueue_send(consent_id: str) -> None:
    """Hand the consent to the send queue (ids only). If the broker is down, the consent stays
    active; ``redeliver_lost_consents`` (the sweeper) tries again until it expires."""
    from scans.tasks import send_consent

    send_consent.delay(consent_id)


# --- Withdrawal and expiry ----------------------------------------------------------------------


def withdraw(consent: Consent, user: User) -> None:
    """Withdraw a consent that has not started sending; raises ConsentError once it has."""
    now = timezone.now()
    with transaction.atomic():
        changed = Consent.objects.filter(pk=consent.pk, state=ConsentState.ACTIVE).update(
            state=ConsentState.WITHDRAWN, state_changed_at=now
        )
        if not changed:
            raise ConsentError(
                "This consent can no longer be withdrawn: sending has started or it has ended.",
                status=409,
            )
        pipeline.transition(consent.scan_id, Status.READY_FOR_REVIEW, expected={Status.CONSENTED})
        audit.append(
            "consent.withdrawn",
            actor=user.pseudonym,
            object_type="consent",
            object_id=str(consent.pk),
            details={"scan_id": str(consent.scan_id)},
        )


def expire_consent(consent_id: uuid.UUID | str) -> bool:
    """Mark an active consent past its expiry as expired; True if this call did it."""
    now = timezone.now()
    with transaction.atomic():
        consent = Consent.objects.filter(pk=consent_id).only("scan_id").first()
        if consent is None:
            return False
        changed = Consent.objects.filter(
            pk=consent_id, state=ConsentState.ACTIVE, expires_at__lte=now
        ).update(state=ConsentState.EXPIRED, state_changed_at=now)
        if not changed:
            return False
        pipeline.transition(consent.scan_id, Status.READY_FOR_REVIEW, expected={Status.CONSENTED})
        audit.append(
            "consent.expired",
            actor="system",
            object_type="consent",
            object_id=str(consent_id),
            details={"scan_id": str(consent.scan_id)},
        )
    return True


def expire_stale_consents() -> int:
    """For the sweeper: expire every unused consent past its time; returns how many."""
    stale = Consent.objects.filter(
        state=ConsentState.ACTIVE, expires_at__lte=timezone.now()
    ).values_list("pk", flat=True)
    return sum(expire_consent(consent_id) for consent_id in list(stale))


def discard_expired_requests() -> int:
    """For the sweeper: shred the prepared images and question of requests that expired
    without consent. Nothing of them may be sent any more, so nothing of them is kept."""
    vault = get_vault()
    stale = ConsentRequest.objects.filter(accepted_at__isnull=True, expires_at__lte=timezone.now())
    count = 0
    for consent_request in stale:
        # Delete first, and only if still unaccepted: an accept racing with the sweeper then
        # finds no request to accept, and never a request whose objects are gone.
        if not ConsentRequest.objects.filter(
            pk=consent_request.pk, accepted_at__isnull=True
        ).delete()[0]:
            continue
        for item in consent_request.prepared:
            vault.shred(item["object_id"])
        vault.shred(consent_request.question_object)
        count += 1
    return count


def redeliver_lost_consents(older_than_seconds: int = 120) -> int:
    """For the sweeper: re-enqueue active consents whose message may have been lost.

    Safe to repeat: the sender claims a consent with a conditional update, so a duplicate
    message finds nothing to do.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    lost = Consent.objects.filter(
        state=ConsentState.ACTIVE, given_at__lt=cutoff, expires_at__gt=timezone.now()
    ).values_list("pk", flat=True)
    count = 0
    for consent_id in list(lost):
        try:
            enqueue_send(str(consent_id))
        except Exception:
            log.warning("consent redelivery: broker unreachable, will retry", exc_info=True)
            break
        count += 1
    return count


# --- Receipts and storage -----------------------------------------------------------------------

RECEIPT_ACTIONS = {"consent": "consent.given", "send": "send.outcome"}


def receipt(consent: Consent, kind: str) -> dict[str, Any]:
    """The audit receipt for the consent ("consent") or its send's outcome ("send")."""
    action = RECEIPT_ACTIONS.get(kind)
    if action is None:
        raise Http404("No such receipt.")
    entry = (
        AuditEntry.objects.filter(action=action, object_type="consent", object_id=str(consent.pk))
        .order_by("seq")
        .first()
    )
    if entry is None:
        raise Http404("There is no record of this yet.")
    return audit.receipt_for(entry)


def vault_objects_of_consents(scan: Scan) -> list[uuid.UUID]:
    """Every vault object consent holds for ``scan``: prepared images, questions, answers.
    Deleting a scan must shred these too."""
    objects: list[uuid.UUID] = []
    for consent_request in scan.consent_requests.all():
        objects.append(consent_request.question_object)
        objects.extend(uuid.UUID(item["object_id"]) for item in consent_request.prepared)
    objects.extend(
        answer.answer_object for answer in scan.answers.all() if answer.answer_object is not None
    )
    return objects
