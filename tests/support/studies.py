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


def multiframe_dicom(frames: int = 6, size: int = 32) -> bytes:
    """One multi-frame image (a cine loop): a dark field with a bright bar on row 4 * n of
    frame n, so each frame can be told from the others."""
    pixels = np.full((frames, size, size), 100, dtype="<u2")
    for n in range(frames):
        pixels[n, 4 * n : 4 * n + 3, 4:-4] = 3000
    return builders.make_dicom_bytes(
        Modality="OT",
        SeriesDescription="Cine",
        NumberOfFrames=frames,
        Rows=size,
        Columns=size,
        BitsStored=16,
        HighBit=15,
        PixelData=pixels.tobytes(),
    )


def processed_multiframe(owner, frames: int = 6) -> Scan:
    """A scan of one multi-frame image, stored and de-identified in this process."""
    data = multiframe_dicom(frames)
    info = get_vault().put_bytes(data)
    scan = Scan.objects.create(owner=owner, status=Status.QUEUED, progress_total=1)
    ScanFile.objects.create(scan=scan, position=1, kind=FileKind.DICOM, size=info.size,
                            vault_object=info.object_id, image_count=1)
    processing.process_scan(str(scan.pk))
    scan.refresh_from_db()
    assert scan.status == Status.READY_FOR_REVIEW, scan.error_message
    return scan
