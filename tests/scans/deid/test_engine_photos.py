"""Photos go through the pixel engine and come out with no metadata, or not at all."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageDraw, ImageFont

from scans.deid import photos
from scans.deid.engine import DeidKeys, DeidOptions, deidentify_bytes
from scans.deid.identifiers import Identifiers
from scans.deid.photos import PhotoOutcome
from scans.deid.verify import verify_photo_output

KEYS = DeidKeys(b"\x22" * 32)


def jpeg_with_exif(owner: str) -> bytes:
    image = Image.new("RGB", (96, 64), (40, 60, 80))
    exif = Image.Exif()
    exif[0x013B] = owner  # Artist
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes(), comment=owner.encode())
    return buffer.getvalue()


def test_a_photo_comes_out_clean_without_its_metadata() -> None:
    data = jpeg_with_exif("MRKOWNER7f3a Zebediah")
    result = deidentify_bytes(data, keys=KEYS, options=DeidOptions(),
                              extra_identifiers=["MRKOWNER7f3a"])
    assert result.outcome == "clean", result.reason
    assert result.kind == "photo" and result.output is not None
    assert b"mrkowner" not in result.output.lower()
    with Image.open(io.BytesIO(result.output)) as image:
        assert "exif" not in image.info and "comment" not in image.info


def test_photo_verification_refuses_leftover_metadata_and_known_values() -> None:
    data = jpeg_with_exif("MRKOWNER7f3a")
    identifiers = Identifiers().with_extra(["MRKOWNER7f3a"])
    reasons = verify_photo_output(data, identifiers)
    assert any("metadata" in reason for reason in reasons)
    assert any("given by uploader" in reason for reason in reasons)
    assert verify_photo_output(b"not an image", identifiers)


def labelled_png() -> bytes:
    """A screenshot-like PNG with a name printed on it."""
    image = Image.new("RGB", (320, 120), (200, 200, 200))
    ImageDraw.Draw(image).text((16, 40), "DOE JOHN 1961", fill=(0, 0, 0),
                               font=ImageFont.load_default(size=28))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def with_private_chunk(png: bytes, payload: bytes) -> bytes:
    """``png`` with a private ancillary chunk before IEND; Pillow reads past it silently."""
    chunk = b"prVt" + payload
    body = struct.pack(">I", len(payload)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return png[:-12] + body + png[-12:]


def test_a_photo_whose_redaction_did_not_take_is_quarantined(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = photos.clean_photo

    def forgets_to_paint(data: bytes, *, detector: object, **kwargs: object) -> PhotoOutcome:
        outcome = real(data, detector=detector)  # type: ignore[arg-type]
        assert outcome.regions  # the label was found ...
        return PhotoOutcome(photos.encode(photos.open_pixels(data)[0], "PNG"), ".png",
                            outcome.regions)  # ... but the original pixels are sent

    monkeypatch.setattr(photos, "clean_photo", forgets_to_paint)
    result = deidentify_bytes(labelled_png(), keys=KEYS, options=DeidOptions())
    assert result.outcome == "quarantined"
    assert "not blacked out" in result.reason
    assert result.output is None


def test_a_cleaned_photo_with_a_chunk_pillow_ignores_is_quarantined(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = photos.clean_photo

    def smuggles_a_chunk(data: bytes, *, detector: object, **kwargs: object) -> PhotoOutcome:
        outcome = real(data, detector=detector)  # type: ignore[arg-type]
        outcome.output = with_private_chunk(outcome.output, b"MRKOWNER7f3a")
        return outcome

    monkeypatch.setattr(photos, "clean_photo", smuggles_a_chunk)
    result = deidentify_bytes(labelled_png(), keys=KEYS, options=DeidOptions())
    assert result.outcome == "quarantined"
    assert "prVt chunk" in result.reason
