"""Quarantine help: a clinician blacks out regions of an image the verifier held back.

Only for a study the clinic handed over, only while the patient's scan waits for their review,
and only for uncompressed pixel data. The boxes are painted over the *original* instance, and
the result goes through the same de-identification engine and verifier again
(``deidentify_bytes``): the image is released to the patient's review only if that says clean,
exactly as for an upload. Nothing is ever sent without the patient's own consent.
"""

from __future__ import annotations

import io
import logging
import re

import pydicom
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from audit.actions import AuditAction
from audit.log import append as audit
from clinic.pacs.models import Handoff
from scans import attestation, pipeline
from scans.deid.engine import deidentify_bytes
from scans.deid.preview import render_dicom_preview
from scans.errors import UserFacingError
from scans.models import Outcome, Scan, ScanImage, Status
from scans.processing import deid_keys, deid_options
from vault import get_vault

log = logging.getLogger(__name__)

# A scan with images held back, before the patient moved on: waiting for review (some images
# clean) or quarantined (none clean yet).
HELPABLE = frozenset({Status.READY_FOR_REVIEW, Status.QUARANTINED})

Box = tuple[int, int, int, int]
MAX_BOXES = 32
_BOX = re.compile(r"\s*(\d{1,5})\s*,\s*(\d{1,5})\s*,\s*(\d{1,5})\s*,\s*(\d{1,5})\s*")


class RedactionRefused(UserFacingError):
    """A redaction that cannot be applied; the message is for the clinician."""

    code = "redaction_refused"


def parse_boxes(text: str) -> list[Box]:
    """``x0,y0,x1,y1`` boxes in pixels, separated by ``;`` or new lines."""
    boxes = []
    for chunk in re.split(r"[;\n]", text):
        if not chunk.strip():
            continue
        match = _BOX.fullmatch(chunk)
        if match is None:
            raise RedactionRefused(_("Give each box as x0,y0,x1,y1 in pixels, one per line."))
        x0, y0, x1, y1 = (int(v) for v in match.groups())
        if x1 <= x0 or y1 <= y0:
            raise RedactionRefused(_("Each box needs x1 > x0 and y1 > y0."))
        boxes.append((x0, y0, x1, y1))
    if not boxes or len(boxes) > MAX_BOXES:
        raise RedactionRefused(_("Give between 1 and %(count)s boxes.") % {"count": MAX_BOXES})
    return boxes


def _painted(original: bytes, boxes: list[Box]) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(original))
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        raise RedactionRefused(_("Only uncompressed images can be redacted here."))
    pixels = ds.pixel_array.copy()
    rows, columns = int(ds.Rows), int(ds.Columns)
    for x0, y0, x1, y1 in boxes:
        if x1 > columns or y1 > rows:
            raise RedactionRefused(
                _("A box lies outside the image (%(columns)s x %(rows)s pixels).")
                % {"columns": columns, "rows": rows}
            )
        pixels[..., y0:y1, x0:x1] = pixels.min()
    ds.PixelData = pixels.tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def redact_and_verify(handoff: Handoff, image_id: str, boxes: list[Box], *, clinician: User) -> str:
    """Paint ``boxes`` over the held-back image, de-identify and verify again; returns the new
    outcome ("clean" releases it to the patient's review, anything else changes nothing)."""
    image = (
        ScanImage.objects.filter(pk=image_id, scan=handoff.scan, outcome=Outcome.QUARANTINED)
        .select_related("source")
        .first()
    )
    if image is None or image.kind != "dicom" or image.source.vault_object is None:
        raise RedactionRefused(_("That image is not one held back from this study."))
    if handoff.scan.status not in HELPABLE:
        raise RedactionRefused(_("The patient's scan is not waiting for their review any more."))
    vault = get_vault()
    painted = _painted(vault.read_bytes(image.source.vault_object), boxes)
    result = deidentify_bytes(painted, keys=deid_keys(), options=deid_options())
    outcome = str(result.outcome)
    sealed = []
    try:
        with transaction.atomic():
            scan = Scan.objects.select_for_update().get(pk=handoff.scan_id)
            if scan.status not in HELPABLE:
                raise RedactionRefused(
                    _("The patient's scan is not waiting for their review any more.")
                )
            if outcome == Outcome.CLEAN and result.output is not None:
                info = vault.put_bytes(result.output)
                sealed.append(info.object_id)
                regions = result.report.get("pixels", {}).get("regions", [])
                preview = vault.put_bytes(
                    render_dicom_preview(result.output, regions=regions, outline=True)
                )
                sealed.append(preview.object_id)
                ScanImage.objects.filter(pk=image.pk, outcome=Outcome.QUARANTINED).update(
                    outcome=Outcome.CLEAN,
                    reason="",
                    sanitized_object=info.object_id,
                    sanitized_sha256=info.sha256,
                    sanitized_size=info.size,
                    attestation=attestation.attest(info.sha256, scan.pk),
                    preview_object=preview.object_id,
                    report={**result.report, "clinic_redaction": {"boxes": len(boxes)}},
                )
                if scan.status == Status.QUARANTINED:
                    # Its first clean image: the patient can now review the scan (and only
                    # what the verifier released is ever offered for sending).
                    pipeline.transition(
                        scan.pk,
                        Status.READY_FOR_REVIEW,
                        expected={Status.QUARANTINED},
                        error_message="",
                    )
            audit(
                AuditAction.IMAGE_REDACTED,
                actor=clinician.pseudonym,
                object_type="scan",
                object_id=str(scan.pk),
                details={"image": str(image.pk), "boxes": len(boxes), "outcome": outcome},
            )
    except BaseException:
        for object_id in sealed:
            vault.shred(object_id)
        raise
    log.info("clinic redaction of image %s: %s", image.pk, outcome)
    return outcome
