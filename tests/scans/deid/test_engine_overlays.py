"""Overlays and icons never leave: overlay planes (60xx,3000), the Icon Image Sequence and
overlays hidden in the unused high bits of the pixel data. Cleaning drops or clears them, and
the independent verification would refuse a file that still had them."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from scans.deid.engine import DeidKeys, DeidOptions, deidentify_bytes
from scans.deid.header import write_dataset
from scans.deid.identifiers import Identifiers
from scans.deid.verify import verify_output
from tests.support.phi_corpus import Patient, ct_slice, marker, to_bytes

KEYS = DeidKeys(b"\x44" * 32)
OPTIONS = [DeidOptions(detect_text=False), DeidOptions()]
ICON_MARKER = marker("ICONTEXT")
SIZE = 128


def text_mask(text: str, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    cv2.putText(mask, text, (4, shape[0] // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1)
    return mask > 0


def overlay_plane(group: int = 0x6000) -> tuple[dict[int, tuple[str, object]], bytes]:
    """Overlay attributes with a name drawn into the 1-bit plane; returns them and the plane."""
    bits = np.packbits(text_mask("DOE JOHN 1952", (SIZE, SIZE)).ravel(), bitorder="little")
    plane = bits.tobytes()
    attributes: dict[int, tuple[str, object]] = {
        0x0010: ("US", SIZE), 0x0011: ("US", SIZE), 0x0040: ("CS", "G"),
        0x0050: ("SS", [1, 1]), 0x0100: ("US", 1), 0x0102: ("US", 0),
        0x0022: ("LO", marker("OVLDESC")), 0x3000: ("OW", plane),
    }
    return {group << 16 | element: value for element, value in attributes.items()}, plane


def icon_item() -> Dataset:
    """A thumbnail whose pixels spell a marker, as some scanners embed one."""
    icon = Dataset()
    icon.Rows, icon.Columns = 16, 64
    icon.SamplesPerPixel = 1
    icon.PhotometricInterpretation = "MONOCHROME2"
    icon.BitsAllocated, icon.BitsStored, icon.HighBit = 8, 8, 7
    icon.PixelRepresentation = 0
    icon.PixelData = ICON_MARKER.encode().ljust(16 * 64, b"\x00")
    return icon


def with_overlay_and_icon(ds: Dataset) -> bytes:
    attributes, plane = overlay_plane()
    for tag, (vr, value) in attributes.items():
        ds.add_new(tag, vr, value)
    ds.IconImageSequence = Sequence([icon_item()])
    return plane


@pytest.mark.parametrize("options", OPTIONS, ids=["header-only", "text-detection"])
def test_overlay_planes_and_icon_images_are_dropped(options: DeidOptions) -> None:
    ds = ct_slice(Patient(), 0, rows=SIZE, columns=SIZE, phi=False)
    plane = with_overlay_and_icon(ds)
    result = deidentify_bytes(to_bytes(ds), keys=KEYS, options=options)
    assert result.outcome == "clean", result.reason
    output = result.output or b""
    cleaned = pydicom.dcmread(io.BytesIO(output))
    assert not [e for e in cleaned.iterall() if 0x6000 <= e.tag.group <= 0x60FF]
    assert "IconImageSequence" not in cleaned
    assert plane not in output
    assert ICON_MARKER.encode() not in output
    assert marker("OVLDESC").encode() not in output
    removed = {row["keyword"] for row in result.report["attributes"] if row["action"] == "removed"}
    assert "IconImageSequence" in removed


def test_verification_refuses_an_output_that_still_has_an_overlay_plane_or_an_icon() -> None:
    data = to_bytes(ct_slice(Patient(), 0, rows=SIZE, columns=SIZE, phi=False))
    clean = deidentify_bytes(data, keys=KEYS, options=OPTIONS[0])
    assert clean.outcome == "clean", clean.reason
    for plant in ("overlay", "icon"):
        tampered = pydicom.dcmread(io.BytesIO(clean.output or b""))
        if plant == "overlay":
            for tag, (vr, value) in overlay_plane(0x6002)[0].items():
                tampered.add_new(tag, vr, value)
        else:
            tampered.IconImageSequence = Sequence([icon_item()])
        reasons = verify_output(write_dataset(tampered), Identifiers(), retain_dates=False)
        assert any("not on the keep-list" in reason for reason in reasons), (plant, reasons)


def ct_with_high_bit_overlay() -> tuple[Dataset, np.ndarray]:
    """A 12-bit CT slice whose unused bit 15 carries a drawn name, with no 60xx declared."""
    ds = ct_slice(Patient(), 0, rows=SIZE, columns=SIZE, phi=False)
    stored = np.frombuffer(ds.PixelData, dtype="<u2").reshape(SIZE, SIZE).copy()
    dirty = stored | (text_mask("DOE JOHN", (SIZE, SIZE)).astype(np.uint16) << 15)
    ds.PixelData = dirty.tobytes()
    return ds, stored


@pytest.mark.parametrize("options", OPTIONS, ids=["header-only", "text-detection"])
def test_an_overlay_in_the_unused_high_bits_is_cleared_and_values_are_unchanged(
    options: DeidOptions,
) -> None:
    ds, stored = ct_with_high_bit_overlay()
    result = deidentify_bytes(to_bytes(ds), keys=KEYS, options=options)
    assert result.outcome == "clean", result.reason
    cleaned = pydicom.dcmread(io.BytesIO(result.output or b""))
    raw = np.frombuffer(cleaned.PixelData, dtype="<u2")
    assert not np.any(raw >> 12)
    if not result.report["pixels"]["changed"]:
        assert np.array_equal(raw.reshape(SIZE, SIZE), stored)


def test_an_overlay_in_signed_pixels_is_cleared_by_sign_extension() -> None:
    ds = ct_slice(Patient(), 0, rows=SIZE, columns=SIZE, phi=False)
    values = (np.arange(SIZE * SIZE, dtype=np.int16) % 4000 - 2000).reshape(SIZE, SIZE)
    ds.PixelRepresentation = 1
    dirty = values.view(np.uint16) & 0x0FFF | 0x4000  # sign bits lost, bit 14 set
    ds.PixelData = dirty.astype("<u2").tobytes()
    result = deidentify_bytes(to_bytes(ds), keys=KEYS, options=OPTIONS[0])
    assert result.outcome == "clean", result.reason
    cleaned = pydicom.dcmread(io.BytesIO(result.output or b""))
    assert np.array_equal(np.frombuffer(cleaned.PixelData, "<i2").reshape(SIZE, SIZE), values)


def test_verification_refuses_pixels_with_bits_set_above_high_bit() -> None:
    ds, _ = ct_with_high_bit_overlay()
    clean = deidentify_bytes(to_bytes(ct_slice(Patient(), 0, rows=SIZE, columns=SIZE,
                                                phi=False)), keys=KEYS, options=OPTIONS[0])
    tampered = pydicom.dcmread(io.BytesIO(clean.output or b""))
    tampered.PixelData = ds.PixelData
    reasons = verify_output(write_dataset(tampered), Identifiers(), retain_dates=False)
    assert any("above High Bit" in reason for reason in reasons)


def test_an_overlay_declared_in_the_bits_above_high_bit_is_cleared_and_released() -> None:
    ds, stored = ct_with_high_bit_overlay()
    ds.add_new(0x60000100, "US", 16)
    ds.add_new(0x60000102, "US", 15)
    result = deidentify_bytes(to_bytes(ds), keys=KEYS, options=OPTIONS[0])
    assert result.outcome == "clean", result.reason
    cleaned = pydicom.dcmread(io.BytesIO(result.output or b""))
    assert not any(tag.group == 0x6000 for tag in cleaned.keys())  # noqa: SIM118 (tags)
    assert np.array_equal(np.frombuffer(cleaned.PixelData, "<u2").reshape(SIZE, SIZE), stored)


def test_an_overlay_declared_inside_the_stored_bits_is_quarantined() -> None:
    ds = ct_slice(Patient(), 0, rows=SIZE, columns=SIZE, phi=False)
    ds.add_new(0x60000100, "US", 16)
    ds.add_new(0x60000102, "US", 11)  # High Bit is 11: the overlay is part of the values
    result = deidentify_bytes(to_bytes(ds), keys=KEYS, options=OPTIONS[0])
    assert result.outcome == "quarantined"
    assert "overlay stored inside the image's own pixel bits" in result.reason
