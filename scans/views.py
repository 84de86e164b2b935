"""The patient's pages: upload, list, a scan's progress and review, previews, delete."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Role
from accounts.roles import role_required, signed_in_user
from audit.actions import AuditAction
from audit.log import append as audit
from scans import originals, queries, reports, series, wording
from scans.deid.text import PixelError
from scans.deletion import delete_scan
from scans.explain import explain
from scans.intake import IntakeRejected
from scans.models import Scan, ScanImage
from scans.refusals import refusal_page
from scans.rendering import AS_SAVED, PRESETS, choices_for
from scans.submission import submit_scan
from scans.upload import rejection_response, sealed_uploads, upload_rejection

patient_only = role_required(Role.PATIENT)


def _list_context(request: HttpRequest, error: str = "") -> dict[str, Any]:
    scans = list(queries.scans_of(signed_in_user(request)))
    return {
        "scans": [{"scan": scan, **series.headline(scan)} for scan in scans],
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
    messages.success(request, _("Uploaded and encrypted. De-identification has started."))
    return redirect("scans:detail", scan_id=scan.id)


@require_GET
@patient_only
def scan_detail(request: HttpRequest, scan_id: uuid.UUID) -> HttpResponse:
    scan = queries.scan_of(signed_in_user(request), scan_id)
    groups, held = series.series_of(scan)
    rows = {row["image"].pk: row for row in reports.image_rows(scan)}
    return render(
        request,
        "scans/detail.html",
        {
            "scan": scan,
            "series": [
                {
                    "series": group,
                    "viewer": _viewer_data(scan, group),
                    "windows": choices_for(group.modality),
                    "rows": [rows[image.pk] for image in group.images],
                }
                for group in groups
            ],
            "held": [rows[image.pk] for image in held],
            "not_images": [row for row in rows.values() if row["not_image"]],
            "summary": reports.plain_summary(scan),
            "explained": explain(list(scan.images.all())),
            "scan_message": wording.scan_message(scan.error_message),
        },
    )


def _viewer_data(scan: Scan, group: series.Series) -> dict[str, Any]:
    """What static/js/viewer.js needs for one series: each slice's picture URLs, in order."""
    return {
        "window": group.default_window,
        "slices": [
            {
                "id": str(image.pk),
                "position": image.position,
                "instance": image.display.get("instance"),
                "boxes": bool(reports.regions_of(image)) or image.needs_check,
                "frames": int(image.display.get("frames") or 1),
                "original": image.original_preview_object is not None,
            }
            for image in group.images
        ],
        "base": reverse("scans:detail", args=[scan.pk]) + "images/",
        "dicom": group.first.kind == "dicom",
    }


@require_GET
@patient_only
def removed_values(request: HttpRequest, scan_id: uuid.UUID) -> HttpResponse:
    """The original values of what was removed, for the owner: decrypted for this response
    only, never cached or logged; the audit records that they were read, by ids."""
    user = signed_in_user(request)
    scan = queries.scan_of(user, scan_id)
    image = originals.first_dicom_image(scan)
    groups = originals.removed_values(image) if image is not None else None
    audit(
        AuditAction.ORIGINAL_VALUES_VIEWED,
        actor=user.pseudonym,
        object_type="scan",
        object_id=str(scan.pk),
        details={"scan_id": str(scan.pk)} | ({"image_id": str(image.pk)} if image else {}),
    )
    response = render(
        request, "scans/removed_values.html", {"scan": scan, "image": image, "groups": groups}
    )
    response["Cache-Control"] = "no-store, private"
    return response


@require_GET
@patient_only
def scan_status(request: HttpRequest, scan_id: uuid.UUID) -> JsonResponse:
    scan = queries.scan_of(signed_in_user(request), scan_id)
    return JsonResponse(
        {
            "status": scan.status,
            "status_label": scan.get_status_display(),
            "progress": {"done": scan.progress_done, "total": scan.progress_total},
            "error_message": wording.scan_message(scan.error_message),
        }
    )


@require_http_methods(["GET", "POST"])
@patient_only
def scan_delete(request: HttpRequest, scan_id: uuid.UUID) -> HttpResponse:
    """GET asks to confirm (a click alone never deletes); POST deletes."""
    scan = queries.scan_of(signed_in_user(request), scan_id)
    if request.method == "GET":
        return render(
            request,
            "confirm.html",
            {
                "title": _("Delete this scan?"),
                "what": _("The scan uploaded %(when)s")
                % {"when": date_format(scan.created_at, "j M Y, H:i")},
                "consequence": _(
                    "Its files, previews, sanitized copies and answers are destroyed (their "
                    "encryption keys are deleted). This cannot be undone."
                ),
                "action": _("Delete scan"),
                "back": reverse("scans:detail", args=[scan.pk]),
            },
        )
    if delete_scan(scan, actor=scan.owner.pseudonym):
        messages.success(request, _("The scan was deleted and its encrypted files destroyed."))
        return redirect("scans:list")
    messages.error(request, _("This scan is being sent right now; delete it once sending ends."))
    return redirect("scans:detail", scan_id=scan.id)


@require_GET
@patient_only
def preview(request: HttpRequest, scan_id: uuid.UUID, image_id: uuid.UUID) -> HttpResponse:
    scan = queries.scan_of(signed_in_user(request), scan_id)
    return queries.preview_response(scan, image_id, original=False)


@require_GET
@patient_only
def windowed(
    request: HttpRequest, scan_id: uuid.UUID, image_id: uuid.UUID, key: str
) -> HttpResponse:
    """A sanitized slice in a CT window (or as saved), for the viewer; ?boxes=1 outlines
    the blacked-out areas."""
    scan = queries.scan_of(signed_in_user(request), scan_id)
    image = queries.image_of(scan, image_id)
    if (key != AS_SAVED and key not in PRESETS) or image.sanitized_object is None:
        raise Http404("No such rendering.")
    frame = _frame(request, image)
    try:
        png = series.windowed_png(image, key, outline=request.GET.get("boxes") == "1", frame=frame)
    except PixelError:
        # Not a DICOM image, or pixels this gateway cannot window: the reviewed preview.
        return queries.preview_response(scan, image_id, original=False)
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "no-store, private"
    return response


def _frame(request: HttpRequest, image: ScanImage) -> int | None:
    """``?frame=N`` (from 0) of a multi-frame image; None for the middle frame."""
    asked = request.GET.get("frame")
    if asked is None:
        return None
    frames = int(image.display.get("frames") or 1)
    if not asked.isdigit() or int(asked) >= frames:
        raise Http404("No such frame.")
    return int(asked)


@require_GET
@patient_only
def original_preview(request: HttpRequest, scan_id: uuid.UUID, image_id: uuid.UUID) -> HttpResponse:
    scan = queries.scan_of(signed_in_user(request), scan_id)
    return queries.preview_response(scan, image_id, original=True)
