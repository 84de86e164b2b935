"""Pictures of a scan for people and for AI endpoints.

``render_*_preview`` make the PNG the patient reviews, optionally with the blacked-out regions
outlined; the outlined picture is for display only and is never sent. ``scale_for_sending``
makes the picture that is sent: plain pixels, scaled to the endpoint's limits, with the same
bytes every time for the same input.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

from PIL import Image, ImageDraw
from pydicom.dataset import Dataset

from scans.deid.photos import open_pixels
from scans.deid.pixels import Region, decode_frames, display_frame, rescaled, to_uint8
from scans.deid.reading import UnreadableError, read_dicom
from scans.deid.text import PixelError

OUTLINE_COLOUR = (255, 64, 160)
# Boxes a person should check (report["pixels"]["review"]["boxes"]): a mark left in place or a
# black box over the body, drawn apart from the plain redactions.
FLAG_COLOUR = (255, 190, 0)
_JPEG_QUALITIES = (90, 80, 70, 60, 50)
_SHRINK_STEP = 0.75
_MIN_SIDE = 64


def _dataset(ds_or_bytes: Dataset | bytes) -> Dataset:
    if isinstance(ds_or_bytes, Dataset):
        return ds_or_bytes
    try:
        # The engine's reader: it also takes the bare data sets the intake accepts, and records
        # the transfer syntax they were read in, without which their pixels cannot be decoded.
        return read_dicom(ds_or_bytes)
    except UnreadableError as exc:
        raise PixelError("the DICOM file could not be read") from exc


def _fit(image: Image.Image, max_size: int) -> tuple[Image.Image, float]:
    """Shrink so the long side is at most ``max_size``; never enlarge."""
    scale = min(1.0, max_size / max(image.size))
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image, scale


def _outline(
    image: Image.Image, boxes: Iterable[tuple[int, int, int, int]], scale: float,
    colour: tuple[int, int, int] = OUTLINE_COLOUR,
) -> Image.Image:
    image = image.convert("RGB")
    draw = ImageDraw.Draw(image)
    width = 2 if max(image.size) >= 256 else 1
    for x, y, w, h in boxes:
        x0, y0 = int(x * scale), int(y * scale)
        x1, y1 = max(x0, int((x + w) * scale) - 1), max(y0, int((y + h) * scale) - 1)
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
    return image


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


# A display window as (low, high) in rescaled units (Hounsfield units for CT).
Window = tuple[float, float]


def dicom_image(
    ds_or_bytes: Dataset | bytes, frame: int | None = None, window: Window | None = None
) -> tuple[Image.Image, int]:
    """One frame as a viewer would show it (middle frame by default), and its index.

    ``window`` replaces the file's own window for greyscale images (a CT's lung or bone
    window); colour images ignore it."""
    ds = _dataset(ds_or_bytes)
    frames = decode_frames(ds)
    index = frames.shape[0] // 2 if frame is None else frame
    if not 0 <= index < frames.shape[0]:
        raise PixelError(f"frame {index + 1} does not exist")
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if window is None or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        return Image.fromarray(display_frame(frames[index], ds)), index
    pixels = to_uint8(rescaled(frames[index], ds), *window)
    return Image.fromarray(255 - pixels if photometric == "MONOCHROME1" else pixels), index


def render_dicom_preview(
    ds_or_bytes: Dataset | bytes,
    *,
    frame: int | None = None,
    max_size: int = 768,
    regions: Iterable[Region] | None = None,
    outline: bool = True,
    flags: Iterable[Sequence[object]] | None = None,
    window: Window | None = None,
) -> bytes:
    """PNG of one frame for the review page: ``window``, else the file's (or a robust auto) window,
    MONOCHROME1 inverted, colour as RGB, scaled down to ``max_size``, redacted regions of
    that frame outlined if asked, and the boxes to check (``flags``: the review boxes of the
    report, ``[frame, x, y, w, h, code]``) outlined in ``FLAG_COLOUR``."""
    image, index = dicom_image(ds_or_bytes, frame, window)
    image, scale = _fit(image, max_size)
    boxes = [r[1:] for r in regions or [] if r[0] == index]
    if outline and boxes:
        image = _outline(image, boxes, scale)
    flagged = [_box(f) for f in flags or [] if f[0] == index]
    if outline and flagged:
        image = _outline(image, flagged, scale, FLAG_COLOUR)
    return _png(image)


def _box(flag: Sequence[object]) -> tuple[int, int, int, int]:
    x, y, w, h = (int(v) for v in flag[1:5])  # type: ignore[call-overload]
    return x, y, w, h


def render_photo_preview(
    data: bytes,
    *,
    max_size: int = 768,
    regions: Iterable[Region] | None = None,
    outline: bool = True,
    flags: Iterable[Sequence[object]] | None = None,
) -> bytes:
    """PNG of a photo for the review page, upright, with redacted regions outlined if asked,
    and the boxes to check (``flags``) in ``FLAG_COLOUR``."""
    pixels, _ = open_pixels(data)
    image, scale = _fit(Image.fromarray(pixels), max_size)
    if outline and regions:
        image = _outline(image, [r[1:] for r in regions], scale)
    if outline and flags:
        image = _outline(image, [_box(f) for f in flags], scale, FLAG_COLOUR)
    return _png(image)


def _is_dicom(data: bytes) -> bool:
    return len(data) > 132 and data[128:132] == b"DICM"


def scale_for_sending(
    data: bytes | Dataset,
    *,
    max_side: int,
    max_bytes: int,
    frame: int | None = None,
    window: Window | None = None,
) -> tuple[bytes, str]:
    """The picture sent to an AI endpoint, and its media type ("image/png" or "image/jpeg").

    PNG when it fits in ``max_bytes``, otherwise JPEG at falling quality, then smaller sizes.
    Pixels only, no metadata; the same input gives the same bytes. Raises PixelError if even
    the smallest version does not fit.
    """
    if isinstance(data, Dataset) or _is_dicom(data):
        image, _ = dicom_image(data, frame, window)
    else:
        pixels, _ = open_pixels(data)
        image = Image.fromarray(pixels)
    image, _ = _fit(image, max_side)
    while True:
        encoded = _png(image)
        if len(encoded) <= max_bytes:
            return encoded, "image/png"
        for quality in _JPEG_QUALITIES:
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=quality)
            if buffer.tell() <= max_bytes:
                return buffer.getvalue(), "image/jpeg"
        if max(image.size) <= _MIN_SIDE:
            raise PixelError("the image cannot be made small enough for the endpoint")
        smaller = (
            max(1, round(image.width * _SHRINK_STEP)),
            max(1, round(image.height * _SHRINK_STEP)),
        )
        image = image.resize(smaller, Image.Resampling.LANCZOS)
