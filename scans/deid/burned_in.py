"""Deciding, line by line, which burned-in text to black out, and which images a person checks.

No Django imports. The rules, in order, for each line the detector found:

0. A box taller than any text line, even after closer looks: an outline or texture the
   detector mistook, LEFT in place and flagged (rule 4).
1. The recogniser reads it surely (``KEEP_SCORE``) and every token is on the reviewed
   allow-vocabulary (``annotations.py``): it is a clinical annotation and is KEPT. A small box
   that reads as nothing is also read mirrored, and kept if it is then surely an orientation
   marker: radiographers' lead markers ("R", "L") are often seen from behind.
2. The recogniser reads letters or digits in it (``READ_SCORE``) that are not all allowed: it
   is identifying (a name, an id, a date, a place, a free word) and is BLACKED OUT.
3. Nothing readable, but the box has the shape of text (a line no taller than a scanner's text
   line, holding several letter-sized strokes): unsure means BLACKED OUT.
4. Nothing readable and not text-shaped (a vessel, an edge, a pattern the detector mistook):
   LEFT in place, and the image is flagged for a person to check.

An image is flagged "check this image" when a box is left (rule 4) or when a blacked-out box
lies over the body: at least ``BODY_FRACTION`` of the box on the image's foreground, where the
foreground is the image after every detected box is replaced by its surroundings, smoothed to
1/4 scale, Otsu-thresholded, and kept where a region covers at least 1 % of the image. Text on
the black margins of a CT, an ultrasound or a radiograph is never "over the body".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from scans.deid.annotations import (
    ORIENTATION,
    has_letters_or_digits,
    is_annotation,
    mostly_allowed,
)
from scans.deid.text import Box, Line, Reading, TextDetector, crop_of, reading_box

# Mean character confidence above which a reading counts as readable at all, and above which
# an allowed reading is trusted enough to keep the pixels.
READ_SCORE = 0.5
KEEP_SCORE = 0.75
# A scanner's text line is never taller than this (px, or this fraction of the frame height).
MAX_LINE_PX = 48
MAX_LINE_FRACTION = 8
BODY_FRACTION = 0.3
# Ink on a ground splits into two levels that explain most of a crop's variance. Measured on
# the labelled set: text lines 0.70-0.99 (the low end is text over ultrasound speckle), false
# detections on anatomy 0.61-0.89; the bar only drops shading, never text.
MIN_SEPARATION = 0.6
# A box narrower than this many heights may be a lone marker: it is also read mirrored.
MARKER_RATIO = 2.5

Action = Literal["redact", "keep", "leave"]
Why = Literal["identifying", "unreadable text", "annotation", "unreadable mark"]


@dataclass(frozen=True)
class Verdict:
    """What is done with one detected line, and why. ``over_body``: the box lies over the
    image's foreground (only computed for redacted and left boxes)."""

    box: Box
    action: Action
    why: Why
    over_body: bool = False


REVIEW_REASONS = {
    "over-body": "A black box covers part of the picture itself, not only its margins: check "
                 "that it hides nothing you need.",
    "unreadable": "Something that looks like writing could not be read and was left in place: "
                  "check that it does not show who you are.",
}


def max_line_height(frame_height: int) -> int:
    """The tallest box that can still be one line of scanner text."""
    return max(MAX_LINE_PX, frame_height // MAX_LINE_FRACTION)


def judge_lines(
    image: np.ndarray,
    lines: Sequence[Line],
    detector: TextDetector,
    *,
    renderings: bool = False,
    memo: dict[bytes, Reading] | None = None,
) -> list[Verdict]:
    """The verdict on each line of one image (rules 1-4 of the module docstring).

    ``memo``: readings already made for identical crops (the frames of one cine repeat their
    overlay pixel for pixel); the recogniser is deterministic, so a crop is read once.

    ``renderings``: ``image`` holds three grey renderings of one monochrome frame in its
    channels (read from the channel with the most contrast); otherwise it is grey or RGB.
    """
    if not lines:
        return []
    height, width = image.shape[:2]
    boxes = [reading_box(line, width, height) for line in lines]
    crops = [_crop_to_read(image, box, renderings, line.core)
             for box, line in zip(boxes, lines, strict=True)]
    readings = detector.read_crops(crops, memo=memo)
    limit = max_line_height(height)
    if renderings:
        # Nothing read in the rendering that looked cleanest: read the other two. Text drawn
        # at a value the clinical window shows like its background is plain in another.
        retry = [i for i, reading in enumerate(readings)
                 if not _readable(reading) and lines[i].box.h <= limit]
        for rank in (1, 2):
            others = [_crop_to_read(image, boxes[i], True, lines[i].core, rank=rank)
                      for i in retry]
            for i, crop, reading in zip(retry, others, detector.read_crops(others, memo=memo),
                                        strict=True):
                if reading.score > readings[i].score:
                    readings[i], crops[i] = reading, crop
    mirrored_at = [i for i, (line, reading) in enumerate(zip(lines, readings, strict=True))
                   if not _readable(reading) and line.box.w <= MARKER_RATIO * line.box.h]
    mirrored = detector.read_crops([np.ascontiguousarray(crops[i][:, ::-1])
                                    for i in mirrored_at], memo=memo) if mirrored_at else []
    flipped = dict(zip(mirrored_at, mirrored, strict=True))
    # A line read as not allowed gets one more reading, from a wider crop and (monochrome) the
    # next-best rendering, before it is blacked out: a letter cut at the crop's edge ("LYMPH
    # NODI") or a rendering where the text sits in bright texture must not cost an annotation.
    # Only a sure, allowed second reading keeps it; identifiers do not read as annotations.
    # Lines that are mostly not vocabulary ("DOE^JOHN ID 12345") are not worth the reading.
    again_at = [i for i, reading in enumerate(readings)
                if _readable(reading) and not _kept(reading) and lines[i].box.h <= limit
                and mostly_allowed(reading.text)]
    wider = [_crop_to_read(image, _wider(boxes[i], lines[i], width, height), renderings,
                           lines[i].core, rank=1) for i in again_at]
    second = (dict(zip(again_at, detector.read_crops(wider, memo=memo), strict=True))
              if again_at else {})
    verdicts = []
    for index, (line, reading) in enumerate(zip(lines, readings, strict=True)):
        if line.box.h > limit:
            # Still taller than any text line after the closer looks (pixels.find_lines): an
            # outline or a texture, not writing; a person checks it.
            verdicts.append(Verdict(line.box, "leave", "unreadable mark"))
        elif _kept(reading) or _kept(second.get(index)) or _mirrored_marker(flipped.get(index)):
            verdicts.append(Verdict(line.box, "keep", "annotation"))
        elif _readable(reading):
            verdicts.append(Verdict(line.box, "redact", "identifying"))
        elif _any_text_shaped(image, boxes[index], line, limit, renderings):
            verdicts.append(Verdict(line.box, "redact", "unreadable text"))
        else:
            verdicts.append(Verdict(line.box, "leave", "unreadable mark"))
    return verdicts


def _any_text_shaped(image: np.ndarray, box: Box, line: Line, limit: int,
                     renderings: bool) -> bool:
    """``text_shaped`` in any rendering: unsure means text."""
    crop = crop_of(image, box)
    if renderings and crop.ndim == 3:
        return any(text_shaped(np.ascontiguousarray(crop[:, :, c]), line, limit)
                   for c in range(3))
    return text_shaped(crop, line, limit)


def annotation_at(image: np.ndarray, place: Box, detector: TextDetector, *,
                  renderings: bool) -> bool:
    """Whether the whole of ``place`` reads, surely, as an allowed annotation (in the
    rendering where it separates best, or the next)."""
    core = Box(place.x, place.y + place.h // 4, place.w, max(1, place.h // 2))
    crops = [_crop_to_read(image, place, renderings, core, rank=rank)
             for rank in ((0, 1) if renderings else (0,))]
    return any(_kept(reading) for reading in detector.read_crops(crops))


def _wider(box: Box, line: Line, width: int, height: int) -> Box:
    dx, dy = max(4, line.core.h), max(2, line.core.h // 3)
    x0, y0 = max(0, box.x - dx), max(0, box.y - dy)
    x1, y1 = min(width, box.x + box.w + dx), min(height, box.y + box.h + dy)
    return Box(x0, y0, x1 - x0, y1 - y0)


def _kept(reading: Reading | None) -> bool:
    return reading is not None and reading.score >= KEEP_SCORE and is_annotation(reading.text)


def _readable(reading: Reading) -> bool:
    return reading.score >= READ_SCORE and has_letters_or_digits(reading.text)


def _mirrored_marker(reading: Reading | None) -> bool:
    """A lone orientation marker read mirrored (only tried when the box read as nothing)."""
    return (reading is not None and reading.score >= KEEP_SCORE
            and reading.text.strip().casefold() in ORIENTATION)


def _crop_to_read(image: np.ndarray, box: Box, renderings: bool, core: Box | None = None,
                  rank: int = 0) -> np.ndarray:
    """The crop the recogniser reads. Of the three renderings of a monochrome frame, the one
    where the text core separates most cleanly from its background (``rank`` 1: the next)."""
    crop = crop_of(image, box)
    if not renderings or crop.ndim == 2 or crop.size == 0:
        return crop
    judged = crop_of(image, core) if core is not None and core.w and core.h else crop
    order = sorted(range(3), key=lambda c: -_separation(np.ascontiguousarray(judged[:, :, c])))
    return np.ascontiguousarray(crop[:, :, order[rank]])


def _separation(grey: np.ndarray) -> float:
    """How cleanly a grey crop splits into ink and background: Otsu's between-class variance
    over the total variance (1 for two flat levels, near 0 for texture)."""
    import cv2

    total = float(grey.var())
    if total == 0:
        return 0.0
    _, binary = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    share = float(binary.mean())
    if share in (0.0, 1.0):
        return 0.0
    high, low = float(grey[binary == 1].mean()), float(grey[binary == 0].mean())
    return share * (1 - share) * (high - low) ** 2 / total


def text_shaped(crop: np.ndarray, line: Line, max_line: int) -> bool:
    """Whether an unreadable box looks like a line of text.

    All of: no taller than a text line; ink with real contrast (the minority side of an Otsu
    split, 40 grey levels from the rest) on a ground, not shading (Otsu's between-class share
    of the variance at least ``MIN_SEPARATION``); and, in some band of inked rows (a box can hold
    stacked lines), letter-sized pieces of ink on one row (``_letters_on_a_row``).
    """
    import cv2

    if line.box.h > max_line or crop.size == 0:
        return False
    grey = crop if crop.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    _, binary = cv2.threshold(np.ascontiguousarray(grey), 0, 1,
                              cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    above, below = grey[binary == 1], grey[binary == 0]
    if not above.size or not below.size or float(above.mean()) - float(below.mean()) < 40:
        return False
    if _separation(np.ascontiguousarray(grey)) < MIN_SEPARATION:
        return False  # shaded texture, not ink on a ground
    ink = (binary if above.size <= below.size else 1 - binary).astype(np.uint8)
    # Several stacked lines in one box: each band of inked rows is judged on its own.
    rows = np.flatnonzero(np.diff(np.concatenate(([0], ink.any(axis=1).astype(np.int8), [0]))))
    bands = [(int(a), int(b)) for a, b in zip(rows[::2], rows[1::2], strict=True)]
    return any(_letters_on_a_row(np.ascontiguousarray(ink[a:b]), b - a)
               for a, b in bands if b - a >= 3)


def _letters_on_a_row(ink: np.ndarray, row_h: int) -> bool:
    """At least two letter-sized pieces (0.3 to 1 row heights tall, at most twice as wide as
    tall) whose centres sit within a third of the row height of their median, holding at
    least half of the row's ink."""
    import cv2

    count, _, stats, centroids = cv2.connectedComponentsWithStats(ink, connectivity=8)
    total = int(ink.sum())
    letters = [(float(centroids[i][1]), int(stats[i][4])) for i in range(1, count)
               if 0.3 * row_h <= stats[i][3] <= row_h
               and stats[i][2] <= 2.0 * stats[i][3] and stats[i][4] >= 3]
    if len(letters) < 2 or total == 0:
        return False
    middle = float(np.median([y for y, _ in letters]))
    aligned = [area for y, area in letters if abs(y - middle) <= row_h / 3]
    return len(aligned) >= 2 and sum(aligned) >= 0.5 * total


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


def foreground_mask(grey: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
    """The image's foreground (the body, the object photographed) at 1/4 scale, computed with
    the detected boxes replaced by their surroundings so text never counts as foreground.
    Of the two Otsu classes, the foreground is the one that does not fill the image's edges
    (air is black on a CT and white on some MONOCHROME1 renderings)."""
    import cv2

    neutral = neutralize_regions(grey, [(b.x, b.y, b.w, b.h) for b in boxes]) if boxes else grey
    height, width = grey.shape[:2]
    small = cv2.resize(np.ascontiguousarray(neutral), (max(1, width // 4), max(1, height // 4)),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (3, 3), 0)
    _, mask = cv2.threshold(small, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if int(small.max()) - int(small.min()) < 16:  # flat image: no body to speak of
        return np.zeros_like(small, dtype=bool)
    border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    if border.mean() > 0.5:  # the class that fills the edges is the background
        mask = 1 - mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    big = np.zeros(count, dtype=bool)
    big[1:] = stats[1:, cv2.CC_STAT_AREA] >= 0.01 * small.size
    return big[labels]


def over_body(box: Box, mask: np.ndarray) -> bool:
    """Whether at least ``BODY_FRACTION`` of the box lies on the 1/4-scale foreground mask."""
    x0, y0 = box.x // 4, box.y // 4
    x1, y1 = max(x0 + 1, (box.x + box.w) // 4), max(y0 + 1, (box.y + box.h) // 4)
    window = mask[y0:y1, x0:x1]
    return bool(window.size) and float(window.mean()) >= BODY_FRACTION


def with_body(verdicts: list[Verdict], grey: np.ndarray) -> list[Verdict]:
    """The verdicts with ``over_body`` set on redacted and left boxes."""
    if not any(v.action != "keep" for v in verdicts):
        return verdicts
    mask = foreground_mask(grey, [v.box for v in verdicts])
    return [Verdict(v.box, v.action, v.why, v.action != "keep" and over_body(v.box, mask))
            for v in verdicts]


def review_codes(verdicts: Sequence[Verdict]) -> list[str]:
    """Why a person should check this image ("over-body", "unreadable"); empty if no need."""
    codes = []
    if any(v.action == "redact" and v.over_body for v in verdicts):
        codes.append("over-body")
    if any(v.action == "leave" for v in verdicts):
        codes.append("unreadable")
    return codes


Region = tuple[int, int, int, int, int]  # (frame, x, y, w, h); frame counts from 0
Flag = tuple[int, int, int, int, int, str]  # (frame, x, y, w, h, review code)


@dataclass
class TextSearch:
    """What the search of one image found, frame by frame.

    ``regions``: boxes to black out (grown by the margin); ``kept``: annotations left readable;
    ``review``: boxes a person should look at, with their code ("over-body", "unreadable");
    ``clear_frames``: frames with no line at all, by the digest of the pixels searched.
    ``looked_frames``: frames with text on which the verifier's own look, made on the pixels
    as they will be written, objected to nothing, by the digest of everything that look was
    given (``pixels.look_key``).
    """

    regions: list[Region] = field(default_factory=list)
    kept: list[Region] = field(default_factory=list)
    review: list[Flag] = field(default_factory=list)
    clear_frames: dict[int, str] = field(default_factory=dict)
    looked_frames: dict[int, str] = field(default_factory=dict)

    def add(self, frame: int, verdicts: Sequence[Verdict], margin: int, width: int,
            height: int) -> None:
        """Record one frame's verdicts."""
        for verdict in verdicts:
            box = verdict.box
            if verdict.action == "keep":
                self.kept.append((frame, box.x, box.y, box.w, box.h))
                continue
            if verdict.action == "leave":
                self.review.append((frame, box.x, box.y, box.w, box.h, "unreadable"))
                continue
            grown = box.grown(margin, width, height)
            if grown.w == 0 or grown.h == 0:
                continue
            self.regions.append((frame, grown.x, grown.y, grown.w, grown.h))
            if verdict.over_body:
                self.review.append((frame, grown.x, grown.y, grown.w, grown.h, "over-body"))

    def left(self) -> list[Region]:
        """The marks left in place and flagged (unreadable, not text-shaped)."""
        return [(f, x, y, w, h) for f, x, y, w, h, code in self.review if code == "unreadable"]

    def review_reasons(self) -> list[str]:
        """The plain sentences telling a patient why to check the image; empty if no need."""
        codes = dict.fromkeys(flag[5] for flag in self.review)
        return [REVIEW_REASONS[code] for code in codes]

    def report(self) -> dict[str, object]:
        """The JSON-safe summary for the engine's per-image report: no text, boxes only."""
        return {
            "kept": [list(r) for r in self.kept],
            "review": {
                "needed": bool(self.review),
                "reasons": self.review_reasons(),
                "boxes": [list(f) for f in self.review],
            },
        }


def frame_digest(frame: np.ndarray) -> str:
    """A digest of a decoded frame's values, shape and type (SHA-256: the CPU's SHA
    instructions hash a 512 x 512 16-bit slice in about half of BLAKE2b's time)."""
    digest = hashlib.sha256()
    digest.update(f"{frame.dtype.str}{frame.shape}".encode())
    digest.update(np.ascontiguousarray(frame).data)
    return digest.hexdigest()


def verifier_for(detector: TextDetector) -> TextDetector:
    """The second pass's own detector: the same networks, its own parameters (a finer scale
    and a lower box threshold than the first pass), so it does not repeat the first pass's
    resizing and scoring; its own onnxruntime sessions, which keep to its own input size."""
    return TextDetector(
        det_side=None if detector.det_side is None else round(detector.det_side * 1.25),
        min_scale=detector.min_scale,
        target_text_px=detector.target_text_px * 1.25,
        timeout=detector.timeout,
        box_thresh=max(0.3, detector.box_thresh - 0.1),
        providers=detector.providers,
        role="verify",
    )
