"""Deciding, line by line, which burned-in text to black out, and which images a person checks.

No Django imports. The rules, in order, for each line the detector found:

1. The recogniser reads it surely (``KEEP_SCORE``) and every token is on the reviewed
   allow-vocabulary (``annotations.py``): it is a clinical annotation and is KEPT. A small box is
   also read mirrored: radiographers' lead markers ("R", "L") are often seen from behind.
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from scans.deid.annotations import has_letters_or_digits, is_annotation
from scans.deid.text import Box, Line, Reading, TextDetector, crop_of, reading_box

# Mean character confidence above which a reading counts as readable at all, and above which
# an allowed reading is trusted enough to keep the pixels.
READ_SCORE = 0.5
KEEP_SCORE = 0.8
# A scanner's text line is never taller than this (px, or this fraction of the frame height).
MAX_LINE_PX = 48
MAX_LINE_FRACTION = 8
BODY_FRACTION = 0.3
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
) -> list[Verdict]:
    """The verdict on each line of one image (rules 1-4 of the module docstring).

    ``renderings``: ``image`` holds three grey renderings of one monochrome frame in its
    channels (read from the channel with the most contrast); otherwise it is grey or RGB.
    """
    if not lines:
        return []
    height, width = image.shape[:2]
    boxes = [reading_box(line, width, height) for line in lines]
    crops = [_crop_to_read(image, box, renderings) for box in boxes]
    readings = detector.read_crops(crops)
    mirrored_at = [i for i, (line, reading) in enumerate(zip(lines, readings, strict=True))
                   if not _kept(reading) and line.box.w <= MARKER_RATIO * line.box.h]
    mirrored = detector.read_crops([np.ascontiguousarray(crops[i][:, ::-1])
                                    for i in mirrored_at]) if mirrored_at else []
    flipped = dict(zip(mirrored_at, mirrored, strict=True))
    limit = max_line_height(height)
    verdicts = []
    for index, (line, reading) in enumerate(zip(lines, readings, strict=True)):
        if _kept(reading) or _kept(flipped.get(index)):
            verdicts.append(Verdict(line.box, "keep", "annotation"))
        elif reading.score >= READ_SCORE and has_letters_or_digits(reading.text):
            verdicts.append(Verdict(line.box, "redact", "identifying"))
        elif text_shaped(crops[index], line, limit):
            verdicts.append(Verdict(line.box, "redact", "unreadable text"))
        else:
            verdicts.append(Verdict(line.box, "leave", "unreadable mark"))
    return verdicts


def _kept(reading: Reading | None) -> bool:
    return reading is not None and reading.score >= KEEP_SCORE and is_annotation(reading.text)


def _crop_to_read(image: np.ndarray, box: Box, renderings: bool) -> np.ndarray:
    crop = crop_of(image, box)
    if not renderings or crop.ndim == 2 or crop.size == 0:
        return crop
    spreads = [int(crop[:, :, c].max()) - int(crop[:, :, c].min()) for c in range(3)]
    return np.ascontiguousarray(crop[:, :, int(np.argmax(spreads))])


def text_shaped(crop: np.ndarray, line: Line, max_line: int) -> bool:
    """Whether an unreadable box looks like a line of text: no taller than a text line, and
    its ink (the minority side of an Otsu split with real contrast) falls into at least two
    letter-sized pieces side by side that make up most of the ink."""
    import cv2

    if line.box.h > max_line or crop.size == 0:
        return False
    grey = crop if crop.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    _, binary = cv2.threshold(np.ascontiguousarray(grey), 0, 1,
                              cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    above, below = grey[binary == 1], grey[binary == 0]
    if not above.size or not below.size or float(above.mean()) - float(below.mean()) < 40:
        return False
    ink = binary if above.size <= below.size else 1 - binary
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    core_h = max(3, line.core.h)
    total = int(ink.sum())
    letters = [(x, w, area) for x, _y, w, h, area in stats[1:count]
               if 0.3 * core_h <= h <= 1.6 * core_h and w <= 2.0 * h and area >= 3]
    letter_ink = sum(area for _, _, area in letters)
    return len(letters) >= 2 and total > 0 and letter_ink >= 0.5 * total


def foreground_mask(grey: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
    """The image's foreground (the body, the object photographed) at 1/4 scale, computed with
    the detected boxes replaced by their surroundings so text never counts as foreground."""
    import cv2

    from scans.deid.pixels import neutralize_regions

    neutral = neutralize_regions(grey, [(b.x, b.y, b.w, b.h) for b in boxes]) if boxes else grey
    height, width = grey.shape[:2]
    small = cv2.resize(np.ascontiguousarray(neutral), (max(1, width // 4), max(1, height // 4)),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (3, 3), 0)
    _, mask = cv2.threshold(small, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if int(small.max()) - int(small.min()) < 16:  # flat image: no body to speak of
        return np.zeros_like(small, dtype=bool)
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
    """

    regions: list[Region] = field(default_factory=list)
    kept: list[Region] = field(default_factory=list)
    review: list[Flag] = field(default_factory=list)
    clear_frames: dict[int, str] = field(default_factory=dict)

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
    """A digest of a decoded frame's values, shape and type."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{frame.dtype.str}{frame.shape}".encode())
    digest.update(np.ascontiguousarray(frame).data)
    return digest.hexdigest()


def verifier_for(detector: TextDetector) -> TextDetector:
    """The second pass's own detector: the same networks, its own parameters (a finer scale
    and a lower box threshold than the first pass), so it does not repeat the first pass's
    resizing and scoring."""
    return TextDetector(
        det_side=None if detector.det_side is None else round(detector.det_side * 1.25),
        min_scale=detector.min_scale,
        target_text_px=detector.target_text_px * 1.25,
        timeout=detector.timeout,
        box_thresh=max(0.3, detector.box_thresh - 0.1),
        providers=detector.providers,
    )
