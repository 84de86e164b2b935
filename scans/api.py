"""The JSON API, ``/api/v1/``: the same scan operations as the pages, for scripts and apps.

Authentication is a personal API token (``Authorization: Bearer <token>``). Errors are JSON
``{"detail": "..."}`` with a message a person can act on. Another patient's scan is a 404,
exactly like a scan that does not exist.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.http import HttpRequest, HttpResponse
from ninja import File, NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.files import UploadedFile
from ninja.security import HttpBearer

from accounts.models import Role, User
from accounts.tokens import user_for_bearer
from scans import queries, reports
from scans.intake import IntakeRejected
from scans.models import Scan
from scans.submission import delete_scan, submit_scan
from scans.upload import sealed_uploads, upload_rejection


class BearerToken(HttpBearer):
    def __call__(self, request: HttpRequest):
        return self.authenticate(request, request.headers.get("Authorization", ""))

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        return user_for_bearer(token if token.lower().startswith("bearer ") else f"Bearer {token}")


api = NinjaAPI(
    title="Scan gateway API",
    version="1",
    urls_namespace="api-1",
    auth=BearerToken(),
    description="Upload scans, follow their de-identification, and manage them. "
    "Authenticate with a personal API token: `Authorization: Bearer <token>`.",
)


class Error(Schema):
    detail: str


class Progress(Schema):
    done: int
    total: int


class ImageOut(Schema):
    id: uuid.UUID
    position: int
    outcome: str
    reason: str
    kind: str
    modality: str


class ScanOut(Schema):
    id: uuid.UUID
    status: str
    status_label: str
    created_at: datetime
    status_changed_at: datetime
    file_count: int
    progress: Progress
    error_message: str
    images: list[ImageOut]


class ScanCreated(Schema):
    id: uuid.UUID
    status: str


def scan_out(scan: Scan) -> dict:
    return {
        "id": scan.id,
        "status": scan.status,
        "status_label": scan.get_status_display(),
        "created_at": scan.created_at,
        "status_changed_at": scan.status_changed_at,
        "file_count": scan.files.count(),
        "progress": {"done": scan.progress_done, "total": scan.progress_total},
        "error_message": scan.error_message,
        "images": list(scan.images.all()),
    }


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
    return api.create_response(
        request,
        {
            "detail": "Authentication required: send a personal API token as "
            "'Authorization: Bearer <token>'."
        },
        status=401,
    )


@api.exception_handler(ValidationError)
def on_invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    rejection = upload_rejection(request)
    if rejection is not None:
        # The upload handler stopped reading the body (too large, storage full ...), so a
        # missing `files` is a symptom; its reason is the one the client needs.
        return api.create_response(request, {"detail": rejection.message}, status=rejection.status)
    fields = sorted(
        {".".join(str(p) for p in err.get("loc", [])[1:]) or "body" for err in exc.errors}
    )
    return api.create_response(
        request, {"detail": f"The request is not valid; check: {', '.join(fields)}."}, status=400
    )


def patient_of(request: HttpRequest) -> User:
    user: User = request.auth
    if user.role != Role.PATIENT:
        raise HttpError(403, "Only patient accounts have scans.")
    return user


@api.post(
    "/scans",
    response={
        201: ScanCreated,
        400: Error,
        401: Error,
        403: Error,
        413: Error,
        415: Error,
        507: Error,
    },
    url_name="scans",
    summary="Upload a study",
    description="Multipart form with one or more `files` (DICOM files, ZIP archives of DICOM "
    "files, JPEG or PNG photos). Every file is encrypted as it arrives; if any file is refused, "
    "nothing is stored.",
)
def create_scan(request: HttpRequest, files: list[UploadedFile] = File(...)):
    owner = patient_of(request)
    rejection = upload_rejection(request)
    if rejection is not None:
        return Status(rejection.status, {"detail": rejection.message})
    try:
        scan = submit_scan(owner, sealed_uploads(request))
    except IntakeRejected as exc:
        return Status(exc.status, {"detail": exc.message})
    return Status(201, {"id": scan.id, "status": scan.status})


@api.get("/scans", response=list[ScanOut], url_name="scans", summary="Your scans, newest first")
def list_scans(request: HttpRequest):
    return [scan_out(scan) for scan in queries.scans_of(patient_of(request))]


@api.get("/scans/{scan_id}", response={200: ScanOut, 404: Error}, summary="One scan")
def get_scan(request: HttpRequest, scan_id: uuid.UUID):
    return scan_out(queries.scan_of(patient_of(request), scan_id))


@api.delete(
    "/scans/{scan_id}",
    response={204: None, 404: Error, 409: Error},
    summary="Delete a scan and crypto-shred everything it holds",
)
def remove_scan(request: HttpRequest, scan_id: uuid.UUID):
    scan = queries.scan_of(patient_of(request), scan_id)
    if not delete_scan(scan, actor=scan.owner.pseudonym):
        return Status(
            409, {"detail": "This scan is being sent right now; delete it once sending ends."}
        )
    return Status(204, None)


@api.get(
    "/scans/{scan_id}/report",
    response={200: dict, 404: Error},
    summary="What de-identification removed and redacted (no original values)",
)
def get_report(request: HttpRequest, scan_id: uuid.UUID):
    return reports.scan_report(queries.scan_of(patient_of(request), scan_id))


@api.get(
    "/scans/{scan_id}/images/{image_id}/preview",
    response={200: None, 404: Error},
    summary="PNG preview of a sanitized image",
)
def get_preview(request: HttpRequest, scan_id: uuid.UUID, image_id: uuid.UUID):
    scan = queries.scan_of(patient_of(request), scan_id)
    return queries.preview_response(scan, image_id, original=False)


# Consent, endpoints and answers live in their own module; mounted here so the schema is one.
from scans.api_consent import router as consent_router  # noqa: E402

api.add_router("", consent_router)

from scans.audit.api import router as audit_router  # noqa: E402

api.add_router("/audit", audit_router)
