"""Looking up a patient's own scans: anything else is a 404, never a 403 that confirms it exists."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404, HttpResponse

from accounts.models import User
from audit.actions import AuditAction
from audit.log import append as audit
from scans.models import Scan, ScanImage, Status
from vault import get_vault


def scans_of(user: User) -> QuerySet[Scan]:
    return Scan.objects.filter(owner=user).exclude(status=Status.DELETED).prefetch_related("images")


def scan_of(user: User, scan_id: uuid.UUID) -> Scan:
    scan = scans_of(user).filter(pk=scan_id).first()
    if scan is None:
        raise Http404("No such scan.")
    return scan


def image_of(scan: Scan, image_id: uuid.UUID) -> ScanImage:
    image = scan.images.filter(pk=image_id).first()
    if image is None:
        raise Http404("No such image.")
    return image


def preview_response(scan: Scan, image_id: uuid.UUID, *, original: bool) -> HttpResponse:
    """The PNG preview of one image, decrypted for this response only and never cached."""
    image = image_of(scan, image_id)
    object_id = image.original_preview_object if original else image.preview_object
    if object_id is None:
        raise Http404("This image has no preview.")
    audit(
        AuditAction.PREVIEW_VIEWED,
        actor=scan.owner.pseudonym,
        object_type="image",
        object_id=str(image.pk),
        details={"scan": str(scan.pk), "original": original},
    )
    response = HttpResponse(get_vault().read_bytes(object_id), content_type="image/png")
    response["Cache-Control"] = "no-store, private"
    return response
