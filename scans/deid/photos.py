"""Cleaning phone photos and screenshots (JPEG, PNG): pixels only, visible text blacked out.

A photo carries identifying data in many places besides its pixels: EXIF (GPS, device serial,
owner name), XMP, ICC profiles, JPEG comments, PNG text chunks. Rather than strip each, the
cleaner builds a new image from the decoded pixels alone and encodes it with no metadata.
``verify_photo`` then parses the output bytes itself, without trusting Pillow, to prove it.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from scans.deid.burned_in import TextSearch, judge_lines, verifier_for, with_body
from scans.deid.pixels import (
    Region,
    find_lines,
    neutralize_regions,
    second_look,
    verifiers_look,
)
from scans.deid.text import Box, PixelError, TextDetector

DEFAULT_MARGIN = 4
JPEG_QUALITY = 92
_ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG"}
# What our own encoder writes; anything else in the output is a reason to refuse it.
_PNG_ALLOWED_CHUNKS = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG markers without a length field: SOI, EOI, RST0-7, TEM.
_JPEG_STANDALONE = {0xD8, 0xD9, 0x01, *range(0xD0, 0xD8)}


@dataclass
class PhotoOutcome:
    """The cleaned image and where text was blacked out (frame is always 0)."""

    output: bytes
    suffix: str
    regions: list[Region] = field(default_factory=list)
    width: int = 0
    height: int = 0
    search: TextSearch = field(default_factory=TextSearch)


def open_pixels(data: bytes, *, max_pixels: int = 80_000_000) -> tuple[np.ndarray, str]:
    """Decode a JPEG or PNG to an upright uint8 array (grey or RGB) and its format.

    EXIF orientation is applied so the picture looks as it did on the phone. Transparent
    pixels are composited onto white: what is hidden under alpha would otherwise reappear.
    Raises PixelError for anything else, for undecodable data and for oversized images.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            fmt = image.format or ""
            if fmt not in _ACCEPTED_FORMATS:
                raise PixelError("the image format is not supported (JPEG or PNG only)")
            width, height = image.size
            if width * height > max_pixels:
                raise PixelError("the image is too large to check")
            image.load()
            image = ImageOps.exif_transpose(image)
    except PixelError:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise PixelError("the image could not be decoded") from exc
    return _as_uint8(image), ("JPEG" if fmt == "MPO" else fmt)


def _as_uint8(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max() > 255 else 255.0
        return np.clip(values * (255.0 / top), 0, 255).astype(np.uint8)
    if mode in ("1", "L"):
        return np.array(image.convert("L"))
    if mode in ("LA", "RGBA", "PA", "P", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.array(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.array(image.convert("RGB"))


def encode(pixels: np.ndarray, fmt: str) -> bytes:
    """Encode pixels into a brand-new image with no metadata at all."""
    image = Image.fromarray(pixels)
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    else:
        image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def clean_photo(
    data: bytes,
    *,
    detector: TextDetector,
    max_pixels: int = 80_000_000,
    margin: int = DEFAULT_MARGIN,
) -> PhotoOutcome:
    """Upright, metadata-free copy of a photo with identifying text blacked out.

    Each detected line gets the verdict of ``burned_in.judge_lines``: identifying or unsure
    text-shaped lines are blacked out, allowed annotations kept, unreadable marks left and
    flagged. JPEG stays JPEG (quality 92), PNG stays PNG. Raises PixelError if the image cannot
    be decoded or the detector cannot run.
    """
    pixels, fmt = open_pixels(data, max_pixels=max_pixels)
    height, width = pixels.shape[:2]
    search = TextSearch()
    lines = find_lines([pixels], detector)[0]
    if lines:
        grey = pixels if pixels.ndim == 2 else _luminance(pixels)
        search.add(0, with_body(judge_lines(pixels, lines, detector), grey), margin, width,
                   height)
        # The verifier's own look, so the first pass is at least as sensitive as it is.
        more = verifiers_look(search, 0, pixels, verifier_for(detector), False, {})
        if more:
            search.add(0, with_body(more, grey), margin, width, height)
    for _, x, y, w, h in search.regions:
        pixels[y : y + h, x : x + w] = 0
    suffix = ".jpg" if fmt == "JPEG" else ".png"
    return PhotoOutcome(encode(pixels, fmt), suffix, list(search.regions), width, height,
                        search)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def verify_photo(output: bytes, regions: list[Region], detector: TextDetector, *,
                 kept: list[Region] | None = None,
                 flagged: list[Region] | None = None) -> list[str]:
    """Reasons the cleaned photo cannot be released; empty if it can.

    Parses the container itself for any metadata segment or chunk, re-decodes the pixels,
    checks that redacted regions are dark, and gives the whole picture the verifier's second
    look (``pixels.second_look``: its own detector parameters, its own readings).
    """
    if output.startswith(b"\xff\xd8"):
        reasons = jpeg_metadata_problems(output)
    elif output.startswith(_PNG_SIGNATURE):
        reasons = png_metadata_problems(output)
    else:
        return ["the cleaned photo is neither JPEG nor PNG"]
    try:
        pixels, _ = open_pixels(output)
    except PixelError:
        return [*reasons, "the cleaned photo could not be decoded"]
    height, width = pixels.shape[:2]
    boxes = []
    for _, x, y, w, h in regions:
        patch = pixels[y : y + h, x : x + w]
        # Interior only: JPEG ringing brightens the edges of a black box a little.
        inner = patch[2:-2, 2:-2] if patch.shape[0] > 4 and patch.shape[1] > 4 else patch
        if patch.size == 0 or x + w > width or y + h > height or inner.max() > 48:
            reasons.append("a redacted region of the photo is not blacked out")
        boxes.append((x, y, w, h))
    neutral = neutralize_regions(pixels, boxes) if boxes else pixels
    places = [Box(x, y, w, h) for _, x, y, w, h in kept or []]
    marks = [Box(x, y, w, h) for _, x, y, w, h in flagged or []]
    for reason in second_look(neutral, boxes, verifier_for(detector), 0, renderings=False,
                              places=places, marks=marks):
        reasons.append(reason.replace("on frame 1", "in the photo"))
    return list(dict.fromkeys(reasons))


def jpeg_metadata_problems(data: bytes) -> list[str]:
    """Walk the JPEG marker segments; any APPn other than a plain JFIF header, or a comment,
    or data after the end of the image, is a problem."""
    reasons: list[str] = []
    pos = 2
    size = len(data)
    while pos < size:
        if data[pos] != 0xFF:
            return [*reasons, "the cleaned JPEG has a malformed marker structure"]
        marker = data[pos + 1] if pos + 1 < size else None
        if marker is None:
            return [*reasons, "the cleaned JPEG is truncated"]
        if marker == 0xFF:
            pos += 1  # fill byte
            continue
        if marker == 0xD9:
            if data[pos + 2 :].strip(b"\x00"):
                reasons.append("the cleaned JPEG has data after its end")
            return reasons
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if pos + 4 > size:
            return [*reasons, "the cleaned JPEG is truncated"]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        payload = data[pos + 4 : pos + 2 + length]
        if marker == 0xE0:
            # JFIF header with no thumbnail (its last two bytes give the thumbnail size).
            if not (
                payload.startswith(b"JFIF\x00")
                and len(payload) >= 14
                and payload[12:14] == b"\x00\x00"
            ):
                reasons.append(
                    "the cleaned JPEG has an APP0 segment other than a plain JFIF header"
                )
        elif 0xE1 <= marker <= 0xEF:
            reasons.append(f"the cleaned JPEG has an APP{marker - 0xE0} metadata segment")
        elif marker == 0xFE:
            reasons.append("the cleaned JPEG has a comment segment")
        pos += 2 + length
        if marker == 0xDA:
            pos = _skip_entropy_coded(data, pos)
    return [*reasons, "the cleaned JPEG has no end-of-image marker"]


def _skip_entropy_coded(data: bytes, pos: int) -> int:
    """Position of the next real marker after scan data (0xFF00 is a stuffed byte, RSTn are
    inside the scan)."""
    size = len(data)
    while pos + 1 < size:
        if data[pos] == 0xFF and data[pos + 1] != 0x00 and not 0xD0 <= data[pos + 1] <= 0xD7:
            return pos
        pos += 1
    return size


def png_metadata_problems(data: bytes) -> list[str]:
    """Walk the PNG chunks: a chunk our encoder never writes, or bytes after IEND, is a problem."""
    reasons: list[str] = []
    pos = len(_PNG_SIGNATURE)
    size = len(data)
    while pos + 8 <= size:
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind not in _PNG_ALLOWED_CHUNKS:
            name = kind.decode("latin-1") if kind.isalpha() else "unknown"
            reasons.append(f"the cleaned PNG has a {name} chunk")
        pos += 12 + length
        if kind == b"IEND":
            if pos < size:
                reasons.append("the cleaned PNG has data after its end")
            return reasons
    return [*reasons, "the cleaned PNG has no IEND chunk"]
