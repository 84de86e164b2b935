"""Scoring the pixel redaction on the labelled set: per image, which identifiers were removed,
which annotations stayed readable, whether a text-free image came out untouched.

Runs the pixel stages as the engine does (search and verdicts, painting, writing, the
independent second pass) without the header stages, so a header decision can never hide a
pixel result. Readability is judged by the recogniser itself on the output pixels.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

import numpy as np
import pydicom

from scans.deid.burned_in import TextSearch
from scans.deid.photos import clean_photo, open_pixels, verify_photo
from scans.deid.pixels import decode_frames, display_frame, redact_dicom_pixels, verify_redacted
from scans.deid.text import TextDetector
from tests.support.pixelset import Label, LabelledImage

READABLE_SIMILARITY = 0.8


@dataclass
class ImageScore:
    """What happened to one image of the set."""

    name: str
    text_free: bool
    pixels_changed: bool
    identifiers_removed: list[str] = field(default_factory=list)
    identifiers_left: list[str] = field(default_factory=list)
    annotations_kept: list[str] = field(default_factory=list)
    annotations_lost: list[str] = field(default_factory=list)
    verifier_reasons: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)


def _squash(text: str) -> str:
    return re.sub(r"[^0-9a-z%.]", "", text.casefold())


def similarity(a: str, b: str) -> float:
    import difflib

    return difflib.SequenceMatcher(None, _squash(a), _squash(b)).ratio()


def _covered(label: Label, regions: list[tuple[int, int, int, int, int]], shape) -> np.ndarray:
    cover = np.zeros(shape, dtype=bool)
    for frame, x, y, w, h in regions:
        if frame == label.frame:
            cover[y : y + h, x : x + w] = True
    return cover


def _readable(label: Label, shown: np.ndarray, detector: TextDetector) -> bool:
    x, y, w, h = label.box
    pad = max(4, h // 2)
    crop = shown[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad]
    reading = detector.read_crops([np.ascontiguousarray(crop)])[0]
    return similarity(reading.text, label.text) >= READABLE_SIMILARITY


def score_image(image: LabelledImage, detector: TextDetector) -> ImageScore:
    """Run the pixel stages on one image and score the result against its labels."""
    if image.kind == "photo":
        before, _ = open_pixels(image.data)
        outcome = clean_photo(image.data, detector=detector)
        after, _ = open_pixels(outcome.output)
        regions, search = outcome.regions, outcome.search
        reasons = verify_photo(outcome.output, regions, detector, kept=search.kept,
                               flagged=search.left())
        frames_before, frames_after = before[None], after[None]
        shown = [after]
    else:
        ds = pydicom.dcmread(io.BytesIO(image.data))
        frames_before = decode_frames(ds).copy()
        outcome = redact_dicom_pixels(ds, detector=detector)
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        written = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
        frames_after = decode_frames(written)
        regions, search = outcome.regions, outcome.search
        reasons = verify_redacted(buffer.getvalue(), regions, detector,
                                  clear_frames=search.clear_frames,
                                  looked_frames=search.looked_frames, kept=search.kept,
                                  flagged=search.left())
        shown = [display_frame(frame, written) for frame in frames_after]
    changed = frames_before.shape != frames_after.shape or not np.array_equal(
        frames_before, frames_after)
    score = ImageScore(image.name, image.text_free, changed, verifier_reasons=reasons,
                       review=_codes(search))
    shape = frames_after.shape[1:3]
    for label in image.identifiers:
        inside = _covered(label, regions, shape)[label.mask]
        painted = bool(np.all(inside))
        (score.identifiers_removed if painted else score.identifiers_left).append(label.text)
    for label in image.annotations:
        untouched = not np.any(_covered(label, regions, shape)[label.mask])
        ok = untouched and _readable(label, shown[label.frame], detector)
        (score.annotations_kept if ok else score.annotations_lost).append(label.text)
    return score


def _codes(search: TextSearch) -> list[str]:
    return sorted({flag[5] for flag in search.review})


@dataclass
class SetScore:
    """Totals over the set: the figures ``make bench`` prints."""

    images: int = 0
    text_free: int = 0
    text_free_altered: int = 0
    identifiers: int = 0
    identifiers_removed: int = 0
    annotations: int = 0
    annotations_kept: int = 0
    quarantined: int = 0
    flagged: int = 0

    def add(self, score: ImageScore) -> None:
        self.images += 1
        self.text_free += score.text_free
        self.text_free_altered += score.text_free and score.pixels_changed
        self.identifiers += len(score.identifiers_removed) + len(score.identifiers_left)
        self.identifiers_removed += len(score.identifiers_removed)
        self.annotations += len(score.annotations_kept) + len(score.annotations_lost)
        self.annotations_kept += len(score.annotations_kept)
        self.quarantined += bool(score.verifier_reasons)
        self.flagged += bool(score.review)
