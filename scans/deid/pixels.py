"""Blacking out text burned into DICOM pixels, and checking the result independently.

Every frame is searched; none is skipped. Pixels outside the blacked-out boxes stay bit-identical
to the decoded original. If nothing is found the Pixel Data bytes are not touched at all, so
compressed files stay compressed. If the pixels cannot be decoded or the detector cannot run,
``PixelError`` is raised and the caller quarantines the file.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID

from scans.deid.text import Box, PixelError, TextDetector, fuzzy_contains, get_detector

Region = tuple[int, int, int, int, int]  # (frame, x, y, w, h); frame counts from 0

DEFAULT_MARGIN = 3
# Burned-in text is usually drawn at the brightest value; values in the top 2% of a frame's
# range are shown at full white and everything else dimmed, so the text stands out even
# where a clinical window saturates bone to the same white.
_EMPHASIS_FROM = 0.98
_EMPHASIS_REST = 160.0
_AUTO_WINDOW_PERCENTILES = (0.5, 99.5)
# A scanner's text line is never taller than this (px, or this fraction of the frame height).
MAX_LINE_PX = 48
MAX_LINE_FRACTION = 8
REFINE_DEPTH = 3
# A letter the redaction missed sits right next to a region.
VERIFY_SLACK = 6

_CODEC_NAMES = {
    "1.2.840.10008.1.2.4.50": "JPEG",
    "1.2.840.10008.1.2.4.51": "JPEG",
    "1.2.840.10008.1.2.4.57": "JPEG lossless",
    "1.2.840.10008.1.2.4.70": "JPEG lossless",
    "1.2.840.10008.1.2.4.80": "JPEG-LS",
    "1.2.840.10008.1.2.4.81": "JPEG-LS",
    "1.2.840.10008.1.2.4.90": "JPEG 2000",
    "1.2.840.10008.1.2.4.91": "JPEG 2000",
    "1.2.840.10008.1.2.4.201": "HTJ2K",
    "1.2.840.10008.1.2.4.202": "HTJ2K",
    "1.2.840.10008.1.2.4.203": "HTJ2K",
    "1.2.840.10008.1.2.5": "RLE",
}


@dataclass
class PixelOutcome:
    """What redaction did to one file; ``regions`` are the blacked-out boxes, margin included."""

    changed: bool
    regions: list[Region] = field(default_factory=list)
    transfer_syntax_changed_to: str | None = None
    exempt: bool = False


def _transfer_syntax(ds: Dataset) -> UID | None:
    meta = getattr(ds, "file_meta", None)
    value = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(str(value)) if value else None


def decode_frames(ds: Dataset) -> np.ndarray:
    """All frames as one array shaped (frames, rows, columns) or (frames, rows, columns, 3).

    Colour is always returned as RGB (YBR is converted by pydicom). Raises PixelError with a
    reason a person understands when the pixels cannot be decoded.
    """
    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        raise PixelError("floating-point pixel data is not supported")
    if "PixelData" not in ds:
        raise PixelError("the file has no pixel data")
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if photometric not in ("MONOCHROME1", "MONOCHROME2", "RGB") and not photometric.startswith(
        "YBR_"
    ):
        # PALETTE COLOR and retired colour models: refuse rather than guess what is black.
        raise PixelError(
            f"photometric interpretation {photometric or '(missing)'} is not supported"
        )
    tsyntax = _transfer_syntax(ds)
    try:
        arr = ds.pixel_array
    except Exception as exc:
        if tsyntax is None or not tsyntax.is_transfer_syntax:
            raise PixelError("pixel data uses an unsupported transfer syntax") from exc
        if tsyntax.is_compressed:
            codec = _CODEC_NAMES.get(str(tsyntax), "unsupported compression")
            raise PixelError(f"compressed pixel data could not be decoded ({codec})") from exc
        raise PixelError("pixel data could not be decoded (truncated or inconsistent)") from exc
    samples = int(ds.get("SamplesPerPixel", 1))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    single = arr.ndim == (3 if samples > 1 else 2)
    if single:
        arr = arr[np.newaxis, ...]
    if arr.shape[0] != frames and not (single and frames == 1):
        raise PixelError("pixel data could not be decoded (frame count does not match)")
    return arr


def _is_monochrome(ds: Dataset) -> bool:
    return str(ds.get("PhotometricInterpretation", "")).strip().upper().startswith("MONOCHROME")


def _is_inverted(ds: Dataset) -> bool:
    return str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1"


def _first_number(value: object) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, MultiValue | list | tuple):
        value = value[0] if len(value) else None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def rescaled(frame: np.ndarray, ds: Dataset) -> np.ndarray:
    """Stored values through the modality LUT (slope and intercept), as float32."""
    slope = _first_number(ds.get("RescaleSlope")) or 1.0
    intercept = _first_number(ds.get("RescaleIntercept")) or 0.0
    values = frame.astype(np.float32)
    if slope != 1.0 or intercept != 0.0:
        values = values * np.float32(slope) + np.float32(intercept)
    return values


def file_window(ds: Dataset) -> tuple[float, float] | None:
    """The file's own (low, high) display window in rescaled units, first value if several."""
    center = _first_number(ds.get("WindowCenter"))
    width = _first_number(ds.get("WindowWidth"))
    if center is None or width is None or width < 1:
        return None
    # PS3.3 C.11.2.1.2.1: linear window, the range [c - 0.5 - (w-1)/2, c - 0.5 + (w-1)/2].
    low = center - 0.5 - (width - 1) / 2
    return low, low + (width - 1)


def auto_window(values: np.ndarray) -> tuple[float, float]:
    """A robust (low, high) window from the 0.5th and 99.5th percentiles of a subsample."""
    step = max(1, int(np.sqrt(values.size / 65536)))
    sample = values[::step, ::step]
    low, high = np.percentile(sample, _AUTO_WINDOW_PERCENTILES)
    if high <= low:
        low, high = float(sample.min()), float(sample.max())
    return float(low), float(high)


def to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Linear map of [low, high] to [0, 255], clipped."""
    if high <= low:
        return np.where(values > low, 255, 0).astype(np.uint8)
    scaled = (values - np.float32(low)) * np.float32(255.0 / (high - low))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def display_frame(frame: np.ndarray, ds: Dataset) -> np.ndarray:
    """How a viewer would show the frame: the file's window or an auto window, inverted for
    MONOCHROME1; colour frames unchanged. Returns uint8 (rows, columns) or (rows, columns, 3)."""
    if not _is_monochrome(ds):
        return _rgb_uint8(frame, ds)
    values = rescaled(frame, ds)
    window = file_window(ds) or auto_window(values)
    image = to_uint8(values, *window)
    return 255 - image if _is_inverted(ds) else image


def _rgb_uint8(frame: np.ndarray, ds: Dataset) -> np.ndarray:
    if frame.dtype == np.uint8:
        return frame
    bits = int(ds.get("BitsStored", 8))
    return to_uint8(frame.astype(np.float32), 0, float(2**bits - 1))


def detection_image(frame: np.ndarray, ds: Dataset) -> np.ndarray:
    """The 8-bit image text is searched in.

    Monochrome frames get three renderings, one per colour channel, so a single detector call
    sees them all: the clinical window, the full min-max range, and the full range with
    near-maximum pixels emphasised (where scanners draw their overlays). MONOCHROME1 is inverted
    so text drawn to appear white is white in every channel.
    """
    if not _is_monochrome(ds):
        return _rgb_uint8(frame, ds)
    values = rescaled(frame, ds)
    low, high = float(values.min()), float(values.max())
    window = file_window(ds) or auto_window(values)
    windowed = to_uint8(values, *window)
    if high > low:
        fraction = (values - np.float32(low)) * np.float32(1.0 / (high - low))
    else:
        fraction = np.zeros_like(values)
    if _is_inverted(ds):
        windowed = 255 - windowed
        fraction = 1 - fraction
    full = np.clip(fraction * 255, 0, 255).astype(np.uint8)
    emphasis = np.where(fraction >= _EMPHASIS_FROM, 255.0, fraction * _EMPHASIS_REST)
    return np.dstack([windowed, full, emphasis.astype(np.uint8)])


def find_text(image: np.ndarray, detector: TextDetector, *, depth: int = REFINE_DEPTH) -> list[Box]:
    """Text boxes in an 8-bit image, with boxes too tall to be a line of text looked at again.

    The detector sometimes marks a large smooth structure (a body outline, lungs, a segmentation
    mask) as one huge text region. Such a box is searched again on its own crop, which the
    detector sees at a finer scale; lines found there replace it. A box that is still too tall
    after ``depth`` closer looks is kept whole: when in doubt, black it out.
    """
    return _find_text(image, detector, depth, _max_line_height(image.shape[0]))


def _max_line_height(frame_height: int) -> int:
    return max(MAX_LINE_PX, frame_height // MAX_LINE_FRACTION)


def _find_text(image: np.ndarray, detector: TextDetector, depth: int, max_line: int) -> list[Box]:
    found: list[Box] = []
    for box in detector.detect(image):
        crop = image[box.y : box.y + box.h, box.x : box.x + box.w]
        if box.h <= max_line or depth <= 0 or crop.shape == image.shape:
            found.append(box)
            continue
        for inner in _find_text(np.ascontiguousarray(crop), detector, depth - 1, max_line):
            found.append(Box(inner.x + box.x, inner.y + box.y, inner.w, inner.h))
    return found


def _fill_value(arr: np.ndarray, ds: Dataset) -> int:
    """The value shown as black: lowest stored value (highest for MONOCHROME1), 0 for colour."""
    if not _is_monochrome(ds):
        return 0
    return int(arr.max()) if _is_inverted(ds) else int(arr.min())


def redact_dicom_pixels(
    ds: Dataset,
    *,
    detector: TextDetector,
    exempt: bool = False,
    margin: int = DEFAULT_MARGIN,
) -> PixelOutcome:
    """Black out every text region the detector finds, on every frame, in place on ``ds``.

    Found text: Pixel Data is rewritten uncompressed (Explicit VR Little Endian if it was
    compressed) and YBR colour becomes RGB. Nothing found: ``ds`` is left untouched.
    ``exempt``: nothing is searched or changed; ``verify_exempt`` reads the text instead.
    Raises PixelError if the pixels cannot be decoded or the detector cannot run.
    """
    if exempt:
        return PixelOutcome(changed=False, exempt=True)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        return PixelOutcome(changed=False)
    original = decode_frames(ds)
    tsyntax = _transfer_syntax(ds)
    if tsyntax is not None and not tsyntax.is_little_endian:
        raise PixelError("big-endian pixel data is not supported")
    rows, columns = original.shape[1], original.shape[2]
    fill = _fill_value(original, ds)
    redacted: np.ndarray | None = None
    regions: list[Region] = []
    for index in range(original.shape[0]):
        boxes = find_text(detection_image(original[index], ds), detector)
        for box in boxes:
            grown = box.grown(margin, columns, rows)
            if grown.w == 0 or grown.h == 0:
                continue
            if redacted is None:
                redacted = original.copy()
            redacted[index, grown.y : grown.y + grown.h, grown.x : grown.x + grown.w] = fill
            regions.append((index, grown.x, grown.y, grown.w, grown.h))
    if redacted is None:
        return PixelOutcome(changed=False)
    _write_uncompressed(ds, redacted)
    new_tsyntax = _transfer_syntax(ds)
    changed_to = str(new_tsyntax) if new_tsyntax != tsyntax else None
    return PixelOutcome(changed=True, regions=regions, transfer_syntax_changed_to=changed_to)


def _write_uncompressed(ds: Dataset, arr: np.ndarray) -> None:
    photometric = str(ds.PhotometricInterpretation).strip().upper()
    if not photometric.startswith("MONOCHROME"):
        photometric = "RGB"  # decode_frames returns colour as RGB whatever was stored
    if arr.dtype.itemsize > 2:
        raise PixelError("pixel data with more than 16 bits per sample cannot be rewritten")
    if "NumberOfFrames" not in ds and arr.shape[0] == 1:
        arr = arr[0]
    try:
        ds.set_pixel_data(arr, photometric, int(ds.BitsStored), generate_instance_uid=False)
    except (ValueError, NotImplementedError, AttributeError) as exc:
        raise PixelError("redacted pixel data could not be written") from exc


def _read_back(ds_or_bytes: Dataset | bytes) -> Dataset:
    """A fresh dataset parsed from the written bytes, so no cached array is trusted."""
    if isinstance(ds_or_bytes, Dataset):
        buffer = io.BytesIO()
        try:
            ds_or_bytes.save_as(buffer, enforce_file_format=True)
        except Exception as exc:
            raise PixelError("the redacted file could not be written for verification") from exc
        data = buffer.getvalue()
    else:
        data = ds_or_bytes
    try:
        return pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as exc:
        raise PixelError("the redacted file could not be read back") from exc


def verify_redacted(
    ds_or_bytes: Dataset | bytes, regions: Iterable[Region], detector: TextDetector
) -> list[str]:
    """Reasons the redaction cannot be trusted; empty if it can.

    Independently re-decodes the written output, checks that each region is one flat value,
    and runs a second detection on every frame that had text. Only text at or next to a
    redacted region counts: that is where a missed letter would be, while with the labels gone
    the frame's contrast changes and plain anatomy elsewhere can look like text. Frames are
    counted from 1 in the reasons.
    """
    regions = list(regions)
    if not regions:
        return []
    ds = _read_back(ds_or_bytes)
    frames = decode_frames(ds)
    reasons: list[str] = []
    for index, x, y, w, h in regions:
        if not 0 <= index < frames.shape[0]:
            reasons.append(f"redacted frame {index + 1} is missing from the output")
            continue
        patch = frames[index, y : y + h, x : x + w]
        if patch.size == 0 or np.any(patch != patch.reshape(-1, *patch.shape[2:])[0]):
            reasons.append(f"a redacted region on frame {index + 1} is not blacked out")
    for index in sorted({r[0] for r in regions}):
        if not 0 <= index < frames.shape[0]:
            continue
        image = detection_image(frames[index], ds)
        boxes = [(x, y, w, h) for f, x, y, w, h in regions if f == index]
        found = find_text(neutralize_regions(image, boxes), detector)
        if any(touches(box, region) for box in found for region in boxes):
            reasons.append(f"text still detected on frame {index + 1} after redaction")
    return reasons


def touches(box: Box, region: tuple[int, int, int, int], slack: int = VERIFY_SLACK) -> bool:
    """Whether a detected box overlaps a redacted region or lies within ``slack`` pixels of it."""
    x, y, w, h = region
    return (
        box.x < x + w + slack
        and x - slack < box.x + box.w
        and box.y < y + h + slack
        and y - slack < box.y + box.h
    )


def neutralize_regions(image: np.ndarray, boxes: Iterable[tuple[int, int, int, int]]) -> np.ndarray:
    """A copy of an 8-bit image with each box filled by the median of a ring around it.

    The detector reads a black bar on grey tissue as a line of text; the verifier has already
    checked that each box is flat, so hiding the bars lets the second pass look only for
    letters the boxes missed.
    """
    out = image.copy()
    height, width = out.shape[:2]
    ring = 4
    for x, y, w, h in boxes:
        x0, y0 = max(0, x - ring), max(0, y - ring)
        x1, y1 = min(width, x + w + ring), min(height, y + h + ring)
        around = out[y0:y1, x0:x1].astype(np.float32)
        inner = np.zeros(around.shape[:2], dtype=bool)
        inner[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = True
        border = around[~inner]
        if border.size:
            out[y : y + h, x : x + w] = np.median(border, axis=0).astype(np.uint8)
    return out


def _recognition_images(frame: np.ndarray, ds: Dataset) -> list[np.ndarray]:
    """Grey renderings to read text from: the viewer's window and the full range (overlays at
    maximum intensity read best there). Colour frames are read as they are."""
    if not _is_monochrome(ds):
        return [_rgb_uint8(frame, ds)]
    channels = detection_image(frame, ds)
    return [np.ascontiguousarray(channels[:, :, 0]), np.ascontiguousarray(channels[:, :, 1])]


def verify_exempt(
    ds: Dataset | bytes,
    identifiers: Iterable[str],
    *,
    detector: TextDetector | None = None,
) -> list[str]:
    """For an image a clinic exempted from redaction: reasons if its text resembles the patient.

    Reads every frame's text and fuzzy-matches it against ``identifiers``. Reasons never name
    the identifier or the text. With no identifiers nothing can be checked, which is a reason
    too: an exemption is only safe when it has been verified.
    """
    identifiers = [i for i in identifiers if i and i.strip()]
    if not identifiers:
        return ["no patient identifiers were given to check the exempted image against"]
    detector = detector or get_detector()
    dataset = ds if isinstance(ds, Dataset) else _read_back(ds)
    frames = decode_frames(dataset)
    reasons: list[str] = []
    for index in range(frames.shape[0]):
        lines: list[str] = []
        for image in _recognition_images(frames[index], dataset):
            lines.extend(text for _, text in detector.recognize(image))
        texts = [*lines, " ".join(lines)]
        if any(fuzzy_contains(text, identifiers) for text in texts):
            reasons.append(f"text on frame {index + 1} resembles a patient identifier")
    return reasons
