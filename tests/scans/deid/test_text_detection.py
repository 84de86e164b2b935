"""Text detection and recognition: the detector finds scanner-style labels, fails closed, and
the fuzzy matcher recognises a patient's identifiers through OCR slips."""

import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from scans.deid import text
from scans.deid.text import (
    Box,
    PixelError,
    TextDetector,
    fuzzy_contains,
    get_detector,
    recognize_text,
)


def draw_labels(size, labels, background=30):
    """A grey image with white labels; returns the image and each label's ink mask."""
    image = Image.new("L", size, background)
    masks = []
    for x, y, label, font_size in labels:
        mask = Image.new("L", size, 0)
        font = ImageFont.load_default(size=font_size)
        ImageDraw.Draw(mask).text((x, y), label, fill=255, font=font)
        ImageDraw.Draw(image).text((x, y), label, fill=255, font=font)
        masks.append(np.array(mask) > 0)
    return np.array(image), masks


def covered(mask, boxes):
    cover = np.zeros(mask.shape, dtype=bool)
    for box in boxes:
        cover[box.y : box.y + box.h, box.x : box.x + box.w] = True
    return bool(np.all(cover[mask]))


def test_it_finds_every_scanner_label_on_a_512_pixel_image():
    image, masks = draw_labels(
        (512, 512),
        [
            (8, 6, "DOE^JOHN", 12),
            (8, 24, "1961-02-03", 13),
            (380, 6, "MRN 12345", 14),
            (360, 490, "ST MARY HOSP", 16),
        ],
    )
    boxes = get_detector().detect(image)
    assert all(covered(mask, boxes) for mask in masks)


def test_it_returns_boxes_in_the_coordinates_of_a_large_non_square_image():
    image, masks = draw_labels((1600, 900), [(1200, 820, "DOE^JOHN 1961-02-03", 32)])
    boxes = get_detector().detect(np.dstack([image] * 3))
    assert covered(masks[0], boxes)
    assert all(b.x + b.w <= 1600 and b.y + b.h <= 900 for b in boxes)


def test_it_finds_nothing_on_an_image_without_text():
    rng = np.random.default_rng(1)
    image = (rng.normal(60, 8, (512, 512))).clip(0, 255).astype(np.uint8)
    assert get_detector().detect(image) == []


def test_the_detection_scale_is_a_knob_that_never_enlarges():
    detector = TextDetector(det_side=256, min_scale=0.5)
    assert detector.scale_for(512, 512) == 0.5
    assert detector.scale_for(200, 100) == 1.0
    assert TextDetector(det_side=384).scale_for(512, 256) == 0.75


def test_it_refuses_images_that_are_not_8_bit():
    with pytest.raises(PixelError):
        get_detector().detect(np.zeros((64, 64), dtype=np.uint16))


@pytest.fixture
def fake_engine(monkeypatch):
    """Replace the detection network with a function, run on a thread of its own as the real
    one is."""
    executor = ThreadPoolExecutor(max_workers=1)

    def install(run):
        networks = SimpleNamespace(detect=SimpleNamespace(run=run), recognize=None,
                                   characters=[""])
        monkeypatch.setattr(text, "_shared", lambda *key: (networks, executor))

    yield install
    executor.shutdown(wait=False)


def test_a_failing_engine_raises_pixel_error(fake_engine):
    def broken(*args, **kwargs):
        raise RuntimeError("onnx exploded")

    fake_engine(broken)
    with pytest.raises(PixelError, match="text detection failed"):
        TextDetector().detect(np.zeros((64, 64), dtype=np.uint8))


def test_a_detector_that_hangs_times_out_with_pixel_error(fake_engine):
    release = threading.Event()

    def hanging(*args, **kwargs):
        release.wait()
        return None, None

    fake_engine(hanging)
    try:
        with pytest.raises(PixelError, match="text detection timed out"):
            TextDetector(timeout=0.05).detect(np.zeros((64, 64), dtype=np.uint8))
    finally:
        release.set()


def test_the_default_detector_is_shared_by_the_process():
    assert get_detector() is get_detector()


def test_recognition_reads_a_label_a_clinic_exempted():
    image, _ = draw_labels((512, 256), [(20, 20, "DOE^JOHN", 16), (20, 60, "MRN 12345", 16)])
    lines = recognize_text(image)
    joined = " ".join(line for _, line in lines)
    assert fuzzy_contains(joined, ["DOE^JOHN"]) == "DOE^JOHN"
    assert fuzzy_contains(joined, ["12345"]) == "12345"
    assert all(isinstance(box, Box) for box, _ in lines)


@pytest.mark.parametrize(
    ("ocr_text", "identifier"),
    [
        ("PATIENT: D0E JOHN", "DOE^JOHN"),
        ("john doe", "DOE^JOHN"),
        ("DOB 03/02/1961", "1961-02-03"),
        ("ID: 1234S", "12345"),
        ("MRN I2345", "12345"),
        ("Müller, Jürgen", "MULLER^JURGEN"),
    ],
)
def test_fuzzy_matching_sees_through_ocr_slips_and_formats(ocr_text, identifier):
    assert fuzzy_contains(ocr_text, [identifier]) == identifier


@pytest.mark.parametrize(
    ("ocr_text", "identifiers"),
    [
        ("LIVER 3cm x 4cm", ["DOE^JOHN", "1961-02-03"]),
        ("GE LOGIQ E9 C1-6", ["SMITH^ANNA"]),
        ("", ["DOE^JOHN"]),
        ("JO", ["JO^LI"]),
    ],
)
def test_fuzzy_matching_ignores_unrelated_text(ocr_text, identifiers):
    assert fuzzy_contains(ocr_text, identifiers) is None


def test_an_identical_crop_is_read_once_when_readings_are_remembered(monkeypatch):
    """A cine repeats its overlay on every frame: the same pixels are read once."""
    image, _ = draw_labels((200, 40), [(4, 8, "MI 1.2", 16)])
    detector = get_detector()
    calls = []
    original = TextDetector._call

    def counting(self, run, timeout):
        calls.append(1)
        return original(self, run, timeout)

    monkeypatch.setattr(TextDetector, "_call", counting)
    memo = {}
    first = detector.read_crops([image, image.copy()], memo=memo)
    again = detector.read_crops([image.copy()], memo=memo)
    assert first[0] == first[1] == again[0]
    assert len(calls) == 1 and len(memo) == 1
