"""The scans part of the JSON API, ``/api/v1/scans``: the same operations as the pages.

Mounted on the one API object in ``gateway.api`` (which authenticates with a personal API token
and turns refusals into ``{"code": ..., "detail": ...}``). Another patient's scan is a 404,
exactly like a scan that does not exist.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from accounts.models import Role, User
from scans import queries, reports, wording
from scans.deletion import delete_scan
from scans.errors import UserFacingError, gettext_noop
from scans.models import Scan
from scans.submission import submit_scan
from scans.upload import sealed_uploads, upload_rejection

router = Router()


class Error(Schema):
    code: str
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


def scan_out(scan: Scan) -> dict[str, Any]:
    return {
        "id": scan.id,
        "status": scan.status,
        "status_label": scan.get_status_display(),
        "created_at": scan.created_at,
        "status_changed_at": scan.status_changed_at,
        "file_count": scan.files.count(),
        "progress": {"done": scan.progress_done, "total": scan.progress_total},
        # Stored in English by a worker; ``status`` is the machine-readable part.
        "error_message": wording.scan_message(scan.error_message),
        "images": list(scan.images.all()),
    }


def patient_of(request: HttpRequest) -> User:
    """The API client's account, if it is a patient's (the API's auth let only accounts in)."""
    user = getattr(request, "auth", None)
    if not isinstance(user, User) or user.role != Role.PATIENT:
        raise UserFacingError(
            gettext_noop("Only patient accounts have scans."), 403, code="patients_only"
        )
    return user


@router.post(
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
        raise rejection
    scan = submit_scan(owner, sealed_uploads(request))
    return Status(201, {"id": scan.id, "status": scan.status})


@router.get("/scans", response=list[ScanOut], url_name="scans", summary="Your scans, newest first")
def list_scans(request: HttpRequest):
    return [scan_out(scan) for scan in queries.scans_of(patient_of(request))]


@router.get("/scans/{scan_id}", response={200: ScanOut, 404: Error}, summary="One scan")
def get_scan(request: HttpRequest, scan_id: uuid.UUID):
    return scan_out(queries.scan_of(patient_of(request), scan_id))


@router.delete(
    "/scans/{scan_id}",
    response={204: None, 404: Error, 409: Error},
    summary="Delete a scan and crypto-shred everything it holds",
)
def remove_scan(request: HttpRequest, scan_id: uuid.UUID):
    scan = queries.scan_of(patient_of(request), scan_id)
    if not delete_scan(scan, actor=scan.owner.pseudonym):
        raise UserFacingError(
            gettext_noop("This scan is being sent right now; delete it once sending ends."),
            409,
            code="scan_being_sent",
        )
    return Status(204, None)


@router.get(
    "/scans/{scan_id}/report",
    response={200: dict, 404: Error},
    summary="What de-identification removed and redacted (no original values)",
)
def get_report(request: HttpRequest, scan_id: uuid.UUID):
    return reports.scan_report(queries.scan_of(patient_of(request), scan_id))


@router.get(
    "/scans/{scan_id}/images/{image_id}/preview",
    response={200: None, 404: Error},
    summary="PNG preview of a sanitized image",
)
def get_preview(request: HttpRequest, scan_id: uuid.UUID, image_id: uuid.UUID):
    scan = queries.scan_of(patient_of(request), scan_id)
    return queries.preview_response(scan, image_id, original=False)
