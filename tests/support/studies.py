"""Studies for fault runs: big enough that a worker is reliably seen part-way through one."""

from __future__ import annotations

import zipfile

import numpy as np

from tests.support import builders


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
