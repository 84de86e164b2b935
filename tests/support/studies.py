"""Studies for fault runs: big enough that a worker is reliably seen part-way through one."""

from __future__ import annotations

import zipfile

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
