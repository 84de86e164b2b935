"""The clinic's inbox is not an archive: a study is crypto-shredded DICOM_INBOX_DAYS after its
last instance arrived. The PACS keeps the clinic's originals; a patient's scan made from the
study by a hand-off is theirs, and follows the retention policy like any upload."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from audit.actions import AuditAction
from audit.log import append as audit
from clinic.pacs.models import Study
from vault import get_vault


def shred_expired_studies(now: datetime, *, actor: str = "beat") -> int:
    """Shred every study past its time (idempotent); returns how many went."""
    cutoff = now - timedelta(days=settings.DICOM_INBOX_DAYS)
    done = 0
    for study in Study.objects.filter(updated_at__lt=cutoff):
        vault = get_vault()
        objects = [*study.instances.values_list("vault_object", flat=True), study.summary_object]
        with transaction.atomic():
            # Keys first, then the rows: a crash in between leaves rows pointing at nothing
            # readable, never readable data without a row.
            for object_id in objects:
                vault.shred(object_id)
            audit(
                AuditAction.RETENTION_SHREDDED,
                actor=actor,
                object_type="study",
                object_id=str(study.pk),
                details={"objects": len(objects)},
            )
            study.delete()
        done += 1
    return done
