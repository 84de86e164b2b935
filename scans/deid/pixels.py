"""Blacking out text burned into DICOM pixels, and checking the result independently.

Every frame is searched; none is skipped. Pixels outside the blacked-out boxes stay bit-identical
to the decoded original. If nothing is found the Pixel Data bytes are not touched at all, so
compressed files stay compressed. If the pixels cannot be decoded or the detector cannot run,
``PixelError`` is raised and the caller quarantines the file.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import iter_pixels
from pydicom.uid import UID

from scans.deid.burned_in import (
    TextSearch,
    Verdict,
    annotation_at,
    frame_digest,
    judge_lines,
    max_line_height,
    neutralize_regions,
    verifier_for,
    with_body,
)
from scans.deid.pixel_bytes import native_layout
from scans.deid.text import Box, Line, PixelError, TextDetector, fuzzy_contains, get_detector

Region = tuple[int, int, int, int, int]  # (frame, x, y, w, h); frame counts from 0

DEFAULT_MARGIN = 3
# Burned-in text is usually drawn at the brightest value; values in the top 2% of a frame's
# range are shown at full white and everything else dimmed, so the text stands out even
# where a clinical window saturates bone to the same white.
_EMPHASIS_FROM = 0.98
_EMPHASIS_REST = 160.0
_AUTO_WINDOW_PERCENTILES = (0.5, 99.5)
REFINE_DEPTH = 3
# A letter the redaction missed sits right next to a region.
VERIFY_SLACK = 6
# Frames searched per detector call (same-sized frames of a multi-frame image go as one batch).
FRAME_BATCH = 4
# How many times the first pass's final look may add boxes before it leaves the verdict to the
# verifier (which then refuses the image).
FINAL_LOOKS = 3

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
    """What redaction did to one file; ``regions`` are the blacked-out boxes, margin included.

    ``pending``: the regions are not painted yet; the caller paints them with ``fill`` onto
    the written file (``paint_regions``). Only a ``deferred`` redaction returns this.
    """

    changed: bool
    regions: list[Region] = field(default_factory=list)
    transfer_syntax_changed_to: str | None = None
    exempt: bool = False
    pending: bool = False
    fill: int = 0
    search: TextSearch = field(default_factory=lambda: TextSearch([], [], [], {}))


def _transfer_syntax(ds: Dataset) -> UID | None:
    meta = getattr(ds, "file_meta", None)
    value = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(str(value)) if value else None


def decode_frames(ds: Dataset) -> np.ndarray:
    """All frames as one array shaped (frames, rows, columns) or (frames, rows, columns, 3).

    Colour is always returned as RGB (YBR is converted by pydicom). Raises PixelError with a
    reason a person understands when the pixels cannot be decoded.
    """
    _check_decodable(ds)
    try:
        arr = ds.pixel_array
    except Exception as exc:
        raise _decode_error(ds) from exc
    samples = int(ds.get("SamplesPerPixel", 1))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    single = arr.ndim == (3 if samples > 1 else 2)
    if single:
        arr = arr[np.newaxis, ...]
    if arr.shape[0] != frames and not (single and frames == 1):
        raise PixelError("pixel data could not be decoded (frame count does not match)")
    return arr


def iter_frames(ds: Dataset) -> Iterator[np.ndarray]:
    """Each frame in turn, decoded exactly as ``decode_frames`` would, one frame in memory.

    Raises PixelError like ``decode_frames``, including when fewer or more frames come out
    than the header declares.
    """
    _check_decodable(ds)
    expected = int(ds.get("NumberOfFrames", 1) or 1)
    count = 0
    try:
        for frame in iter_pixels(ds):
            count += 1
            yield frame
    except PixelError:
        raise
    except Exception as exc:
        raise _decode_error(ds) from exc
    if count != expected:
        raise PixelError("pixel data could not be decoded (frame count does not match)")


def _check_decodable(ds: Dataset) -> None:
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


def _decode_error(ds: Dataset) -> PixelError:
    tsyntax = _transfer_syntax(ds)
    if tsyntax is None or not tsyntax.is_transfer_syntax:
        return PixelError("pixel data uses an unsupported transfer syntax")
    if tsyntax.is_compressed:
        codec = _CODEC_NAMES.get(str(tsyntax), "unsupported compression")
        return PixelError(f"compressed pixel data could not be decoded ({codec})")
    return PixelError("pixel data could not be decoded (truncated or inconsistent)")


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
    if frame.dtype.kind in "iu" and frame.dtype.itemsize <= 2 and frame.ndim == 2:
        return _detection_image_by_table(frame, ds)
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


def _detection_image_by_table(frame: np.ndarray, ds: Dataset) -> np.ndarray:
    """``detection_image`` for integer frames, computed once per stored value that occurs
    (a look-up table) instead of once per pixel: the same three renderings, a few times
    faster on a 512 x 512 slice."""
    lowest, highest = int(frame.min()), int(frame.max())
    stored = np.arange(lowest, highest + 1, dtype=np.int64)
    values = rescaled(stored.astype(np.float32), ds)
    low, high = float(min(values[0], values[-1])), float(max(values[0], values[-1]))
    window = file_window(ds)
    if window is None:
        step = max(1, int(np.sqrt(frame.size / 65536)))
        sample = rescaled(frame[::step, ::step], ds)
        window = auto_window(sample)
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
    table = np.stack([windowed, full, emphasis.astype(np.uint8)], axis=1)
    index = frame.astype(np.int32) if lowest else frame
    if lowest:
        index -= lowest
    return np.take(table, index, axis=0)


def find_text(image: np.ndarray, detector: TextDetector, *, depth: int = REFINE_DEPTH) -> list[Box]:
    """Text boxes in an 8-bit image (``find_lines``, boxes only)."""
    return [line.box for line in find_lines([image], detector, depth=depth)[0]]


def find_lines(
    images: list[np.ndarray], detector: TextDetector, *, depth: int = REFINE_DEPTH
) -> list[list[Line]]:
    """Text lines in each 8-bit image, with lines too tall to be text looked at again.

    The detector sometimes marks a large smooth structure (a body outline, lungs, a segmentation
    mask) as one huge text region. Such a box is searched again on its own crop, which the
    detector sees at a finer scale; lines found there replace it. A box that is still too tall
    after ``depth`` closer looks is kept whole, for the verdict to judge.
    """
    found = detector.detect_lines(images)
    return [
        merge_overlapping([
            along_ink(image, line)
            for line in _refined(image, lines, detector, depth, max_line_height(image.shape[0]))
        ])
        for image, lines in zip(images, found, strict=True)
    ]


def along_ink(image: np.ndarray, line: Line) -> Line:
    """The line stretched along its row to letters its core stopped short of.

    At a coarse detection scale the first or last letters of a line answer weakly (a thin
    "1", a final "E"). Columns just beyond the box, within the core's rows, that hold ink
    (pixels far from the band's median) continue the line, up to 4 core heights per side
    and across gaps no wider than a core height. Both the redaction box and the crop read
    grow with it.
    """
    core = line.core
    height, width = image.shape[:2]
    if core.h < 2 or core.w < 2:
        return line
    top, bottom = max(0, core.y - core.h // 3), min(height, core.y + core.h + core.h // 3)
    band = image[top:bottom]
    band = band.max(axis=2).astype(np.int16) if band.ndim == 3 else band.astype(np.int16)
    middle = np.median(band[:, core.x : core.x + core.w])
    spread = np.percentile(band[:, core.x : core.x + core.w], 98) - middle
    ink_columns = (np.abs(band - middle) > max(40.0, 0.5 * float(spread))).any(axis=0)
    gap, limit = max(3, core.h), 4 * core.h
    left = _reach(ink_columns, core.x - 1, -1, gap, limit)
    right = _reach(ink_columns, core.x + core.w, 1, gap, limit)
    if left == core.x and right == core.x + core.w:
        return line
    box = line.box
    x0, x1 = min(box.x, left - (core.x - box.x) // 2), max(box.x + box.w, right + 2)
    x0, x1 = max(0, x0), min(width, x1)
    new_core = Box(left, core.y, right - left, core.h)
    return Line(Box(x0, box.y, x1 - x0, box.h), new_core)


def _reach(ink: np.ndarray, start: int, step: int, gap: int, limit: int) -> int:
    """How far ink continues from ``start`` in direction ``step``: the column after the last
    ink column found (or ``start`` itself, stepped back, when there is none)."""
    last = None
    position, blank = start, 0
    while 0 <= position < ink.size and abs(position - start) <= limit:
        if ink[position]:
            last, blank = position, 0
        else:
            blank += 1
            if blank > gap:
                break
        position += step
    if last is None:
        return start if step > 0 else start + 1
    return last + 1 if step > 0 else last


def merge_overlapping(lines: list[Line]) -> list[Line]:
    """Pieces of one row whose boxes overlap by more than a third of the smaller one become one
    line: the detector sometimes cuts a line into overlapping pieces, and each piece alone
    reads as nonsense. Lines that merely touch, and stacked lines, stay apart."""
    merged = list(lines)
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                if _same_row(merged[i].core, merged[j].core) and \
                        _overlap(merged[i].box, merged[j].box) > 1 / 3:
                    merged[i] = Line(_union(merged[i].box, merged[j].box),
                                     _union(merged[i].core, merged[j].core))
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return sorted(merged, key=lambda line: (line.box.y, line.box.x))


def _same_row(a: Box, b: Box) -> bool:
    """Whether two cores sit on one row: their vertical centres are within half the smaller
    core's height."""
    return abs((a.y + a.h / 2) - (b.y + b.h / 2)) <= min(a.h, b.h) / 2


def _inside(box: Box, place: Box, share: float = 0.8) -> bool:
    w = min(box.x + box.w, place.x + place.w) - max(box.x, place.x)
    h = min(box.y + box.h, place.y + place.h) - max(box.y, place.y)
    return w > 0 and h > 0 and w * h >= share * box.w * box.h


def _overlap(a: Box, b: Box) -> float:
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / max(1, min(a.w * a.h, b.w * b.h))


def _union(a: Box, b: Box) -> Box:
    x0, y0 = min(a.x, b.x), min(a.y, b.y)
    x1, y1 = max(a.x + a.w, b.x + b.w), max(a.y + a.h, b.y + b.h)
    return Box(x0, y0, x1 - x0, y1 - y0)


def _refined(image: np.ndarray, lines: list[Line], detector: TextDetector, depth: int,
             max_line: int) -> list[Line]:
    out: list[Line] = []
    for line in lines:
        box = line.box
        crop = image[box.y : box.y + box.h, box.x : box.x + box.w]
        if box.h <= max_line or depth <= 0 or crop.shape == image.shape:
            out.append(line)
            continue
        inner = _refined(np.ascontiguousarray(crop), detector.detect_lines([crop])[0], detector,
                         depth - 1, max_line)
        out.extend(Line(_shifted(i.box, box), _shifted(i.core, box)) for i in inner)
    return out


def _shifted(inner: Box, outer: Box) -> Box:
    return Box(inner.x + outer.x, inner.y + outer.y, inner.w, inner.h)


def redact_dicom_pixels(
    ds: Dataset,
    *,
    detector: TextDetector,
    exempt: bool = False,
    margin: int = DEFAULT_MARGIN,
    deferred: bool = False,
) -> PixelOutcome:
    """Black out every text region the detector finds, on every frame, in place on ``ds``.

    Found text: Pixel Data is rewritten uncompressed (Explicit VR Little Endian if it was
    compressed) and YBR colour becomes RGB. Nothing found: ``ds`` is left untouched.
    ``exempt``: nothing is searched or changed; ``verify_exempt`` reads the text instead.
    ``deferred``: for uncompressed monochrome or RGB pixels, frames are searched one at a time
    and ``ds`` is not changed at all; the outcome is ``pending`` and the caller paints the
    regions onto the written file (``paint_regions``), so a large cine never exists twice in
    memory. Other encodings are rewritten as without ``deferred``.
    Raises PixelError if the pixels cannot be decoded or the detector cannot run.
    """
    if exempt:
        return PixelOutcome(changed=False, exempt=True)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        return PixelOutcome(changed=False)
    tsyntax = _transfer_syntax(ds)
    if deferred and native_layout(ds) is not None:
        search, fill = _search_frames(iter_frames(ds), ds, detector, margin)
        regions = search.regions
        return PixelOutcome(changed=bool(regions), regions=regions, pending=bool(regions),
                            fill=fill, search=search)
    original = decode_frames(ds)
    if tsyntax is not None and not tsyntax.is_little_endian:
        raise PixelError("big-endian pixel data is not supported")
    search, fill = _search_frames(original, ds, detector, margin)
    regions = search.regions
    if not regions:
        return PixelOutcome(changed=False, search=search)
    # The decoded array is ours to change: Pixel Data is replaced from it right below.
    paint_regions(original, regions, fill)
    _write_uncompressed(ds, original)
    new_tsyntax = _transfer_syntax(ds)
    changed_to = str(new_tsyntax) if new_tsyntax != tsyntax else None
    return PixelOutcome(changed=True, regions=regions, transfer_syntax_changed_to=changed_to,
                        fill=fill, search=search)


def _search_frames(
    frames: Iterable[np.ndarray], ds: Dataset, detector: TextDetector, margin: int
) -> tuple[TextSearch, int]:
    """The verdict on every text line of every frame, and the stored value shown as black:
    the lowest of the whole image (highest for MONOCHROME1), 0 for colour.

    Frames go to the detector in batches of ``FRAME_BATCH``. Redacted boxes are grown by
    ``margin``. A frame with no line at all is recorded by the digest of its decoded pixels,
    so the verifier can tell that the output still holds exactly those pixels.
    """
    search = TextSearch([], [], [], {})
    monochrome, inverted = _is_monochrome(ds), _is_inverted(ds)
    fill: int | None = None
    batch: list[tuple[int, np.ndarray, np.ndarray]] = []
    memo: dict = {}  # readings by crop digest: a cine repeats its overlay on every frame
    verifier = verifier_for(detector)

    def flush() -> None:
        images = [image for _, _, image in batch]
        for (index, frame, image), lines in zip(batch, find_lines(images, detector),
                                                strict=True):
            if not lines:
                search.clear_frames[index] = frame_digest(frame)
                continue
            verdicts = with_body(judge_lines(image, lines, detector, renderings=monochrome,
                                             memo=memo), _grey(image, monochrome))
            search.add(index, verdicts, margin, frame.shape[1], frame.shape[0])
            key = final_look(search, index, frame, image, ds, verifier,
                             fill if fill is not None else 0, margin)
            if key is not None:
                search.looked_frames[index] = key
        batch.clear()

    for index, frame in enumerate(frames):
        if monochrome:
            extreme = int(frame.max()) if inverted else int(frame.min())
            if fill is None or (extreme > fill if inverted else extreme < fill):
                fill = extreme
        batch.append((index, frame, detection_image(frame, ds)))
        if len(batch) >= FRAME_BATCH:
            flush()
    if batch:
        flush()
    return search, fill if fill is not None else 0


def final_look(
    search: TextSearch,
    index: int,
    frame: np.ndarray,
    image: np.ndarray,
    ds: Dataset,
    verifier: TextDetector,
    fill: int,
    margin: int,
) -> str | None:
    """The verifier's own look at one frame as it will be written; whatever it objects to is
    blacked out too, and it looks again, up to ``FINAL_LOOKS`` times.

    The look is the verifier's, call for call (``verification_input`` and ``objections``, its
    detector parameters, no shared readings): the frame with this frame's regions painted in
    ``fill``, rendered from ``ds``, the regions neutralized. So the first pass is at least as
    sensitive as the verifier, by construction. Returns ``look_key`` of that input when the
    last look objected to nothing: a verifier handed bit-identical input would repeat the look
    and get the same empty answer (``verify_redacted``). None when objections remain; the
    verifier then looks on its own and refuses the image.
    """
    monochrome = _is_monochrome(ds)
    height, width = frame.shape[:2]
    for _ in range(FINAL_LOOKS):
        boxes = [(x, y, w, h) for f, x, y, w, h in search.regions if f == index]
        painted = frame
        if boxes:
            painted = frame.copy()
            for x, y, w, h in boxes:
                painted[y : y + h, x : x + w] = fill
        neutral = verification_input(painted, ds, boxes)
        places = [Box(x, y, w, h) for f, x, y, w, h in search.kept if f == index]
        marks = [Box(x, y, w, h) for f, x, y, w, h in search.left() if f == index]
        found = objections(neutral, boxes, verifier, renderings=monochrome, places=places,
                           marks=marks)
        if not found:
            return look_key(neutral, boxes, places, marks, verifier)
        # Privacy first: a mark the verifier reads as text is never left for a person to judge.
        more = [Verdict(box, "redact", "identifying") for box, _ in found]
        search.add(index, with_body(more, _grey(image, monochrome)), margin, width, height)
    return None


def verification_input(frame: np.ndarray, header: Dataset,
                       boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """What the verifier searches on a written frame: its detection renderings with every
    redacted box replaced by its surroundings (a black bar reads as a line of text)."""
    image = detection_image(frame, header)
    return neutralize_regions(image, boxes) if boxes else image


def look_key(image: np.ndarray, boxes: list[tuple[int, int, int, int]], places: list[Box],
             marks: list[Box], verifier: TextDetector) -> str:
    """A digest of everything one ``objections`` call depends on: the image searched, the
    redacted boxes, the kept places, the flagged marks and the verifier's parameters."""
    digest = hashlib.sha256()
    digest.update(repr((image.shape, image.dtype.str, boxes, places, marks, verifier.det_side,
                        verifier.min_scale, verifier.target_text_px, verifier.box_thresh,
                        verifier.providers)).encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


def verifiers_look(
    search: TextSearch,
    index: int,
    image: np.ndarray,
    verifier: TextDetector,
    renderings: bool,
    memo: dict,
) -> list[Verdict]:
    """Lines of one frame the independent verifier would still object to once this frame's
    redactions are made, as lines to black out too.

    The verifier looks with its own detector parameters (a finer scale, a lower threshold), so
    it can find or read what the first pass did not; a release would then fail on text the
    first pass could have covered. Running its look here makes the first pass at least as
    sensitive as the verifier, by construction; the verifier still re-decodes and checks the
    written output on its own afterwards. Allowed annotations the first pass kept and marks it
    flagged are honoured exactly as the verifier honours them; anything else it objects to is
    blacked out (privacy first: a mark it reads as text is never left for a person to judge).
    """
    boxes = [(x, y, w, h) for f, x, y, w, h in search.regions if f == index]
    neutral = neutralize_regions(image, boxes) if boxes else image
    places = [Box(x, y, w, h) for f, x, y, w, h in search.kept if f == index]
    marks = [Box(x, y, w, h) for f, x, y, w, h in search.left() if f == index]
    found = objections(neutral, boxes, verifier, renderings=renderings, places=places,
                       marks=marks, memo=memo)
    return [Verdict(box, "redact", "identifying") for box, _ in found]


def _grey(image: np.ndarray, monochrome: bool) -> np.ndarray:
    """A grey image for the foreground mask: a monochrome frame's clinical window (channel 0 of
    ``detection_image``), or the luminance of a colour frame."""
    import cv2

    if image.ndim == 2:
        return image
    if monochrome:
        return np.ascontiguousarray(image[:, :, 0])
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def paint_regions(frames: np.ndarray, regions: Iterable[Region], fill: int) -> None:
    """Set every region of ``frames`` (frames, rows, columns[, samples]) to ``fill``, in place."""
    for index, x, y, w, h in regions:
        frames[index, y : y + h, x : x + w] = fill


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


def _written_bytes(ds_or_bytes: Dataset | bytes) -> bytes:
    """The file as written, so no cached array or in-memory value is trusted."""
    if not isinstance(ds_or_bytes, Dataset):
        return ds_or_bytes
    buffer = io.BytesIO()
    try:
        ds_or_bytes.save_as(buffer, enforce_file_format=True)
    except Exception as exc:
        raise PixelError("the redacted file could not be written for verification") from exc
    return buffer.getvalue()


def _read_frames(data: bytes, indices: list[int] | None = None) -> Iterator[tuple[Dataset,
                                                                                   np.ndarray]]:
    """Decode frames straight from the written bytes, one at a time, with the image attributes
    needed to display them. A fresh parse: nothing from the cleaning run is reused."""
    header = Dataset()
    try:
        for frame in iter_pixels(io.BytesIO(data), ds_out=header, indices=indices):
            yield header, frame
    except PixelError:
        raise
    except Exception as exc:
        raise PixelError("the redacted file could not be read back") from exc


def verify_redacted(
    ds_or_bytes: Dataset | bytes,
    regions: Iterable[Region],
    detector: TextDetector,
    *,
    clear_frames: Mapping[int, str] | None = None,
    looked_frames: Mapping[int, str] | None = None,
    kept: Iterable[Region] = (),
    flagged: Iterable[Region] = (),
) -> list[str]:
    """Reasons the redaction cannot be trusted; empty if it can.

    Independent of the first pass: the written output is parsed and decoded again, frame by
    frame, and looked at with the verifier's own detector parameters (``verifier_for``), its
    own crops and its own readings. Each redacted region must be one flat value. Then every
    frame gets the second look, except a frame the first pass found no text on at all AND
    whose re-decoded pixels have exactly the digest the first pass recorded for it
    (``clear_frames``): nothing was drawn, kept or changed there, so there is no redaction to
    check and the same networks on the same pixels have nothing new to say. Likewise a frame
    whose second-look input (the re-decoded frame's renderings, regions neutralized, with its
    boxes, kept places, flagged marks and the verifier's parameters) has exactly the
    ``looked_frames`` digest of an input on which the first pass already made this very look
    (``final_look``) and heard no objection: the look is a deterministic function of that
    input, so it would answer the same. The second look
    recognises every line: a line next to a redacted region fails the image unless it reads
    surely as an allowed annotation (a letter the box missed sits there); anywhere else,
    readable text that is not an allowed annotation, or an unreadable text-shaped mark,
    fails it. Frames are counted from 1 in the reasons.

    ``kept``: where the first pass kept annotations. Used only as places to read again: a
    line the verifier cannot accept that lies inside one of them is accepted only if the
    verifier's own reading of that whole place is surely an allowed annotation (a line found
    in pieces reads as nonsense piece by piece). ``flagged``: marks the first pass left in
    place and flagged for a person; an unreadable text-shaped line inside one is already
    before the patient's eyes with its reason, and does not fail the image (anything readable
    there still does).
    """
    regions = list(regions)
    kept, flagged = list(kept), list(flagged)
    clear = dict(clear_frames or {})
    looked = dict(looked_frames or {})
    data = _written_bytes(ds_or_bytes)
    reasons: list[str] = []
    verifier = verifier_for(detector)
    count = 0
    for index, (header, frame) in enumerate(_read_frames(data)):
        count = index + 1
        boxes = [(x, y, w, h) for f, x, y, w, h in regions if f == index]
        for x, y, w, h in boxes:
            patch = frame[y : y + h, x : x + w]
            if patch.size == 0 or np.any(patch != patch.reshape(-1, *patch.shape[2:])[0]):
                reasons.append(f"a redacted region on frame {index + 1} is not blacked out")
        if not boxes and clear.get(index) == frame_digest(frame):
            continue
        neutral = verification_input(frame, header, boxes)
        places = [Box(x, y, w, h) for f, x, y, w, h in kept if f == index]
        marks = [Box(x, y, w, h) for f, x, y, w, h in flagged if f == index]
        if index in looked and looked[index] == look_key(neutral, boxes, places, marks,
                                                         verifier):
            continue
        reasons += second_look(neutral, boxes, verifier, index,
                               renderings=_is_monochrome(header), places=places, marks=marks)
    for index in sorted({r[0] for r in regions}):
        if not 0 <= index < count:
            reasons.append(f"redacted frame {index + 1} is missing from the output")
    return list(dict.fromkeys(reasons))


def second_look(
    image: np.ndarray,
    boxes: list[tuple[int, int, int, int]],
    verifier: TextDetector,
    index: int,
    *,
    renderings: bool,
    places: list[Box] | None = None,
    marks: list[Box] | None = None,
    memo: dict | None = None,
) -> list[str]:
    """The verifier's reasons for one frame (see ``verify_redacted``)."""
    return [reason.format(frame=index + 1) for _, reason in objections(
        image, boxes, verifier, renderings=renderings, places=places, marks=marks, memo=memo)]


def objections(
    image: np.ndarray,
    boxes: list[tuple[int, int, int, int]],
    verifier: TextDetector,
    *,
    renderings: bool,
    places: list[Box] | None = None,
    marks: list[Box] | None = None,
    memo: dict | None = None,
) -> list[tuple[Box, str]]:
    """Each line the verifier's look would not accept on one frame, with its reason (a format
    string taking ``frame``). The one rule both passes apply: the verifier to fail an image,
    the first pass to black the line out before the verifier ever sees it."""
    lines = find_lines([image], verifier)[0]
    found = []
    for verdict in judge_lines(image, lines, verifier, renderings=renderings, memo=memo):
        if verdict.action == "keep":
            continue
        place = next((p for p in places or [] if _inside(verdict.box, p)), None)
        if place is not None and annotation_at(image, place, verifier, renderings=renderings):
            continue
        if any(touches(verdict.box, region) for region in boxes):
            found.append((verdict.box, "text still detected on frame {frame} after redaction"))
        elif verdict.why == "identifying":
            found.append((verdict.box, "readable text remains on frame {frame}"))
        elif verdict.why == "unreadable text" and not any(
                _inside(verdict.box, mark) for mark in marks or []):
            found.append((verdict.box, "unreadable text-shaped marks remain on frame {frame}"))
    return found


def touches(box: Box, region: tuple[int, int, int, int], slack: int = VERIFY_SLACK) -> bool:
    """Whether a detected box overlaps a redacted region or lies within ``slack`` pixels of it."""
    x, y, w, h = region
    return (
        box.x < x + w + slack
        and x - slack < box.x + box.w
        and box.y < y + h + slack
        and y - slack < box.y + box.h
    )


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
    if isinstance(ds, Dataset):
        frames: Iterable[tuple[Dataset, np.ndarray]] = ((ds, f) for f in iter_frames(ds))
    else:
        frames = _read_frames(ds)
    reasons: list[str] = []
    for index, (dataset, frame) in enumerate(frames):
        lines: list[str] = []
        for image in _recognition_images(frame, dataset):
            lines.extend(text for _, text in detector.recognize(image))
        texts = [*lines, " ".join(lines)]
        if any(fuzzy_contains(text, identifiers) for text in texts):
            reasons.append(f"text on frame {index + 1} resembles a patient identifier")
    return reasons
