"""Consent, answers and endpoints in the JSON API (mounted on the one API by ``gateway.api``).

The flow a client follows: list endpoints, create a consent request for a scan (the response
holds the consent text, the manifest, their hashes and a link to each image exactly as it would
be sent), accept it by echoing both hashes with ``affirm: true``, then poll the consent and read
the answer. A patient only ever sees their own objects: everything else is a 404.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import translation
from ninja import Router, Schema, Status

from forwarding.models import Endpoint
from scans import answers, queries
from scans.api import patient_of as _patient
from scans.consent.acceptance import accept
from scans.consent.queries import consent_of, enabled_endpoints, request_of
from scans.consent.receipts import receipt
from scans.consent.requests import prepared_image, request_consent
from scans.consent.withdrawal import withdraw
from scans.models import Consent, ConsentRequest

router = Router(tags=["consent"])


class Error(Schema):
    code: str
    detail: str


class ConsentError(Schema):
    code: str
    detail: str
    warnings: list[str] = []


class EndpointOut(Schema):
    id: uuid.UUID
    name: str
    protocol: str
    host: str
    model: str
    max_images: int
    data_use_note: str
    is_local: bool


class ConsentRequestIn(Schema):
    endpoint: uuid.UUID
    question: str
    image_ids: list[uuid.UUID] | None = None
    confirm_identifiers: bool = False


class PreparedImageOut(Schema):
    image_id: uuid.UUID
    preview_url: str
    mime: str
    bytes: int
    sha256: str


class ConsentRequestOut(Schema):
    id: uuid.UUID
    scan_id: uuid.UUID
    consent_text: str
    consent_text_sha256: str
    # The consent text's language (from Accept-Language; "en" when there is no text in it).
    consent_language: str
    consent_text_version: str
    manifest: str
    manifest_sha256: str
    expires_at: datetime
    images: list[PreparedImageOut]
    warnings: list[str]


class AcceptIn(Schema):
    consent_text_sha256: str
    manifest_sha256: str
    affirm: bool = False


class AcceptOut(Schema):
    consent_id: uuid.UUID
    status: str


class ConsentOut(Schema):
    id: uuid.UUID
    scan_id: uuid.UUID
    state: str
    state_label: str
    endpoint: str
    host: str
    model: str
    given_at: datetime
    expires_at: datetime
    state_changed_at: datetime
    attempts: int
    manifest_sha256: str
    consent_text_sha256: str
    consent_language: str
    answer_id: uuid.UUID | None


class AnswerOut(Schema):
    id: uuid.UUID
    consent_id: uuid.UUID
    endpoint: str
    model: str
    created_at: datetime
    markdown: str
    html: str
    disclaimer: str


def _request_out(consent_request: ConsentRequest) -> dict[str, Any]:
    return {
        "id": consent_request.id,
        "scan_id": consent_request.scan_id,
        "consent_text": consent_request.consent_text,
        "consent_text_sha256": consent_request.consent_text_sha256,
        "consent_language": consent_request.consent_language,
        "consent_text_version": consent_request.consent_text_version,
        "manifest": consent_request.manifest,
        "manifest_sha256": consent_request.manifest_sha256,
        "expires_at": consent_request.expires_at,
        "images": [
            {
                "image_id": item["image_id"],
                "preview_url": reverse(
                    "api-1:consent_request_image",
                    kwargs={"request_id": consent_request.id, "image_id": item["image_id"]},
                ),
                "mime": item["mime"],
                "bytes": item["bytes"],
                "sha256": item["sha256"],
            }
            for item in consent_request.prepared
        ],
        "warnings": consent_request.question_warnings,
    }


def _consent_out(record: Consent) -> dict[str, Any]:
    answer = getattr(record, "answer", None)
    return {
        "id": record.id,
        "scan_id": record.scan_id,
        "state": record.state,
        "state_label": record.get_state_display(),
        "endpoint": record.endpoint_snapshot.get("name", ""),
        "host": record.endpoint_snapshot.get("host", ""),
        "model": record.endpoint_snapshot.get("model", ""),
        "given_at": record.given_at,
        "expires_at": record.expires_at,
        "state_changed_at": record.state_changed_at,
        "attempts": record.attempts,
        "manifest_sha256": record.manifest_sha256,
        "consent_text_sha256": record.consent_text_sha256,
        "consent_language": record.consent_language,
        "answer_id": answer.id if answer and answer.deleted_at is None else None,
    }


@router.get("/endpoints", response=list[EndpointOut], summary="AI services you can ask")
def list_endpoints(request: HttpRequest) -> list[Endpoint]:
    _patient(request)
    return list(enabled_endpoints())


@router.post(
    "/scans/{scan_id}/consent-requests",
    response={201: ConsentRequestOut, 400: ConsentError, 404: Error, 409: ConsentError},
    summary="Prepare what would be sent, and the consent text",
    description="Nothing is sent. Without `image_ids`, evenly spaced clean images are chosen "
    "(at most the endpoint's `max_images`). A question that seems to contain identifying "
    "details is refused with 409 and `warnings` until `confirm_identifiers` is true.",
)
def create_consent_request(request: HttpRequest, scan_id: uuid.UUID, body: ConsentRequestIn):
    user = _patient(request)
    scan = queries.scan_of(user, scan_id)
    consent_request = request_consent(
        scan,
        user,
        endpoint_id=body.endpoint,
        question=body.question,
        image_ids=[str(i) for i in body.image_ids] if body.image_ids else None,
        confirm_identifiers=body.confirm_identifiers,
        # Accept-Language (LocaleMiddleware), or the account's language for a signed-in client.
        language=translation.get_language(),
    )
    return Status(201, _request_out(consent_request))


@router.get(
    "/consent-requests/{request_id}",
    response={200: ConsentRequestOut, 404: Error},
    summary="A consent request, as it was prepared",
)
def get_consent_request(request: HttpRequest, request_id: uuid.UUID):
    return _request_out(request_of(_patient(request), request_id))


@router.get(
    "/consent-requests/{request_id}/images/{image_id}",
    response={200: None, 404: Error},
    url_name="consent_request_image",
    summary="The exact bytes of one image as it would be sent",
)
def get_prepared_image(request: HttpRequest, request_id: uuid.UUID, image_id: uuid.UUID):
    consent_request = request_of(_patient(request), request_id)
    data, mime = prepared_image(consent_request, image_id)
    response = HttpResponse(data, content_type=mime)
    response["Cache-Control"] = "no-store, private"
    return response


@router.post(
    "/consent-requests/{request_id}/accept",
    response={201: AcceptOut, 400: ConsentError, 404: Error, 409: ConsentError},
    summary="Give consent: one send of exactly these images and this question",
    description="Echo `consent_text_sha256` and `manifest_sha256` from the request and set "
    "`affirm` to true. Sending starts in the background.",
)
def accept_consent_request(request: HttpRequest, request_id: uuid.UUID, body: AcceptIn):
    user = _patient(request)
    record = accept(
        request_id,
        user,
        body.consent_text_sha256,
        body.manifest_sha256,
        body.affirm,
        request.META.get("REMOTE_ADDR", ""),
        request.headers.get("User-Agent", ""),
    )
    return Status(201, {"consent_id": record.id, "status": record.state})


@router.get(
    "/scans/{scan_id}/consents",
    response={200: list[ConsentOut], 404: Error},
    summary="The consents given for a scan, newest first",
)
def list_consents(request: HttpRequest, scan_id: uuid.UUID):
    scan = queries.scan_of(_patient(request), scan_id)
    return [_consent_out(record) for record in scan.consents.select_related("answer")]


@router.get(
    "/consents/{consent_id}",
    response={200: ConsentOut, 404: Error},
    summary="A consent's state and times",
)
def get_consent(request: HttpRequest, consent_id: uuid.UUID):
    return _consent_out(consent_of(_patient(request), consent_id))


@router.post(
    "/consents/{consent_id}/withdraw",
    response={200: ConsentOut, 404: Error, 409: Error},
    summary="Withdraw a consent before sending starts",
)
def withdraw_consent(request: HttpRequest, consent_id: uuid.UUID):
    user = _patient(request)
    record = consent_of(user, consent_id)
    withdraw(record, user)
    return Status(200, _consent_out(consent_of(user, consent_id)))


@router.get(
    "/consents/{consent_id}/receipt",
    response={200: dict, 404: Error},
    summary="A verifiable receipt from the audit log",
    description="`kind=consent` (default) proves the consent was recorded; `kind=send` "
    "proves the outcome of the send.",
)
def get_receipt(request: HttpRequest, consent_id: uuid.UUID, kind: str = "consent"):
    return receipt(consent_of(_patient(request), consent_id), kind)


@router.get(
    "/scans/{scan_id}/answers",
    response={200: list[AnswerOut], 404: Error},
    summary="The AI's answers for a scan (not a diagnosis)",
)
def list_answers(request: HttpRequest, scan_id: uuid.UUID):
    user = _patient(request)
    scan = queries.scan_of(user, scan_id)
    return [answers.view_answer(answer, user) for answer in answers.answers_of(user, scan)]


@router.get("/answers/{answer_id}", response={200: AnswerOut, 404: Error}, summary="One answer")
def get_answer(request: HttpRequest, answer_id: uuid.UUID):
    user = _patient(request)
    return answers.view_answer(answers.answer_of(user, answer_id), user)


@router.delete(
    "/answers/{answer_id}",
    response={204: None, 404: Error},
    summary="Delete an answer (its text is crypto-shredded)",
)
def remove_answer(request: HttpRequest, answer_id: uuid.UUID):
    user = _patient(request)
    answers.delete_answer(answers.answer_of(user, answer_id), user)
    return Status(204, None)
