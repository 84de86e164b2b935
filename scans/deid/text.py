"""Finding burned-in text in pixels, and reading it where a clinic exempted an image from redaction.

No Django imports: the de-identification engine is a plain library.

Detection runs rapidocr's text detector (no recognition) on a downscaled copy of each image: the
detector's cost grows with the pixel count (RECIPES.md 5), and at a long side of about 350 px it
still finds scanner overlays 10-14 px high on a 512 px slice. Boxes come back in the caller's
pixel coordinates, padded by one detection pixel so that rounding never cuts a letter.

Any failure of the detector raises ``PixelError``: the caller quarantines the image rather than
releasing pixels nobody has checked. Messages never contain patient data.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from typing import Any

import numpy as np

# Long side of the image handed to the detector. On 512 px slices with planted labels, 352 px
# covered every label with letters 9-11 px high (320/320) and 315/320 with letters 8-10 px high,
# at about 29 ms per slice on one idle core; 320 px missed some 9-11 px labels on a real CT.
DEFAULT_DET_SIDE = 352
# Never shrink an image by more than this: large radiographs keep their text legible.
DEFAULT_MIN_SCALE = 0.5
DEFAULT_TIMEOUT = 30.0
# rapidocr's box thresholds, passed on every call because rapidocr stores them on the shared engine.
BOX_THRESH = 0.5
UNCLIP_RATIO = 1.6
# Recognition keeps low-confidence readings too: on exempted images a doubtful match should
# quarantine, not slip through.
REC_TEXT_SCORE = 0.3


class PixelError(Exception):
    """Pixels could not be decoded or checked; the message is a reason a person understands."""


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in an image's own pixel coordinates."""

    x: int
    y: int
    w: int
    h: int

    def grown(self, margin: int, width: int, height: int) -> Box:
        """The box plus ``margin`` pixels on every side, clipped to a width x height image."""
        x0 = max(0, self.x - margin)
        y0 = max(0, self.y - margin)
        x1 = min(width, self.x + self.w + margin)
        y1 = min(height, self.y + self.h + margin)
        return Box(x0, y0, max(0, x1 - x0), max(0, y1 - y0))


_engine_lock = threading.Lock()
_engine: Any = None
_engine_pid: int | None = None
_executor: ThreadPoolExecutor | None = None
_default_detector: TextDetector | None = None


def _create_engine() -> Any:
    from rapidocr_onnxruntime import RapidOCR

    # det_limit_type="max": images under 960 px run at their own size instead of being
    # upscaled to 736 px on the short side (RECIPES.md 5). One ORT thread per worker process.
    return RapidOCR(
        det_limit_type="max",
        use_cls=False,
        use_rec=False,
        intra_op_num_threads=1,
        inter_op_num_threads=1,
    )


def _shared_engine() -> tuple[Any, ThreadPoolExecutor]:
    """The process's OCR engine and the single thread that runs it.

    Keyed by pid because ONNX sessions and threads do not survive a fork (Celery's prefork pool
    imports before forking); a child process builds its own.
    """
    global _engine, _engine_pid, _executor
    with _engine_lock:
        if _engine is None or _engine_pid != os.getpid():
            try:
                _engine = _create_engine()
            except Exception as exc:
                raise PixelError("text detection could not be started") from exc
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="text-detection")
            _engine_pid = os.getpid()
        assert _executor is not None
        return _engine, _executor


def _to_bgr(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise PixelError("text detection failed (image is not 8-bit)")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image[:, :, ::-1])
    raise PixelError("text detection failed (image is neither grayscale nor RGB)")


def _quad_to_box(quad: Any, sx: float, sy: float, pad: int, width: int, height: int) -> Box:
    points = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
    x0 = math.floor(points[:, 0].min() / sx) - pad
    y0 = math.floor(points[:, 1].min() / sy) - pad
    x1 = math.ceil(points[:, 0].max() / sx) + pad
    y1 = math.ceil(points[:, 1].max() / sy) + pad
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(width, max(x1, x0 + 1)), min(height, max(y1, y0 + 1))
    return Box(x0, y0, x1 - x0, y1 - y0)


class TextDetector:
    """Finds text regions in 8-bit images; one instance per configuration, one engine per process.

    ``det_side`` is the detection scale knob: the long side the image is shrunk to before
    detection (never below ``min_scale`` of the original, never enlarged). Larger values find
    smaller text and cost roughly quadratically more.
    """

    def __init__(
        self,
        *,
        det_side: int = DEFAULT_DET_SIDE,
        min_scale: float = DEFAULT_MIN_SCALE,
        timeout: float | None = DEFAULT_TIMEOUT,
        box_thresh: float = BOX_THRESH,
    ) -> None:
        self.det_side = det_side
        self.min_scale = min_scale
        self.timeout = timeout
        self.box_thresh = box_thresh

    def scale_for(self, width: int, height: int) -> float:
        """The factor an image of this size is shrunk by before detection."""
        long_side = max(width, height)
        return min(1.0, max(self.det_side / long_side, self.min_scale))

    def detect(self, image: np.ndarray, *, timeout: float | None = None) -> list[Box]:
        """Text boxes in ``image`` (2-D or HxWx3 RGB, uint8), in its own pixel coordinates.

        Raises PixelError if the detector fails or takes longer than the timeout; never returns
        a partial answer.
        """
        bgr = _to_bgr(image)
        height, width = bgr.shape[:2]
        if height == 0 or width == 0:
            return []
        scale = self.scale_for(width, height)
        # The network wants sides that are multiples of 32; sizing here avoids a second resize.
        new_w = max(32, round(width * scale / 32) * 32)
        new_h = max(32, round(height * scale / 32) * 32)
        if (new_w, new_h) != (width, height):
            import cv2  # deferred: the web process imports this module but never detects text

            bgr = cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_AREA)
        sx, sy = new_w / width, new_h / height
        pad = math.ceil(1 / min(sx, sy))

        def run(engine: Any) -> Any:
            boxes, _ = engine(
                bgr,
                use_det=True,
                use_cls=False,
                use_rec=False,
                box_thresh=self.box_thresh,
                unclip_ratio=UNCLIP_RATIO,
                text_score=0.5,
            )
            return boxes

        quads = self._call(run, timeout)
        return [_quad_to_box(q, sx, sy, pad, width, height) for q in quads or []]

    def recognize(
        self, image: np.ndarray, *, timeout: float | None = None
    ) -> list[tuple[Box, str]]:
        """Text lines in ``image`` with what they read, at full resolution.

        Small images are enlarged first: the recogniser reads 8 px letters poorly.
        """
        bgr = _to_bgr(image)
        height, width = bgr.shape[:2]
        if height == 0 or width == 0:
            return []
        factor = 2.0 if max(width, height) <= 960 else 1.0
        if factor != 1.0:
            import cv2  # deferred, as in detect()

            bgr = cv2.resize(bgr, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)

        def run(engine: Any) -> Any:
            result, _ = engine(
                bgr,
                use_det=True,
                use_cls=False,
                use_rec=True,
                box_thresh=self.box_thresh,
                unclip_ratio=UNCLIP_RATIO,
                text_score=REC_TEXT_SCORE,
            )
            return result

        lines = self._call(run, timeout)
        return [
            (_quad_to_box(quad, factor, factor, 1, width, height), str(text))
            for quad, text, *_ in lines or []
        ]

    def _call(self, run: Callable[[Any], Any], timeout: float | None) -> Any:
        engine, executor = _shared_engine()
        limit = self.timeout if timeout is None else timeout
        future = executor.submit(run, engine)
        try:
            return future.result(timeout=limit)
        except FutureTimeoutError as exc:
            # The stuck call keeps the engine thread busy; later calls queue behind it and time
            # out too, so the worker fails closed until it is restarted.
            future.cancel()
            raise PixelError("text detection timed out") from exc
        except PixelError:
            raise
        except Exception as exc:
            raise PixelError("text detection failed") from exc


def get_detector() -> TextDetector:
    """The process-wide detector with the default settings; the engine loads on first use."""
    global _default_detector
    with _engine_lock:
        if _default_detector is None:
            _default_detector = TextDetector()
        return _default_detector


def recognize_text(
    image: np.ndarray, detector: TextDetector | None = None
) -> list[tuple[Box, str]]:
    """Read the text in an image a clinic exempted from redaction, so the verifier can match it."""
    return (detector or get_detector()).recognize(image)


# OCR confuses these; map them to one symbol on both sides before comparing.
_CONFUSIONS = str.maketrans({"o": "0", "i": "1", "l": "1"})
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_ISO_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
_MIN_LENGTH = 3


def _normalize(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return _NON_ALNUM.sub("", folded).translate(_CONFUSIONS)


def _variants(identifier: str) -> list[str]:
    """Normalized forms to look for: the whole value, name parts, and local date orders.

    Scanners print names as ``DOE^JOHN`` or ``JOHN DOE`` and dates as ``03/02/1961``, so each
    part and each common date order is tried on its own.
    """
    forms = [identifier.strip()]
    parts = [p for p in re.split(r"[\^,\s]+", identifier) if p]
    if len(parts) > 1:
        forms.extend(parts)
    date = _ISO_DATE.match(identifier.strip())
    if date:
        year, month, day = date.groups()
        forms.extend([day + month + year, month + day + year, day + month + year[2:]])
    normalized = []
    for form in forms:
        value = _normalize(form)
        if len(value) >= _MIN_LENGTH and value not in normalized:
            normalized.append(value)
    return normalized


def _similarity(haystack: str, needle: str) -> float:
    if needle in haystack:
        return 1.0
    best = 0.0
    size = len(needle)
    for length in {max(1, size - 1), size, size + 1}:
        for start in range(max(1, len(haystack) - length + 1)):
            window = haystack[start : start + length]
            ratio = difflib.SequenceMatcher(None, window, needle, autojunk=False).ratio()
            best = max(best, ratio)
    return best


def fuzzy_contains(text: str, identifiers: Iterable[str], threshold: float = 0.8) -> str | None:
    """The first identifier that ``text`` contains, allowing OCR slips; None if none does.

    Both sides are casefolded, stripped of punctuation and spaces, and O/0 and I/l/1 are merged.
    Parts shorter than three characters are ignored: they would match almost any text.
    """
    haystack = _normalize(text)
    if not haystack:
        return None
    for identifier in identifiers:
        for needle in _variants(identifier):
            if _similarity(haystack, needle) >= threshold:
                return identifier
    return None
