"""Turning a set of sealed uploads into a scan, and deleting a scan.

The upload handler has already sealed every file into the vault. Here each file is checked by
content (reading it back through the vault, never from a plaintext copy); either every file
passes and one scan is created, or the whole upload is refused and the middleware shreds it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from django.conf import settings
from django.db import transaction

from accounts.models import User
from scans import pipeline
from scans.audit.log import append as audit
from scans.consent import vault_objects_of_consents
from scans.intake import IntakeLimits, IntakeRejected, check_file, check_total
from scans.models import Scan, ScanFile, Status
from scans.upload import SealedUpload
from scans.vault import get_vault

log = logging.getLogger(__name__)


def intake_limits() -> IntakeLimits:
    return IntakeLimits(
        max_files=settings.UPLOAD_MAX_FILES,
        max_total_bytes=settings.UPLOAD_MAX_BYTES,
        zip_max_members=settings.ZIP_MAX_MEMBERS,
        zip_max_ratio=settings.ZIP_MAX_RATIO,
        zip_max_uncompressed_bytes=settings.ZIP_MAX_UNCOMPRESSED_BYTES,
        image_max_pixels=settings.IMAGE_MAX_PIXELS,
    )


def submit_scan(owner: User, uploads: Sequence[SealedUpload]) -> Scan:
    """Check every sealed file and create one queued scan from them.

    Raises IntakeRejected (with a message for the patient and an HTTP status) if any file is
    unacceptable; nothing is created then, and the caller's request guard shreds the files.
    """
    if not uploads:
        raise IntakeRejected("Choose at least one file to upload.", status=400)
    limits = intake_limits()
    check_total([u.size for u in uploads], limits)
    vault = get_vault()
    checked = []
    for upload in uploads:
        with vault.open(upload.info.object_id) as sealed:
            checked.append((upload, check_file(sealed, upload.position, limits)))

    try:
        scan = _record_scan(owner, checked)
    except BaseException:
        # Nothing was committed: the request guard must shred the files again.
        for upload in uploads:
            upload.claimed = False
        raise
    log.info("scan %s created with %d file(s)", scan.pk, len(uploads))
    scan.refresh_from_db()
    return scan


def _record_scan(owner: User, checked: list) -> Scan:
    """One transaction: the scan, its files, the audit entry; then the hand-over to the queue."""
    uploads = [upload for upload, _ in checked]
    with transaction.atomic():
        scan = Scan.objects.create(owner=owner, status=Status.UPLOADED)
        ScanFile.objects.bulk_create(
            ScanFile(
                scan=scan,
                position=upload.position,
                kind=result.kind,
                size=upload.size,
                vault_object=upload.info.object_id,
                image_count=result.image_count,
            )
            for upload, result in checked
        )
        Scan.objects.filter(pk=scan.pk).update(
            progress_total=sum(result.image_count for _, result in checked)
        )
        for upload in uploads:
            upload.claimed = True
        audit(
            "scan.uploaded",
            actor=owner.pseudonym,
            object_type="scan",
            object_id=str(scan.pk),
            details={
                "files": len(uploads),
                "bytes": sum(u.size for u in uploads),
                "images": sum(result.image_count for _, result in checked),
            },
        )
        transaction.on_commit(lambda: enqueue_processing(scan.pk), robust=True)
    return scan


def enqueue_processing(scan_id: uuid.UUID) -> None:
    """Hand the scan to the de-identification queue, after the scan's rows are committed.

    If the broker is unreachable the scan stays ``uploaded`` and the sweeper retries later;
    the upload itself has already succeeded.
    """
    from scans.tasks import process_scan

    try:
        process_scan.delay(str(scan_id))
    except Exception:
        log.warning("scan %s: broker unreachable, left for the sweeper", scan_id, exc_info=True)
        return
    pipeline.transition(scan_id, Status.QUEUED, expected={Status.UPLOADED})


def vault_objects_of(scan: Scan) -> list[uuid.UUID]:
    """Every vault object that holds something of this scan."""
    objects: list[uuid.UUID] = []
    for file in scan.files.all():
        if file.vault_object:
            objects.append(file.vault_object)
    for image in scan.images.all():
        objects.extend(
            obj
            for obj in (image.sanitized_object, image.preview_object, image.original_preview_object)
            if obj
        )
    objects.extend(vault_objects_of_consents(scan))
    return objects


def delete_scan(scan: Scan, *, actor: str) -> bool:
    """Crypto-shred everything the scan holds and mark it deleted.

    Returns False if the scan cannot be deleted now (a send is in flight). Shredding happens
    before the rows go, so a crash in between leaves rows pointing at nothing, never the reverse.
    """
    if scan.status == Status.SENDING:
        return False
    if scan.status != Status.DELETED and not pipeline.transition(scan.pk, Status.DELETED):
        return False
    vault = get_vault()
    objects = vault_objects_of(scan)
    for object_id in objects:
        vault.shred(object_id)
    with transaction.atomic():
        scan.images.all().delete()
        scan.files.all().delete()
        Scan.objects.filter(pk=scan.pk).update(progress_done=0, progress_total=0, error_message="")
        audit(
            "scan.deleted",
            actor=actor,
            object_type="scan",
            object_id=str(scan.pk),
            details={"shredded": len(objects)},
        )
    log.info("scan %s deleted and shredded", scan.pk)
    return True
