"""Photos go through the pixel engine and come out with no metadata, or not at all."""

from __future__ import annotations

import io

from PIL import Image

from scans.deid.engine import DeidKeys, DeidOptions, deidentify_bytes
from scans.deid.identifiers import Identifiers
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
