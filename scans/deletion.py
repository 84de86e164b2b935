"""Deleting a scan: crypto-shred everything it holds (``scans.inventory``) and mark it deleted."""

from __future__ import annotations

import logging

from django.db import transaction

from audit.actions import AuditAction
from audit.log import append as audit
from scans import pipeline
from scans.inventory import owned_objects
from scans.models import Scan, Status
from vault import get_vault

log = logging.getLogger(__name__)


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
    objects = owned_objects(scan)
    for object_id in objects:
        vault.shred(object_id)
    with transaction.atomic():
        scan.images.all().delete()
        scan.files.all().delete()
        Scan.objects.filter(pk=scan.pk).update(progress_done=0, progress_total=0, error_message="")
        audit(
            AuditAction.SCAN_DELETED,
            actor=actor,
            object_type="scan",
            object_id=str(scan.pk),
            details={"shredded": len(objects)},
        )
    log.info("scan %s deleted and shredded", scan.pk)
    return True
