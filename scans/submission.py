"""Turning a set of sealed uploads into a scan.

The upload handler has already sealed every file into the vault. Here each file is checked by
content (reading it back through the vault, never from a plaintext copy); either every file
passes and one scan is created, or the whole upload is refused and the middleware shreds it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import BinaryIO, cast

from django.db import transaction
from django.utils.translation import gettext_noop

from accounts.models import User
from audit.actions import AuditAction
from audit.log import append as audit
from scans.intake import IntakeRejected, IntakeResult, check_file, check_total
from scans.limits import intake_limits
from scans.models import Scan, ScanFile, Status
from scans.queue import enqueue_processing
from scans.upload import SealedUpload
from vault import get_vault

log = logging.getLogger(__name__)


def submit_scan(owner: User, uploads: Sequence[SealedUpload]) -> Scan:
    """Check every sealed file and create one queued scan from them.

    Raises IntakeRejected (with a message for the patient and an HTTP status) if any file is
    unacceptable; nothing is created then, and the caller's request guard shreds the files.
    """
    if not uploads:
        raise IntakeRejected(gettext_noop("Choose at least one file to upload."), status=400)
    limits = intake_limits()
    check_total([u.info.size for u in uploads], limits)
    vault = get_vault()
    checked = []
    for upload in uploads:
        with vault.open(upload.info.object_id) as sealed:
            checked.append((upload, check_file(cast(BinaryIO, sealed), upload.position, limits)))

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


def _record_scan(owner: User, checked: list[tuple[SealedUpload, IntakeResult]]) -> Scan:
    """One transaction: the scan, its files, the audit entry; then the hand-over to the queue."""
    uploads = [upload for upload, _ in checked]
    with transaction.atomic():
        scan = Scan.objects.create(owner=owner, status=Status.UPLOADED)
        ScanFile.objects.bulk_create(
            ScanFile(
                scan=scan,
                position=upload.position,
                kind=result.kind,
                size=upload.info.size,
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
            AuditAction.SCAN_UPLOADED,
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
