"""Studies for fault runs: big enough that a worker is reliably seen part-way through one."""

from __future__ import annotations

import zipfile

import numpy as np

from scans import processing
from scans.models import FileKind, Scan, ScanFile, Status
from tests.support import builders
from vault import get_vault


def study_zip(images: int, marker: str = "MRKSTUDY", size: int = 384) -> bytes:
    """A stored (uncompressed) ZIP of ``images`` CT slices whose headers carry ``marker``.

    Stored, not deflated, so the marker is in the upload's bytes verbatim and a plaintext copy
    of any part of it can be found by searching for the marker.
    """
    pixels = bytes(range(256)) * (size * size * 2 // 256)
    members = {
        f"study/IM{i:04d}": builders.make_dicom_bytes(
            PatientName=f"{marker}^Fault",
            PatientID=marker,
            Rows=size,
            Columns=size,
            PixelData=pixels,
        )
        for i in range(images)
    }
    return builders.make_zip(members, compression=zipfile.ZIP_STORED)


def series_slices(series_uid: str, count: int, *, start: int = 0, size: int = 64) -> list[bytes]:
    """``count`` CT slices of one series of one fixed study (same UIDs on every call), each
    with its own pixels, so the same study can be uploaded twice and compared."""
    slices = []
    for index in range(start, start + count):
        pixels = ((np.arange(size * size, dtype="<u2") * (index + 3)) % 4096).tobytes()
        slices.append(
            builders.make_dicom_bytes(
                StudyInstanceUID="1.2.826.0.1.3680043.8.498.1",
                SeriesInstanceUID=series_uid,
                SOPInstanceUID=f"{series_uid}.{index + 1}",
                InstanceNumber=index + 1,
                PatientName="Chunkworth^Imelda",
                PatientID="CHUNK-0042",
                Rows=size,
                Columns=size,
                PixelData=pixels,
            )
        )
    return slices


def processed_ct(owner, slices: int = 40) -> Scan:
    """A chest CT of ``slices`` slices, stored and de-identified in this process (one chunk:
    set DEID_CHUNK_IMAGES above ``slices``)."""
    data = builders.make_zip(
        {f"CD/DICOM/IM{n:03d}": s for n, s in enumerate(chest_slices(slices))},
        compression=zipfile.ZIP_STORED,
    )
    info = get_vault().put_bytes(data)
    scan = Scan.objects.create(owner=owner, status=Status.QUEUED, progress_total=slices)
    ScanFile.objects.create(
        scan=scan,
        position=1,
        kind=FileKind.ZIP,
        size=info.size,
        vault_object=info.object_id,
        image_count=slices,
    )
    processing.process_scan(str(scan.pk))
    scan.refresh_from_db()
    assert scan.status == Status.READY_FOR_REVIEW, scan.error_message
    return scan


def chest_slices(count: int) -> list[bytes]:
    """CT slices in Hounsfield units (intercept -1024): air, lung, soft tissue, bone."""
    size = 64
    slices = []
    for index in range(count):
        hu = np.full((size, size), -1000, dtype=np.int16)
        hu[8:56, 8:56] = 40
        hu[14:50, 12:30] = -800 + index
        hu[14:50, 34:52] = -800
        hu[28:36, 29:35] = 700
        slices.append(
            builders.make_dicom_bytes(
                Modality="CT",
                BodyPartExamined="CHEST",
                SeriesDescription="Chest",
                SeriesInstanceUID="1.2.826.0.1.3680043.8.498.77",
                InstanceNumber=index + 1,
                Rows=size,
                Columns=size,
                RescaleIntercept=-1024,
                RescaleSlope=1,
                WindowCenter=40,
                WindowWidth=400,
                PixelData=(hu + 1024).astype("<u2").tobytes(),
            )
        )
    return slices
