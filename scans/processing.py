"""De-identifying one scan: the body of the ``process_scan`` task.

Steps, one image at a time so memory stays bounded whatever the study's size:
claim -> for each image: decrypt -> clean -> verify -> seal outputs -> preview -> attest
-> ready_for_review (some images clean) or quarantined (none clean).

The run holds a lease on the scan. A second message for the same scan while the lease is alive
does nothing; after a crash the lease runs out, the sweeper re-enqueues, and the next run starts
from a clean slate (it shreds whatever the dead run sealed), so outputs are never duplicated.
Plaintext exists only in this process's memory: nothing is written to a temporary file.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO, cast

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.actions import AuditAction
from audit.log import append as audit
from scans import attestation, metrics, pipeline
from scans.deid.engine import DeidKeys, DeidOptions, FileResult, deidentify_bytes
from scans.deid.preview import render_dicom_preview, render_photo_preview
from scans.intake import iter_zip_members
from scans.inventory import image_outputs
from scans.limits import intake_limits
from scans.logsafe import describe
from scans.models import FileKind, Outcome, Scan, ScanFile, ScanImage, Status
from vault import get_vault
from vault.keys import read_key

log = logging.getLogger(__name__)

CLAIMABLE = (Status.UPLOADED, Status.QUEUED, Status.DEIDENTIFYING)


class LeaseLost(Exception):
    """The scan was deleted, or another run took it over, while this run was working."""


@dataclass
class Lease:
    scan_id: uuid.UUID
    token: uuid.UUID

    def renew(self) -> None:
        renewed = Scan.objects.filter(
            pk=self.scan_id, lease_token=self.token, status=Status.DEIDENTIFYING
        ).update(lease_expires_at=_lease_expiry())
        if not renewed:
            raise LeaseLost(str(self.scan_id))


def _lease_expiry():
    return timezone.now() + timedelta(seconds=settings.DEID_LEASE_SECONDS)


def claim(scan_id: str) -> Lease | None:
    """Take the scan for this run, or return None if it is done, deleted, or held by a live run."""
    token = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        scan = (
            Scan.objects.select_for_update()
            .filter(pk=scan_id, status__in=CLAIMABLE)
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
            .first()
        )
        if scan is None:
            return None
        if scan.status != Status.DEIDENTIFYING:
            pipeline.transition(scan.pk, Status.DEIDENTIFYING, expected={scan.status})
        Scan.objects.filter(pk=scan.pk).update(lease_token=token, lease_expires_at=_lease_expiry())
    return Lease(scan.pk, token)


def deid_keys() -> DeidKeys:
    return DeidKeys(secret=read_key(settings.DEID_KEY_PATH))


def deid_options() -> DeidOptions:
    return DeidOptions(
        retain_dates=settings.DEID_RETAIN_DATES,
        clean_descriptors=settings.DEID_CLEAN_DESCRIPTORS,
        exempt_modalities=settings.DEID_EXEMPT_MODALITIES,
    )


def discard_outputs(scan_id: uuid.UUID) -> None:
    """Shred what an earlier, interrupted run of this scan sealed, so this run starts clean."""
    vault = get_vault()
    for image in ScanImage.objects.filter(scan_id=scan_id):
        for obj in image_outputs(image):
            vault.shred(obj)
    ScanImage.objects.filter(scan_id=scan_id).delete()
    Scan.objects.filter(pk=scan_id).update(progress_done=0)


def iter_file_images(file: ScanFile) -> Iterator[bytes | None]:
    """The plaintext of each image in an uploaded file: the file itself, or each ZIP member.

    An image larger than DEID_MAX_IMAGE_BYTES yields None instead of its bytes: one image is
    held in memory at a time, and that bound is what keeps a worker from being exhausted.
    """
    vault = get_vault()
    cap = settings.DEID_MAX_IMAGE_BYTES
    original = file.vault_object
    # Retention never takes the originals of a scan being processed (scans.busy).
    assert original is not None
    if file.kind != FileKind.ZIP:
        yield vault.read_bytes(original) if vault.size(original) <= cap else None
        return
    with vault.open(original) as sealed:
        for _index, _kind, opener in iter_zip_members(
            cast(BinaryIO, sealed), intake_limits(), position=file.position
        ):
            with opener() as member:
                data = member.read(cap + 1)
            yield data if len(data) <= cap else None


def too_large(kind: str) -> FileResult:
    limit_mib = settings.DEID_MAX_IMAGE_BYTES // (1024 * 1024)
    return FileResult(
        "rejected",
        f"this image is larger than {limit_mib} MiB, more than the gateway processes safely",
        "dicom" if kind in (FileKind.DICOM, FileKind.ZIP) else "photo",
    )


def process_scan(scan_id: str) -> None:
    lease = claim(scan_id)
    if lease is None:
        log.info("scan %s: nothing to do (done, deleted, or held by a live run)", scan_id)
        return
    try:
        discard_outputs(lease.scan_id)
        outcomes = _process_images(lease)
    except LeaseLost:
        log.info("scan %s: lease lost mid-run; leaving it to the holder", scan_id)
        return
    except (OperationalError, InterfaceError):
        # The database went away mid-run (a restart, a failover): nothing is wrong with the scan.
        # Its lease runs out and the sweeper hands it back; the next run starts from a clean
        # slate. Marking it failed here, once the connection is back, would lose the patient's
        # upload for a blip.
        log.warning("scan %s: database connection lost mid-run; left to the sweeper", scan_id)
        return
    except Exception as exc:
        log.error("scan %s: de-identification failed: %s", scan_id, describe(exc))
        discard_outputs(lease.scan_id)
        if _finish(
            lease,
            Status.FAILED,
            "Something went wrong while de-identifying this scan. "
            "Nothing was sent anywhere. Please delete it and upload it again.",
        ):
            audit(
                AuditAction.SCAN_DEIDENTIFIED,
                actor="worker",
                object_type="scan",
                object_id=str(lease.scan_id),
                details={"outcome": "failed"},
            )
        return
    clean = outcomes.count(Outcome.CLEAN)
    if clean:
        finished = _finish(lease, Status.READY_FOR_REVIEW, "")
    else:
        finished = _finish(
            lease,
            Status.QUARANTINED,
            "No image could be made safe to share, so none can be sent. "
            "See each image's reason below.",
        )
    if finished:
        audit(
            AuditAction.SCAN_DEIDENTIFIED,
            actor="worker",
            object_type="scan",
            object_id=str(lease.scan_id),
            details={
                "outcome": "ready_for_review" if clean else "quarantined",
                "clean": clean,
                "quarantined": outcomes.count(Outcome.QUARANTINED),
                "rejected": outcomes.count(Outcome.REJECTED),
            },
        )
    log.info("scan %s: %d clean of %d image(s)", scan_id, clean, len(outcomes))


def _finish(lease: Lease, status: str, message: str) -> bool:
    """Record the run's outcome, if this run still holds the scan. Returns whether it did."""
    with transaction.atomic():
        held = (
            Scan.objects.select_for_update()
            .filter(pk=lease.scan_id, lease_token=lease.token, status=Status.DEIDENTIFYING)
            .exists()
        )
        if not held:
            return False
        return pipeline.transition(
            lease.scan_id,
            status,
            expected={Status.DEIDENTIFYING},
            error_message=message,
            lease_token=None,
            lease_expires_at=None,
        )


def _process_images(lease: Lease) -> list[str]:
    keys, options = deid_keys(), deid_options()
    scan = Scan.objects.select_related("owner").get(pk=lease.scan_id)
    outcomes: list[str] = []
    position = 0
    for file in scan.files.all():
        for data in iter_file_images(file):
            position += 1
            started = time.monotonic()
            result = (
                deidentify_bytes(data, keys=keys, options=options)
                if data is not None
                else too_large(file.kind)
            )
            metrics.observe_deid_image(time.monotonic() - started, result.outcome)
            lease.renew()
            _store_image(scan, file, position, data or b"", result)
            del data
            outcomes.append(result.outcome)
            Scan.objects.filter(pk=scan.pk, lease_token=lease.token).update(progress_done=position)
    Scan.objects.filter(pk=scan.pk).update(progress_total=position)
    return outcomes


def _store_image(
    scan: Scan, file: ScanFile, position: int, original: bytes, result: FileResult
) -> None:
    """Seal one image's outputs and record it. Only clean images get a sanitized copy.

    The outputs' vault keys commit in one transaction with the image row, so a worker killed in
    between leaves no key for an object that no row references (which ``discard_outputs`` could
    never find, and deleting the scan could never shred): at most unreadable ciphertext.
    """
    vault = get_vault()
    sealed: list[uuid.UUID] = []
    try:
        with transaction.atomic():
            image = ScanImage(
                scan=scan,
                source=file,
                position=position,
                outcome=result.outcome,
                reason=result.reason[:300],
                kind=result.kind,
                modality=result.modality[:16],
                report=result.report,
            )
            regions = result.report.get("pixels", {}).get("regions", [])
            if Outcome(result.outcome) == Outcome.CLEAN and result.output is not None:
                info = vault.put_bytes(result.output)
                sealed.append(info.object_id)
                image.sanitized_object = info.object_id
                image.sanitized_sha256 = info.sha256
                image.sanitized_size = info.size
                image.attestation = attestation.attest(info.sha256, scan.pk)
                preview = _preview(result.kind, result.output, regions, outline=True)
                preview_info = vault.put_bytes(preview)
                sealed.append(preview_info.object_id)
                image.preview_object = preview_info.object_id
            # The owner may compare with the original; its preview is sealed like everything else.
            with suppress(Exception), transaction.atomic():
                original_preview = _preview(result.kind, original, [], outline=False)
                original_info = vault.put_bytes(original_preview)
                sealed.append(original_info.object_id)
                image.original_preview_object = original_info.object_id
            image.save()
    except Exception:
        # The keys rolled back with the transaction; shredding now removes the blobs too.
        for object_id in sealed:
            vault.shred(object_id)
        raise


def _preview(kind: str, data: bytes, regions: list, *, outline: bool) -> bytes:
    if kind == "dicom":
        return render_dicom_preview(data, regions=regions, outline=outline)
    return render_photo_preview(data, regions=regions, outline=outline)
