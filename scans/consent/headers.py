"""Identifying values from a scan's original headers, for the question check (memory only)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import BinaryIO, cast

import pydicom
from pydicom.errors import InvalidDicomError

from accounts.models import User
from scans.consent.questions import question_warnings
from scans.deid.identifiers import Identifiers, collect_identifiers
from scans.intake import IntakeRejected, iter_zip_members
from scans.limits import intake_limits
from scans.models import FileKind, Scan
from vault import VaultError, get_vault

log = logging.getLogger(__name__)

# Headers of this many original DICOM images are read for names and ids: a study's images
# share the patient module, so more would cost time and find nothing new.
HEADER_SAMPLE = 3


def _iter_original_headers(scan: Scan, limit: int = HEADER_SAMPLE) -> Iterator[pydicom.Dataset]:
    """Headers (no pixels) of the first ``limit`` original DICOM images, decrypted in memory."""
    vault = get_vault()
    found = 0
    for file in scan.files.filter(kind__in=[FileKind.DICOM, FileKind.ZIP]):
        if file.vault_object is None:
            continue
        try:
            if file.kind == FileKind.DICOM:
                with vault.open(file.vault_object) as reader:
                    yield pydicom.dcmread(reader, stop_before_pixels=True, force=True)
                found += 1
            else:
                with vault.open(file.vault_object) as sealed:
                    members = iter_zip_members(
                        cast(BinaryIO, sealed), intake_limits(), file.position
                    )
                    for _number, kind, opener in members:
                        if kind != "dicom":
                            continue
                        # Straight from the member stream: only the header is read, never the
                        # pixels (a member can be gigabytes).
                        with opener() as member:
                            header = pydicom.dcmread(member, stop_before_pixels=True, force=True)
                        yield header
                        found += 1
                        if found >= limit:
                            break
        except (InvalidDicomError, IntakeRejected, VaultError, ValueError, EOFError):
            log.warning(
                "scan %s: an original header could not be read for the question check", scan.pk
            )
            continue
        if found >= limit:
            return


def scan_identifiers(scan: Scan) -> Identifiers:
    """Identifying values from the scan's original headers; held in memory only."""
    merged = Identifiers()
    values: set[str] = set()
    dates: set[str] = set()
    sources: dict[str, str] = {}
    for ds in _iter_original_headers(scan):
        found = collect_identifiers(ds)
        values |= found.values
        dates |= found.dates
        sources.update(found.sources)
    if not values and not dates:
        return merged
    return Identifiers(values=frozenset(values), dates=frozenset(dates), sources=sources)


def check_question(scan: Scan, user: User, question: str) -> list[str]:
    return question_warnings(question, identifiers=scan_identifiers(scan), email=user.email)
