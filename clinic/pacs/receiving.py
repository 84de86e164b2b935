"""Sealing one received DICOM instance into the clinic's inbox, whichever way it came.

Both the DICOM node (C-STORE) and the DICOMweb endpoint (STOW-RS) end here with one instance
as a Part-10 byte string held in memory (never a file, not even a temporary one). It passes the
same intake checks as a patient's upload, is sealed into the vault, and is filed under its study.
The rows name the study and the instance by the SHA-256 of their UIDs; what a clinician needs to
recognise the study (patient name and ids, date, description) is sealed in the vault as well.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass

import pydicom
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from pydicom.errors import InvalidDicomError

from audit.actions import AuditAction
from audit.log import append as audit
from clinic.pacs.models import Instance, Source, Study
from scans.intake import IntakeRejected, check_file
from scans.limits import intake_limits
from vault import get_vault

log = logging.getLogger(__name__)

SEAL_PIECE = 1024 * 1024
# The header fields a clinician sees in the inbox (sealed, never in a row or a log).
SUMMARY_FIELDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "AccessionNumber",
    "StudyDate",
    "StudyDescription",
    "Modality",
    "StudyInstanceUID",
)


class InstanceRefused(Exception):
    """An instance the inbox will not keep. ``reason`` is an audit enum value, never content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Received:
    study: Study
    sop_uid_sha256: str
    stored: bool  # False when the same instance was already in the study


def uid_hash(uid: str) -> str:
    return hashlib.sha256(uid.strip().encode("ascii", "replace")).hexdigest()


def _read_header(part10: bytes) -> pydicom.Dataset:
    """The instance's header, or InstanceRefused: the intake checks (element lengths, pixel data
    size, image limits) run first, so a dataset that lies about its length never gets here."""
    try:
        check_file(io.BytesIO(part10), 1, intake_limits())
    except IntakeRejected:
        raise InstanceRefused("malformed") from None
    try:
        header = pydicom.dcmread(io.BytesIO(part10), stop_before_pixels=True)
    except (InvalidDicomError, ValueError, EOFError, OSError, KeyError, TypeError):
        raise InstanceRefused("malformed") from None
    if not str(header.get("StudyInstanceUID", "")).strip():
        raise InstanceRefused("no_study_uid")
    if not str(header.get("SOPInstanceUID", "")).strip():
        raise InstanceRefused("no_sop_uid")
    return header


def _summary(header: pydicom.Dataset) -> bytes:
    return json.dumps({name: str(header.get(name, "") or "") for name in SUMMARY_FIELDS}).encode()


def _seal(data: bytes) -> str:
    view = memoryview(data)
    with get_vault().create() as writer:
        for start in range(0, len(view), SEAL_PIECE):
            writer.write(view[start : start + SEAL_PIECE])
        info = writer.close()
    return str(info.object_id)


def _study_for(header: pydicom.Dataset, source: str, actor: str) -> Study:
    """The study this instance belongs to, filed on its first instance (then audited once)."""
    key = uid_hash(str(header.StudyInstanceUID))
    found = Study.objects.filter(study_uid_sha256=key).first()
    if found is not None:
        return found
    summary = get_vault().put_bytes(_summary(header)).object_id
    try:
        with transaction.atomic():
            study = Study.objects.create(
                study_uid_sha256=key, summary_object=summary, source=source
            )
            audit(
                AuditAction.STUDY_RECEIVED,
                actor=actor,
                object_type="study",
                object_id=str(study.pk),
                details={"source": source, "study_uid_sha256": key},
            )
            return study
    except IntegrityError:
        # Another association filed the same study a moment ago.
        get_vault().shred(summary)
        return Study.objects.get(study_uid_sha256=key)


def receive_instance(part10: bytes, *, source: Source, actor: str = "system") -> Received:
    """Check, seal and file one Part-10 instance.

    Raises InstanceRefused (nothing stored) for anything intake would refuse from a patient.
    Receiving the same SOP instance twice keeps the first copy and reports ``stored=False``.
    """
    header = _read_header(part10)
    study = _study_for(header, str(source), actor)
    sop_key = uid_hash(str(header.SOPInstanceUID))
    if Instance.objects.filter(study=study, sop_uid_sha256=sop_key).exists():
        return Received(study, sop_key, stored=False)
    object_id = _seal(part10)
    try:
        with transaction.atomic():
            Instance.objects.create(
                study=study, sop_uid_sha256=sop_key, vault_object=object_id, size=len(part10)
            )
            totals = Instance.objects.filter(study=study).aggregate(n=Count("id"), size=Sum("size"))
            Study.objects.filter(pk=study.pk).update(
                instance_count=totals["n"], total_bytes=totals["size"] or 0
            )
    except IntegrityError:
        get_vault().shred(object_id)
        return Received(study, sop_key, stored=False)
    log.info("instance sealed into study %s", study.pk)
    return Received(study, sop_key, stored=True)


def read_summary(study: Study) -> dict[str, str]:
    """What the clinician sees of a study (from the vault): patient name, ids, date, ..."""
    data: dict[str, str] = json.loads(get_vault().read_bytes(study.summary_object))
    return data
