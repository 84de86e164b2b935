"""Large images are cleaned without copying their pixels around, with the same result.

The engine views the upload's Pixel Data in place, searches one frame at a time, and paints
the blacked-out regions straight into the written file. These tests hold it to the result of
the plain in-memory redaction, and check that the chunked byte search misses nothing.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from scans.deid.engine import DeidKeys, DeidOptions, deidentify_bytes
from scans.deid.header import clean_header, write_dataset
from scans.deid.identifiers import collect_identifiers
from scans.deid.pixels import decode_frames, redact_dicom_pixels
from scans.deid.reading import read_dicom
from scans.deid.text import get_detector
from scans.deid.verify import verify_output
from tests.support.phi_corpus import Patient, ct_slice, to_bytes, ultrasound_cine

KEYS = DeidKeys(b"\x55" * 32)


def labelled_cine(frames: int = 3) -> Dataset:
    """An RGB cine with a name and a hospital printed on every frame but the last."""
    ds = ultrasound_cine(Patient(), frames=frames, rows=240, columns=320)
    cine = np.frombuffer(ds.PixelData, np.uint8).reshape(frames, 240, 320, 3).copy()
    for index in range(frames - 1):
        cv2.putText(cine[index], "DOE JOHN  MERCY", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                    (255, 255, 255), 2)
    ds.PixelData = cine.tobytes()
    return ds


def labelled_ct(photometric: str) -> Dataset:
    ds = ct_slice(Patient(), 0, rows=256, columns=256)
    mask = np.zeros((256, 256), np.uint8)
    cv2.putText(mask, "DOE JOHN 1952", (12, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 255, 2)
    stored = np.frombuffer(ds.PixelData, "<u2").reshape(256, 256)
    ink = 0 if photometric == "MONOCHROME1" else 4000
    ds.PixelData = np.where(mask > 0, ink, stored).astype("<u2").tobytes()
    ds.PhotometricInterpretation = photometric
    ds.BitsStored, ds.HighBit = 16, 15
    return ds


@pytest.mark.parametrize("make", [labelled_cine, lambda: labelled_ct("MONOCHROME2"),
                                  lambda: labelled_ct("MONOCHROME1")],
                         ids=["rgb-cine", "monochrome2", "monochrome1"])
def test_painting_the_written_file_gives_the_same_pixels_as_redacting_the_dataset(make) -> None:
    data = to_bytes(make())
    result = deidentify_bytes(data, keys=KEYS, options=DeidOptions())
    assert result.outcome == "clean", result.reason
    assert result.report["pixels"]["changed"]

    reference = pydicom.dcmread(io.BytesIO(data))
    outcome = redact_dicom_pixels(reference, detector=get_detector())
    assert [list(r) for r in outcome.regions] == result.report["pixels"]["regions"]
    cleaned = pydicom.dcmread(io.BytesIO(result.output or b""))
    assert np.array_equal(decode_frames(cleaned), decode_frames(reference))
    assert cleaned.file_meta.TransferSyntaxUID == reference.file_meta.TransferSyntaxUID


def test_a_frame_without_text_is_left_exactly_as_it_was() -> None:
    data = to_bytes(labelled_cine(frames=3))
    result = deidentify_bytes(data, keys=KEYS, options=DeidOptions())
    assert result.outcome == "clean", result.reason
    assert {region[0] for region in result.report["pixels"]["regions"]} == {0, 1}
    before = decode_frames(pydicom.dcmread(io.BytesIO(data)))
    after = decode_frames(pydicom.dcmread(io.BytesIO(result.output or b"")))
    assert np.array_equal(before[2], after[2])


def test_the_uploads_pixel_bytes_are_viewed_not_copied() -> None:
    data = to_bytes(labelled_cine())
    ds = read_dicom(data)
    assert isinstance(ds.PixelData, memoryview)
    assert ds.PixelData.obj is data
    assert bytes(ds.PixelData) == pydicom.dcmread(io.BytesIO(data)).PixelData


def test_a_name_straddling_two_search_chunks_of_a_large_image_is_found() -> None:
    patient = Patient()
    data = to_bytes(ct_slice(patient, 0, rows=1024, columns=2304))  # 4.5 MiB of pixels
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.BitsStored, ds.HighBit = 16, 15  # text bytes use every bit; only the search may object
    identifiers = collect_identifiers(ds)
    written = clean_header(ds, keys=KEYS, identifiers=identifiers).dataset
    pixels = bytearray(written.PixelData)
    name = patient.patient_id.encode()
    at = 4 * 1024 * 1024 - len(name) // 2  # across the first chunk boundary
    pixels[at : at + len(name)] = name
    written.PixelData = bytes(pixels)
    reasons = verify_output(write_dataset(written), identifiers, retain_dates=False)
    assert reasons == [
        "identifying value from PatientID found in the output (pixel data, UTF-8, case-folded)"
    ]
