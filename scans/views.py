"""The patient's pages: upload, list, a scan's progress and review, previews, delete."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role
from accounts.roles import role_required, signed_in_user
from scans import queries, reports
from scans.deletion import delete_scan
from scans.intake import IntakeRejected
from scans.refusals import refusal_page
from scans.submission import submit_scan
from scans.upload import rejection_response, sealed_uploads, upload_rejection

patient_only = role_required(Role.PATIENT)


def _list_context(request: HttpRequest, error: str = "") -> dict[str, Any]:
    return {
        "scans": queries.scans_of(signed_in_user(request)),
        "max_files": settings.UPLOAD_MAX_FILES,
        "max_mib": settings.UPLOAD_MAX_BYTES // (1024 * 1024),
        "chunk_bytes": settings.RESUMABLE_CHUNK_BYTES,
        "error": error,
    }


@require_GET
@patient_only
def scan_list(request: HttpRequest) -> HttpResponse:
    return render(request, "scans/list.html", _list_context(request))


@require_POST
@patient_only
def upload(request: HttpRequest) -> HttpResponse:
    request.FILES  # noqa: B018 - parse the body now, through the encrypting handler
    rejection = upload_rejection(request)
    if rejection is not None:
        return rejection_response(request, rejection)
    try:
        scan = submit_scan(signed_in_user(request), sealed_uploads(request))
    except IntakeRejected as exc:
        return refusal_page(request, "scans/list.html", _list_context(request), exc)
    messages.success(request, "Uploaded and encrypted. De-identification has started.")
    return redirect("scans:detail", scan_id=scan.id)


@require_GET
@patient_only
def scan_detail(request: HttpRequest, scan_id: uuid.UUID) -> HttpResponse:
    scan = queries.scan_of(signed_in_user(request), scan_id)
    return render(
        request,
        "scans/detail.html",
        {
            "scan": scan,
            "images": reports.image_rows(scan),
            "summary": reports.plain_summary(scan),
        },
    )


@require_GET
@patient_only
def scan_status(request: HttpRequest, scan_id: uuid.UUID) -> JsonResponse:
    scan = queries.scan_of(signed_in_user(request), scan_id)
    return JsonResponse(
        {
            "status": scan.status,
            "status_label": scan.get_status_display(),
            "progress": {"done": scan.progress_done, "total": scan.progress_total},
            "error_message": scan.error_message,
        }
    )


@require_POST
@patient_only
def scan_delete(request: HttpRequest, scan_id: uuid.UUID) -> HttpResponse:
    scan = queries.scan_of(signed_in_user(request), scan_id)
    if delete_scan(scan, actor=scan.owner.pseudonym):
        messages.success(request, "The scan was deleted and its encrypted files destroyed.")
        return redirect("scans:list")
    messages.error(request, "This scan is being sent right now; delete it once sending ends.")
    return redirect("scans:detail", scan_id=scan.id)


@require_GET
@patient_only
def preview(request: HttpRequest, scan_id: uuid.UUID, image_id: uuid.UUID) -> HttpResponse:
    scan = queries.scan_of(signed_in_user(request), scan_id)
    return queries.preview_response(scan, image_id, original=False)


@require_GET
@patient_only
def original_preview(request: HttpRequest, scan_id: uuid.UUID, image_id: uuid.UUID) -> HttpResponse:
    scan = queries.scan_of(signed_in_user(request), scan_id)
    return queries.preview_response(scan, image_id, original=True)
