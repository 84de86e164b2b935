"""Finding and reading burned-in text in pixels: one detector and one recogniser per process.

No Django imports: the de-identification engine is a plain library.

The two PP-OCRv4 networks that ship in the rapidocr-onnxruntime wheel are run directly with
onnxruntime, with our own pre- and post-processing: axis-aligned boxes are all a redaction
needs, and skipping the general-purpose polygon pipeline saves a third of the time per slice.

* Detection runs on a copy of the image shrunk so that the smallest text a scanner burns into
  an image of that size stays about ``TARGET_TEXT_PX`` high (``scale_for``): cost grows with the
  pixel count, and a 512 px CT slice's overlay text survives being halved.
* Recognition reads only the detected boxes, batched, at the recogniser's native 48 px height.

The execution provider is a parameter: CUDA when onnxruntime offers it, the CPU otherwise,
one thread per worker process. Any failure of a network raises ``PixelError``: the caller
quarantines the image rather than releasing pixels nobody has checked. Messages never
contain patient data.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from functools import partial
from importlib import resources
from typing import Any

import numpy as np

# The smallest overlay text seen on scanner output is about 9 px high up to a 1k matrix
# (CT, MR, 1024 px ultrasound) and grows on larger images (2k radiographs draw 20-60 px
# letters); the detector still finds lines whose letters are about 5 px high at its own scale.
MIN_TEXT_PX = 9.0
MIN_TEXT_FRACTION = 1 / 110
TARGET_TEXT_PX = 4.5
# Never shrink below this long side, nor by more than this factor.
MIN_DET_SIDE = 256
DEFAULT_MIN_SCALE = 0.25
DEFAULT_TIMEOUT = 30.0
# The detector's probability map: pixels above BIN_THRESH are text; a box whose mean
# probability is below BOX_THRESH is dropped; boxes grow by UNCLIP_RATIO (PP-OCR's defaults).
BIN_THRESH = 0.3
BOX_THRESH = 0.45
UNCLIP_RATIO = 1.6
# The recogniser's input height, and the longest line it is given (in 48 px units of width).
REC_HEIGHT = 48
REC_MAX_RATIO = 40
REC_BATCH = 8
# Images per detection call on a GPU (on the CPU one at a time: ``TextDetector.detection_batch``).
DETECTION_BATCH_GPU = 8

_MODEL_PACKAGE = "rapidocr_onnxruntime"
_DET_MODEL = "ch_PP-OCRv4_det_infer.onnx"
_REC_MODEL = "ch_PP-OCRv4_rec_infer.onnx"
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


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


@dataclass(frozen=True)
class Reading:
    """What the recogniser read in one box: the text and its mean character confidence
    (0.0 when nothing was read)."""

    text: str
    score: float


def default_providers() -> tuple[str, ...]:
    """CUDA first when onnxruntime offers it, then the CPU."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    return (CUDA, CPU) if CUDA in available else (CPU,)


@dataclass
class _Networks:
    detect: Any
    recognize: Any
    characters: list[str]
    other_case: np.ndarray | None = None  # class index of each character's other case, or 0


_lock = threading.Lock()
_networks: dict[tuple[int, tuple[str, ...], str], _Networks] = {}
_executors: dict[int, ThreadPoolExecutor] = {}
_default_detector: TextDetector | None = None


def _model_path(name: str) -> str:
    return str(resources.files(_MODEL_PACKAGE).joinpath("models", name))


def _load_networks(providers: tuple[str, ...]) -> _Networks:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One thread: a worker process per core is how the gateway scales, and more threads per
    # session only contend with the other processes (RECIPES.md 5).
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    # No memory arena: inputs vary in size (two detection scales, recognition batches of any
    # width), and an arena keeps the peak of each for the life of the worker.
    options.enable_cpu_mem_arena = False
    detect = onnxruntime.InferenceSession(_model_path(_DET_MODEL), options,
                                          providers=list(providers))
    recognize = onnxruntime.InferenceSession(_model_path(_REC_MODEL), options,
                                             providers=list(providers))
    listed = recognize.get_modelmeta().custom_metadata_map["character"].splitlines()
    # CTC class 0 is "blank"; the model's last class is a space.
    characters = ["", *listed, " "]
    return _Networks(detect, recognize, characters, _other_case(characters))


def _other_case(characters: list[str]) -> np.ndarray:
    """For each class, the class of the same letter in the other case (0 when none)."""
    index = {char: i for i, char in enumerate(characters) if char}
    pairs = np.zeros(len(characters), dtype=np.int64)
    for i, char in enumerate(characters):
        swapped = char.swapcase() if len(char) == 1 else char
        if swapped != char and swapped in index:
            pairs[i] = index[swapped]
    return pairs


def _shared(providers: tuple[str, ...],
            role: str = "search") -> tuple[_Networks, ThreadPoolExecutor]:
    """The process's networks for these providers and this role, and the single thread that
    runs them all.

    Keyed by pid because ONNX sessions and threads do not survive a fork (Celery's prefork pool
    imports before forking); a child process builds its own, once. Keyed by role because a
    session fed alternately two input sizes re-plans its buffers on each switch (measured on
    the detector: 256 px 15 -> 16 ms, 320 px 25 -> 33 ms when the first pass and the verifier
    share one session); each role keeps to its own size.
    """
    pid = os.getpid()
    with _lock:
        key = (pid, providers, role)
        if key not in _networks:
            try:
                _networks[key] = _load_networks(providers)
            except Exception as exc:
                raise PixelError("text detection could not be started") from exc
        if pid not in _executors:
            _executors[pid] = ThreadPoolExecutor(max_workers=1,
                                                 thread_name_prefix="text-detection")
        return _networks[key], _executors[pid]


def as_three_channels(image: np.ndarray) -> np.ndarray:
    """A uint8 HxWx3 view or copy of a grey or RGB image (the networks take three channels)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise PixelError("text detection failed (image is not 8-bit)")
    if image.ndim == 2:
        return np.broadcast_to(image[:, :, None], (*image.shape, 3))
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise PixelError("text detection failed (image is neither grayscale nor RGB)")


def _normalized(image: np.ndarray) -> np.ndarray:
    """(x / 255 - 0.5) / 0.5, channels first, as float32: the networks' input convention."""
    out = np.empty((3, *image.shape[:2]), dtype=np.float32)
    for channel in range(3):
        np.multiply(image[:, :, channel], np.float32(2 / 255), out=out[channel],
                    dtype=np.float32)
    out -= np.float32(1.0)
    return out


def boxes_from_probability(
    prob: np.ndarray, *, bin_thresh: float = BIN_THRESH, box_thresh: float = BOX_THRESH,
    unclip_ratio: float = UNCLIP_RATIO,
) -> list[tuple[float, float, float, float, float]]:
    """Axis-aligned text lines (x0, y0, x1, y1, grow) in the probability map's coordinates.

    (x0, y0, x1, y1) is a line's core: the network marks a shrunk text core, and the line is
    that core grown by ``grow`` on every side (the DB unclip distance, area * ratio / perimeter).
    Each connected region above ``bin_thresh`` is a line, kept when its mean probability
    reaches ``box_thresh``. A region whose rows fall into separate bands (two lines merged by
    the dilation, at a coarse scale) is split into one line per band.
    """
    import cv2

    core = prob > bin_thresh
    bitmap = cv2.dilate(core.astype(np.uint8), np.ones((2, 2), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bitmap, connectivity=8)
    lines = []
    for label in range(1, count):
        x, y, w, h, _area = stats[label]
        if min(w, h) < 2:
            continue
        inside = labels[y : y + h, x : x + w] == label
        window = prob[y : y + h, x : x + w]
        if float(window[inside].mean()) < box_thresh:
            continue
        rows = (core[y : y + h, x : x + w] & inside).any(axis=1)
        for top, bottom in _bands(rows):
            band = core[y + top : y + bottom, x : x + w] & inside[top:bottom]
            columns = np.flatnonzero(band.any(axis=0))
            bw, bh = int(columns[-1] - columns[0] + 1), bottom - top
            if min(bw, bh) < 2:
                continue
            x0, y0 = x + int(columns[0]), y + top
            grow = bw * bh * unclip_ratio / (2 * (bw + bh))
            lines.append((float(x0), float(y0), float(x0 + bw), float(y0 + bh), grow))
    return lines


def _bands(rows: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a 1-D mask, as (start, stop) pairs."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], rows.astype(np.int8), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


@dataclass(frozen=True)
class Line:
    """A detected text line: ``box`` is what a redaction covers (the DB line plus a pixel of
    slack); ``core`` is the tight text core, from which the recogniser's crop is cut."""

    box: Box
    core: Box


class TextDetector:
    """Finds and reads text in 8-bit images; one instance per configuration, networks loaded
    once per process and provider list.

    ``det_side``: a fixed long side for detection, instead of the size picked from the
    image's expected text height (``scale_for``). ``providers``: onnxruntime execution
    providers, e.g. ``("CUDAExecutionProvider", "CPUExecutionProvider")``; default: CUDA when
    available, else the CPU. ``role``: which of the process's sessions runs it ("search" for
    the first pass, "verify" for the verifier's look): one session per input size.
    """

    def __init__(
        self,
        *,
        det_side: int | None = None,
        min_scale: float = DEFAULT_MIN_SCALE,
        target_text_px: float = TARGET_TEXT_PX,
        timeout: float | None = DEFAULT_TIMEOUT,
        box_thresh: float = BOX_THRESH,
        providers: Sequence[str] | None = None,
        role: str = "search",
    ) -> None:
        self.role = role
        self.det_side = det_side
        self.min_scale = min_scale
        self.target_text_px = target_text_px
        self.timeout = timeout
        self.box_thresh = box_thresh
        self.providers = tuple(providers) if providers else default_providers()

    def scale_for(self, width: int, height: int) -> float:
        """The factor an image of this size is shrunk by before detection; never above 1.

        Without a fixed ``det_side``: the smallest text expected on an image of this size
        (``MIN_TEXT_PX``, or ``MIN_TEXT_FRACTION`` of the long side on large images) is
        brought to ``target_text_px``, but the long side stays at least ``MIN_DET_SIDE``.
        """
        long_side = max(width, height)
        if self.det_side is not None:
            scale = self.det_side / long_side
        else:
            smallest_text = max(MIN_TEXT_PX, long_side * MIN_TEXT_FRACTION)
            scale = max(self.target_text_px / smallest_text, MIN_DET_SIDE / long_side)
        return min(1.0, max(scale, self.min_scale))

    def detect(self, image: np.ndarray, *, timeout: float | None = None) -> list[Box]:
        """Text boxes in ``image`` (2-D or HxWx3 RGB, uint8), in its own pixel coordinates.

        Raises PixelError if the detector fails or takes longer than the timeout; never returns
        a partial answer.
        """
        return [line.box for line in self.detect_lines([image], timeout=timeout)[0]]

    def detect_lines(
        self, images: Sequence[np.ndarray], *, timeout: float | None = None
    ) -> list[list[Line]]:
        """Text lines in each image; same-sized images go through the network as one batch."""
        prepared = [self._prepare(image) for image in images]
        results: list[list[Line]] = [[] for _ in images]
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, item in enumerate(prepared):
            if item is not None:
                groups.setdefault(item[0].shape, []).append(index)
        size = self.detection_batch
        for group in groups.values():
            for start in range(0, len(group), size):
                indices = group[start : start + size]
                batch = np.stack([prepared[i][0] for i in indices])  # type: ignore[index]
                maps = self._call(partial(_run_network, "detect", batch), timeout)
                for row, index in enumerate(indices):
                    _, sx, sy, width, height = prepared[index]  # type: ignore[misc]
                    results[index] = self._to_lines(maps[row, 0], sx, sy, width, height)
        return results

    @property
    def detection_batch(self) -> int:
        """Images per detection call: a GPU gains from whole batches; one CPU thread does not
        (a 256 px slice costs about 14 ms alone and 18-20 ms each in a batch of 4: the
        activations of several images no longer fit the caches)."""
        return DETECTION_BATCH_GPU if self.providers[0] != CPU else 1

    def _prepare(self, image: np.ndarray) -> tuple[np.ndarray, float, float, int, int] | None:
        rgb = as_three_channels(image)
        height, width = rgb.shape[:2]
        if height == 0 or width == 0:
            return None
        scale = self.scale_for(width, height)
        # The network wants sides that are multiples of 32; sizing here avoids a second resize.
        new_w = max(32, round(width * scale / 32) * 32)
        new_h = max(32, round(height * scale / 32) * 32)
        import cv2  # deferred: the web process imports this module but never detects text

        if (new_w, new_h) != (width, height):
            rgb = cv2.resize(np.ascontiguousarray(rgb), (new_w, new_h),
                             interpolation=cv2.INTER_AREA)
        # (x - 127.5) * 2 / 255, channels first, RGB to the BGR the networks were trained on.
        blob = np.asarray(cv2.dnn.blobFromImage(np.ascontiguousarray(rgb), scalefactor=2 / 255,
                                                mean=(127.5, 127.5, 127.5), swapRB=True))
        return blob[0], new_w / width, new_h / height, width, height

    def _to_lines(self, prob: np.ndarray, sx: float, sy: float, width: int,
                  height: int) -> list[Line]:
        pad = 1 / min(sx, sy)  # one detection pixel: rounding never cuts a letter
        lines = []
        for x0, y0, x1, y1, grow in boxes_from_probability(prob, box_thresh=self.box_thresh):
            # At a coarse scale the first and last letters of a line answer weakly and the core
            # stops short: the box reaches a core height further along the line.
            reach = grow + (y1 - y0)
            box = _scaled_box(x0 - reach, y0 - grow, x1 + reach, y1 + grow, sx, sy, pad, width,
                              height)
            core = _scaled_box(x0, y0, x1, y1, sx, sy, pad, width, height)
            if box.w > 3 and box.h > 3 and core.w > 0 and core.h > 0:
                lines.append(Line(box, core))
        return sorted(lines, key=lambda line: (line.box.y, line.box.x))

    def read(
        self, image: np.ndarray, boxes: Sequence[Box], *, timeout: float | None = None
    ) -> list[Reading]:
        """What the recogniser reads in each box of ``image``, in the order given.

        Crops are scaled to the network's 48 px height and sent in batches of similar width.
        """
        return self.read_crops([crop_of(image, box) for box in boxes], timeout=timeout)

    def read_crops(
        self, crops: Sequence[np.ndarray], *, timeout: float | None = None,
        memo: dict[bytes, Reading] | None = None,
    ) -> list[Reading]:
        """What the recogniser reads in each crop (grey or RGB uint8), in the order given.

        ``memo``: readings of earlier crops by the digest of their pixels; a crop seen before
        is not read again (the network is deterministic), and new readings are added.
        """
        if memo is not None:
            keys = [_crop_key(crop) for crop in crops]
            missing = [i for i, key in enumerate(keys) if key not in memo]
            fresh = self.read_crops([crops[i] for i in missing], timeout=timeout)
            memo.update((keys[i], reading) for i, reading in zip(missing, fresh, strict=True))
            return [memo[key] for key in keys]
        readings = [Reading("", 0.0)] * len(crops)
        prepared = [_rec_input(as_three_channels(crop)) if crop.size else None for crop in crops]
        order = sorted((i for i, p in enumerate(prepared) if p is not None),
                       key=lambda i: prepared[i].shape[2])  # type: ignore[union-attr]
        for start in range(0, len(order), REC_BATCH):
            chunk = order[start : start + REC_BATCH]
            widest = max(prepared[i].shape[2] for i in chunk)  # type: ignore[union-attr]
            batch = np.zeros((len(chunk), 3, REC_HEIGHT, widest), dtype=np.float32)
            for row, index in enumerate(chunk):
                item = prepared[index]
                batch[row, :, :, : item.shape[2]] = item  # type: ignore[union-attr]
            probs = self._call(partial(_run_network, "recognize", batch), timeout)
            networks, _ = _shared(self.providers, self.role)
            for row, index in enumerate(chunk):
                readings[index] = _ctc_decode(probs[row], networks.characters,
                                              networks.other_case)
        return readings

    def recognize(
        self, image: np.ndarray, *, timeout: float | None = None
    ) -> list[tuple[Box, str]]:
        """Text lines in ``image`` with what they read: detection at full resolution, then
        recognition of each box."""
        full = TextDetector(det_side=max(image.shape[:2]), min_scale=1.0, timeout=self.timeout,
                            box_thresh=self.box_thresh, providers=self.providers)
        lines = full.detect_lines([image], timeout=timeout)[0]
        height, width = image.shape[:2]
        readings = self.read(image, [reading_box(line, width, height) for line in lines],
                             timeout=timeout)
        return [(line.box, reading.text) for line, reading in zip(lines, readings, strict=True)]

    def _call(self, run: Callable[[_Networks], Any], timeout: float | None) -> Any:
        networks, executor = _shared(self.providers, self.role)
        limit = self.timeout if timeout is None else timeout
        future = executor.submit(run, networks)
        try:
            return future.result(timeout=limit)
        except FutureTimeoutError as exc:
            # The stuck call keeps the network thread busy; later calls queue behind it and
            # time out too, so the worker fails closed until it is restarted.
            future.cancel()
            raise PixelError("text detection timed out") from exc
        except PixelError:
            raise
        except Exception as exc:
            raise PixelError("text detection failed") from exc


def _run_network(name: str, batch: np.ndarray, networks: _Networks) -> np.ndarray:
    """One forward pass of the named network on a batch (run on the network thread)."""
    session = getattr(networks, name)
    return np.asarray(session.run(None, {"x": batch})[0])


def _scaled_box(x0: float, y0: float, x1: float, y1: float, sx: float, sy: float, pad: float,
                width: int, height: int) -> Box:
    bx0 = max(0, math.floor(x0 / sx - pad))
    by0 = max(0, math.floor(y0 / sy - pad))
    bx1 = min(width, math.ceil(x1 / sx + pad))
    by1 = min(height, math.ceil(y1 / sy + pad))
    return Box(bx0, by0, max(0, bx1 - bx0), max(0, by1 - by0))


def reading_box(line: Line, width: int, height: int) -> Box:
    """The crop the recogniser reads: the core plus half its height above and below, and
    along the line as far as the line's box reaches plus half a core height (the core can
    stop short of the first and last letters), so the letters are whole and the neighbouring
    lines, which the redaction box may overlap, stay out."""
    core, box = line.core, line.box
    dy = max(2, round(core.h * 0.5))
    dx = max(3, round(core.h * 0.5))
    x0, y0 = max(0, min(core.x, box.x) - dx), max(0, core.y - dy)
    x1 = min(width, max(core.x + core.w, box.x + box.w) + dx)
    y1 = min(height, core.y + core.h + dy)
    return Box(x0, y0, x1 - x0, y1 - y0)


def crop_of(image: np.ndarray, box: Box) -> np.ndarray:
    """The box's pixels (a view)."""
    return image[box.y : box.y + box.h, box.x : box.x + box.w]


def _crop_key(crop: np.ndarray) -> bytes:
    import hashlib

    digest = hashlib.blake2b(str(crop.shape).encode(), digest_size=16)
    digest.update(np.ascontiguousarray(crop).data)
    return digest.digest()


def _rec_input(crop: np.ndarray) -> np.ndarray:
    """A crop scaled to the recogniser's height, normalized, channels first (BGR)."""
    import cv2

    height, width = crop.shape[:2]
    new_w = max(4, min(REC_HEIGHT * REC_MAX_RATIO, math.ceil(REC_HEIGHT * width / height)))
    resized = cv2.resize(np.ascontiguousarray(crop[:, :, ::-1]), (new_w, REC_HEIGHT),
                         interpolation=cv2.INTER_LINEAR if height < REC_HEIGHT
                         else cv2.INTER_AREA)
    return _normalized(resized)


def _ctc_decode(probs: np.ndarray, characters: list[str],
                other_case: np.ndarray | None = None) -> Reading:
    """Greedy CTC: the best class per step, repeats merged, blanks dropped.

    The score is the mean probability of the kept steps, counting a letter's other case with
    it: every use of a reading here is case-blind, and a model torn between "K" and "k" is
    sure of the letter.
    """
    best = probs.argmax(axis=1)
    keep = best != 0
    keep[1:] &= best[1:] != best[:-1]
    if not keep.any():
        return Reading("", 0.0)
    steps = np.flatnonzero(keep)
    chosen = best[steps]
    sure = probs[steps, chosen]
    if other_case is not None:
        pair = other_case[chosen]
        sure = sure + np.where(pair > 0, probs[steps, pair], 0.0)
    text = "".join(characters[i] for i in chosen)
    return Reading(text, float(np.minimum(sure, 1.0).mean()))


def get_detector() -> TextDetector:
    """The process-wide detector with the default settings; the networks load on first use."""
    global _default_detector
    with _lock:
        if _default_detector is None:
            _default_detector = TextDetector()
        return _default_detector


def recognize_text(
    image: np.ndarray, detector: TextDetector | None = None
) -> list[tuple[Box, str]]:
    """Read the text in an image (an exempted image, or a test checking an output)."""
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
