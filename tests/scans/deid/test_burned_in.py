"""What happens to each detected line: identifying or unsure text is blacked out, annotations
stay, marks that are not text are left and flagged, and images a person should look at are
flagged with a reason and their boxes. The verifier re-uses a first-pass result only for frames
whose pixels are exactly the ones searched."""

import io
import json

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw, ImageFont

from scans.deid import pixels
from scans.deid.burned_in import REVIEW_REASONS, frame_digest, judge_lines
from scans.deid.engine import DeidKeys, DeidOptions, deidentify_bytes
from scans.deid.pixels import decode_frames, redact_dicom_pixels, verify_redacted
from scans.deid.report import REDACTION_NOTE
from scans.deid.text import (
    CPU,
    CUDA,
    Box,
    Line,
    TextDetector,
    default_providers,
    get_detector,
)
from tests.support.phi_corpus import Patient, ct_slice, to_bytes


@pytest.fixture(scope="module")
def detector():
    return get_detector()


def ct_with(labels, seed=0):
    """A 512 x 512 CT-like slice (air around a round body) with labels burned in at the top of
    the stored range; returns the dataset and each label's ink mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:512, :512]
    body = (xx - 256) ** 2 + (yy - 270) ** 2 < 190**2
    stored = np.where(body, 1040, 24) + rng.integers(0, 40, (512, 512))
    masks = []
    for x, y, text, size, angle in labels:
        canvas = Image.new("L", (512, 512), 0)
        ImageDraw.Draw(canvas).text((x, y), text, fill=255,
                                    font=ImageFont.load_default(size=size))
        if angle:
            canvas = canvas.rotate(angle, center=(x + 40, y + 8))
        mask = np.array(canvas) >= 128
        stored[mask] = 3000
        masks.append(mask)
    ds = ct_slice(Patient(), 0, rows=512, columns=512)
    ds.BitsStored, ds.HighBit = 16, 15
    ds.PixelData = stored.astype("<u2").tobytes()
    return pydicom.dcmread(io.BytesIO(to_bytes(ds))), masks


def covered(mask, regions):
    cover = np.zeros(mask.shape, dtype=bool)
    for _, x, y, w, h in regions:
        cover[y : y + h, x : x + w] = True
    return bool(np.all(cover[mask]))


def test_a_name_is_blacked_out_and_a_laterality_marker_and_a_measurement_stay(detector):
    ds, (name, marker, measure) = ct_with([(10, 8, "DOE^JOHN", 16, 0), (470, 250, "R", 24, 0),
                                           (10, 480, "3.3 cm", 16, 0)])
    outcome = redact_dicom_pixels(ds, detector=detector)
    assert covered(name, outcome.regions)
    assert not covered(marker, outcome.regions) and not covered(measure, outcome.regions)
    assert len(outcome.search.kept) == 2


def test_text_the_recogniser_cannot_read_surely_is_blacked_out_all_the_same(detector):
    """GIVEN a name printed upside down (the recogniser reads nonsense or nothing)
    THEN it is blacked out: unsure text never stays."""
    ds, (name,) = ct_with([(200, 20, "KOWALSKI EWA", 18, 180)])
    outcome = redact_dicom_pixels(ds, detector=detector)
    assert covered(name, outcome.regions)


def test_a_mark_that_is_neither_readable_nor_text_shaped_is_left_and_flagged(detector):
    """GIVEN a detected box over a smooth blob (no letters, nothing to read)
    THEN it is left as it is, and the verdict says a person should look at it."""
    yy, xx = np.mgrid[:200, :300]
    image = (80 + 120 * np.exp(-((xx - 150) ** 2 + (yy - 100) ** 2) / 400)).astype(np.uint8)
    line = Line(Box(120, 80, 60, 40), Box(130, 90, 40, 20))
    (verdict,) = judge_lines(image, [line], detector)
    assert (verdict.action, verdict.why) == ("leave", "unreadable mark")


def test_a_redaction_over_the_body_flags_the_image_and_one_in_the_air_does_not(detector):
    over_body, _ = ct_with([(200, 260, "DOE^JOHN", 18, 0)])
    in_the_air, _ = ct_with([(6, 6, "DOE^JOHN", 18, 0)])
    flagged = redact_dicom_pixels(over_body, detector=detector).search
    quiet = redact_dicom_pixels(in_the_air, detector=detector).search
    assert [f[5] for f in flagged.review] == ["over-body"]
    assert flagged.review_reasons() == [REVIEW_REASONS["over-body"]]
    assert quiet.regions and quiet.review == []


def test_the_engine_report_shows_kept_annotations_and_why_to_check_the_image():
    ds, _ = ct_with([(200, 260, "DOE^JOHN", 18, 0), (470, 250, "R", 24, 0)])
    result = deidentify_bytes(to_bytes(ds), keys=DeidKeys(b"\x07" * 32), options=DeidOptions())
    assert result.outcome == "clean", result.reason
    pixels = result.report["pixels"]
    assert pixels["regions"] and pixels["kept"]
    assert pixels["review"]["needed"] is True
    assert pixels["review"]["reasons"] == [REVIEW_REASONS["over-body"]]
    assert [box[5] for box in pixels["review"]["boxes"]] == ["over-body"]
    assert "DOE" not in json.dumps(result.report)


def test_the_verifier_skips_a_second_look_only_at_exactly_the_pixels_searched(detector):
    """GIVEN a frame with a name left in it, and a first pass claiming it found no text there
    WHEN the claim's digest is of other pixels THEN the verifier looks, and finds the name;
    only a digest of these very pixels lets it skip."""
    ds, _ = ct_with([(10, 8, "DOE^JOHN 1961-02-03", 16, 0)])
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    clean, _ = ct_with([])
    stale = {0: frame_digest(decode_frames(clean)[0])}
    assert "readable text remains on frame 1" in verify_redacted(
        buffer.getvalue(), [], detector, clear_frames=stale)
    exact = {0: frame_digest(decode_frames(ds)[0])}
    assert verify_redacted(buffer.getvalue(), [], detector, clear_frames=exact) == []


def test_the_verifier_reuses_the_first_pass_look_only_on_bit_identical_input(detector,
                                                                            monkeypatch):
    """GIVEN a slice with a name, redacted by the first pass, which ends with the verifier's
    own look on the frame as it will be written WHEN the written frame is exactly that frame
    THEN the verifier does not repeat the look; WHEN a pixel outside the black box changed
    after the look (a name drawn into the written file) THEN it looks again and refuses."""
    ds, _ = ct_with([(10, 8, "DOE^JOHN 1961-02-03", 16, 0)])
    outcome = redact_dicom_pixels(ds, detector=detector)
    assert outcome.regions and set(outcome.search.looked_frames) == {0}
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    search = outcome.search
    looks = []
    real = pixels.objections
    monkeypatch.setattr(pixels, "objections", lambda *a, **k: looks.append(1) or real(*a, **k))
    assert verify_redacted(buffer.getvalue(), outcome.regions, detector,
                           clear_frames=search.clear_frames, looked_frames=search.looked_frames,
                           kept=search.kept, flagged=search.left()) == []
    assert looks == []
    tampered, _ = ct_with([(200, 470, "ROE^JANE", 16, 0)])
    frame = decode_frames(tampered)[0].copy()
    for _, x, y, w, h in outcome.regions:
        frame[y : y + h, x : x + w] = outcome.fill
    ds.PixelData = frame.astype("<u2").tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert "readable text remains on frame 1" in verify_redacted(
        buffer.getvalue(), outcome.regions, detector, clear_frames=search.clear_frames,
        looked_frames=search.looked_frames, kept=search.kept, flagged=search.left())
    assert looks


def test_detection_gives_the_same_boxes_whichever_provider_list_runs_it():
    """The execution provider is a parameter (CUDA first when onnxruntime offers it); the
    boxes on the CPU path and on the default path agree within a pixel."""
    ds, _ = ct_with([(10, 8, "DOE^JOHN", 16, 0), (300, 480, "ST MARY HOSP", 14, 0)])
    from scans.deid.pixels import detection_image

    image = detection_image(decode_frames(ds)[0], ds)
    on_cpu = TextDetector(providers=(CPU,)).detect(image)
    default = TextDetector(providers=default_providers()).detect(image)
    assert len(on_cpu) == len(default) == 2
    for a, b in zip(on_cpu, default, strict=True):
        assert max(abs(a.x - b.x), abs(a.y - b.y), abs(a.w - b.w), abs(a.h - b.h)) <= 1


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
def test_the_gpu_path_detects_frames_in_batches_with_the_boxes_of_the_cpu_path():
    """On a GPU frames go through the detector in batches (on the CPU one at a time, which is
    faster there). The CUDA-first provider list runs that batched path even where only the CPU
    executes it: each frame's boxes agree within a pixel with the CPU path's, one by one."""
    from scans.deid.pixels import detection_image

    frames = []
    for seed, labels in enumerate([[(10, 8, "DOE^JOHN", 16, 0)],
                                   [(300, 480, "ST MARY HOSP", 14, 0)],
                                   [(12, 10, "ID 889123", 15, 0), (20, 470, "R", 18, 0)]]):
        ds, _ = ct_with(labels, seed=seed)
        frames.append(detection_image(decode_frames(ds)[0], ds))
    gpu_first = TextDetector(providers=(CUDA, CPU))
    on_cpu = TextDetector(providers=(CPU,))
    assert on_cpu.detection_batch == 1 and gpu_first.detection_batch >= len(frames)
    batched = gpu_first.detect_lines(frames)
    for image, lines in zip(frames, batched, strict=True):
        alone = on_cpu.detect_lines([image])[0]
        assert len(alone) == len(lines) >= 1
        for a, b in zip(alone, lines, strict=True):
            assert max(abs(a.box.x - b.box.x), abs(a.box.y - b.box.y),
                       abs(a.box.w - b.box.w), abs(a.box.h - b.box.h)) <= 1


def test_cuda_is_chosen_first_when_onnxruntime_offers_it(monkeypatch):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert default_providers() == ("CUDAExecutionProvider", "CPUExecutionProvider")
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert default_providers() == ("CPUExecutionProvider",)


def test_the_note_for_the_ai_says_black_rectangles_are_redactions_not_findings():
    assert "black rectangles" in REDACTION_NOTE.lower()
    assert "not findings" in REDACTION_NOTE


# Where a vendor's echo (pydicom-data's JPGLosslessP14SV1_1s_1f_8b.dcm) prints its measurements.
ECHO_ANNOTATIONS = {
    "Asc Ao Diam 3.3 cm": (104, 62, 230, 26),
    "Asc Ao Index 2.0": (104, 92, 230, 24),
    "TIS0.4 MI 1.4": (824, 24, 164, 24),
    "65bpm": (928, 728, 70, 22),
}


def test_a_real_echo_keeps_its_measurements_and_safety_indices(detector):
    """GIVEN a vendor echo with measurements and MI/TIS (once blacked out wholesale)
    THEN none of them is touched, each still reads the same, and the verifier accepts it."""
    from tests.support.pixel_scoring import similarity
    from tests.support.pixelset import dicom_path

    path = dicom_path("JPGLosslessP14SV1_1s_1f_8b.dcm")
    if path is None:
        pytest.skip("pydicom-data is not installed")
    ds = pydicom.dcmread(path)
    outcome = redact_dicom_pixels(ds, detector=detector)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    written = decode_frames(pydicom.dcmread(io.BytesIO(buffer.getvalue())))[0]
    for text, (x, y, w, h) in ECHO_ANNOTATIONS.items():
        assert not any(rx < x + w and x < rx + rw and ry < y + h and y < ry + rh
                       for _, rx, ry, rw, rh in outcome.regions), text
        reading = detector.read_crops([np.ascontiguousarray(written[y : y + h, x : x + w])])[0]
        assert similarity(reading.text, text) >= 0.8, (text, reading.text)
    assert verify_redacted(buffer.getvalue(), outcome.regions, detector,
                           clear_frames=outcome.search.clear_frames, kept=outcome.search.kept,
                           flagged=outcome.search.left()) == []
