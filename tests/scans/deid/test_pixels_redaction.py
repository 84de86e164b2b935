"""Burned-in text in DICOM pixels is blacked out on every frame; everything else stays exactly
as it was; anything that cannot be decoded or checked raises PixelError (quarantine)."""

import io

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    RLELossless,
)

from scans.deid.pixels import (
    decode_frames,
    display_frame,
    redact_dicom_pixels,
    verify_exempt,
    verify_redacted,
)
from scans.deid.text import PixelError, fuzzy_contains, get_detector, recognize_text
from tests.support.phantoms import body_phantom, make_dataset

# Scanner-style overlays: corners on background, one line over the body.
LABELS = [
    (8, 6, "DOE^JOHN", 14),
    (8, 26, "1961-02-03", 13),
    (370, 6, "MRN 12345", 14),
    (330, 488, "ST MARY HOSP", 12),
    (200, 250, "ACC 998877", 16),
]
NAMES = [label for _, _, label, _ in LABELS]


# ---- builders ------------------------------------------------------------------------------


def label_masks(shape, labels=LABELS):
    """One boolean ink mask per label, drawn with Pillow's built-in scalable font."""
    masks = []
    for x, y, label, size in labels:
        mask = Image.new("L", (shape[1], shape[0]), 0)
        ImageDraw.Draw(mask).text((x, y), label, fill=255, font=ImageFont.load_default(size=size))
        masks.append(np.array(mask) > 0)
    return masks






def ct_with_text(seed=0):
    pixels = body_phantom(seed)
    masks = label_masks(pixels.shape)
    pixels[np.any(masks, axis=0)] = 4095  # burned in at the maximum, as scanners do
    ds = make_dataset(
        pixels,
        "MONOCHROME2",
        12,
        Modality="CT",
        RescaleSlope=1,
        RescaleIntercept=-1024,
        WindowCenter=40,
        WindowWidth=400,
    )
    return ds, masks


def roundtrip(ds):
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def assert_labels_black(frame, masks, black):
    for mask in masks:
        assert np.all(frame[mask] == black), "a planted label is not fully blacked out"


def assert_identical_outside(before, after, regions, frame_index=0):
    outside = np.ones(before.shape[:2], dtype=bool)
    for f, x, y, w, h in regions:
        if f == frame_index:
            outside[y : y + h, x : x + w] = False
    assert np.array_equal(before[outside], after[outside])


@pytest.fixture(scope="module")
def detector():
    return get_detector()


# ---- redaction by photometric interpretation -----------------------------------------------


def test_it_blacks_out_every_label_on_a_16_bit_ct_and_keeps_the_rest_bit_identical(detector):
    ds, masks = ct_with_text()
    before = decode_frames(ds)[0].copy()
    outcome = redact_dicom_pixels(ds, detector=detector)
    after = decode_frames(roundtrip(ds))[0]
    assert outcome.changed and outcome.regions
    assert outcome.transfer_syntax_changed_to is None
    assert {r[0] for r in outcome.regions} == {0}
    assert_labels_black(after, masks, before.min())
    assert_identical_outside(before, after, outcome.regions)
    assert verify_redacted(ds, outcome.regions, detector) == []


def test_after_redaction_no_letters_of_any_label_can_be_read(detector):
    ds, _ = ct_with_text(seed=3)
    redact_dicom_pixels(ds, detector=detector)
    written = roundtrip(ds)
    shown = display_frame(decode_frames(written)[0], written)
    lines = [line for _, line in recognize_text(shown)]
    assert fuzzy_contains(" ".join(lines), NAMES) is None
    assert not any(fuzzy_contains(line, NAMES) for line in lines)


def test_it_blacks_out_labels_on_an_8_bit_monochrome2_image(detector):
    pixels = (body_phantom(1) // 16).astype(np.uint8)
    masks = label_masks(pixels.shape)
    pixels[np.any(masks, axis=0)] = 255
    ds = make_dataset(pixels, "MONOCHROME2", 8)
    before = pixels.copy()
    outcome = redact_dicom_pixels(ds, detector=detector)
    after = decode_frames(roundtrip(ds))[0]
    assert_labels_black(after, masks, before.min())
    assert_identical_outside(before, after, outcome.regions)


def test_on_monochrome1_it_fills_with_the_value_shown_as_black(detector):
    # MONOCHROME1 shows low values white: text meant to look white is stored at the minimum.
    display = body_phantom(2)
    masks = label_masks(display.shape)
    display[np.any(masks, axis=0)] = 4095
    stored = (4095 - display).astype(np.uint16)
    ds = make_dataset(stored, "MONOCHROME1", 12)
    outcome = redact_dicom_pixels(ds, detector=detector)
    after = decode_frames(roundtrip(ds))[0]
    assert_labels_black(after, masks, stored.max())
    assert_identical_outside(stored, after, outcome.regions)


def ultrasound_rgb(seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:480, :640]
    sector = ((xx - 320) ** 2 + (yy + 40) ** 2 < 460**2) & (np.abs(xx - 320) < (yy + 40) * 0.8)
    grey = np.where(sector, rng.gamma(2.0, 30, (480, 640)), 0).clip(0, 255)
    rgb = np.dstack([grey, grey, grey]).astype(np.uint8)
    rgb[200:260, 300:360] = (200, 60, 20)  # a colour-Doppler patch
    labels = [(10, 8, "DOE^JOHN", 16), (10, 30, "1961-02-03", 14), (480, 8, "MRN 12345", 16)]
    masks = label_masks(rgb.shape, labels)
    rgb[np.any(masks, axis=0)] = (255, 255, 255)
    return rgb, masks


def test_it_blacks_out_labels_on_an_rgb_ultrasound(detector):
    rgb, masks = ultrasound_rgb()
    ds = make_dataset(rgb, "RGB", 8, Modality="US")
    outcome = redact_dicom_pixels(ds, detector=detector)
    after = decode_frames(roundtrip(ds))[0]
    for mask in masks:
        assert np.all(after[mask] == 0)
    assert_identical_outside(rgb, after, outcome.regions)
    assert verify_redacted(ds, outcome.regions, detector) == []


def test_a_ybr_full_image_is_redacted_and_written_back_as_rgb(detector):
    rgb, masks = ultrasound_rgb(1)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    ds = make_dataset(ybr, "YBR_FULL", 8, Modality="US")
    decoded = decode_frames(ds)[0].copy()
    outcome = redact_dicom_pixels(ds, detector=detector)
    written = roundtrip(ds)
    after = decode_frames(written)[0]
    assert written.PhotometricInterpretation == "RGB"
    for mask in masks:
        assert np.all(after[mask] == 0)
    assert_identical_outside(decoded, after, outcome.regions)


def test_on_a_multi_frame_image_it_reports_regions_per_frame(detector):
    frames = np.stack([(body_phantom(s, 256) // 16).astype(np.uint8) for s in range(3)])
    labels = [(6, 6, "DOE^JOHN", 14), (120, 230, "MRN 12345", 14)]
    masks = label_masks((256, 256), labels)
    for index in (0, 2):
        frames[index][np.any(masks, axis=0)] = 255
    ds = make_dataset(frames, "MONOCHROME2", 8)
    before = frames.copy()
    outcome = redact_dicom_pixels(ds, detector=detector)
    after = decode_frames(roundtrip(ds))
    assert {r[0] for r in outcome.regions} == {0, 2}
    assert np.array_equal(after[1], before[1])
    for index in (0, 2):
        assert_labels_black(after[index], masks, before.min())
        assert_identical_outside(before[index], after[index], outcome.regions, index)
    assert verify_redacted(ds, outcome.regions, detector) == []


# ---- compressed input ----------------------------------------------------------------------


def test_an_rle_file_is_decoded_redacted_and_written_uncompressed(detector):
    ds, masks = ct_with_text(seed=4)
    before = decode_frames(ds)[0].copy()
    ds.compress(RLELossless, generate_instance_uid=False)
    outcome = redact_dicom_pixels(ds, detector=detector)
    written = roundtrip(ds)
    after = decode_frames(written)[0]
    assert outcome.transfer_syntax_changed_to == ExplicitVRLittleEndian
    assert written.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert_labels_black(after, masks, before.min())
    assert_identical_outside(before, after, outcome.regions)


def jpeg_baseline_dataset(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    ds = make_dataset(pixels, "MONOCHROME2", 8)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.LossyImageCompression = "01"
    return roundtrip(ds)


def test_a_jpeg_baseline_file_is_decoded_redacted_and_written_uncompressed(detector):
    pixels = (body_phantom(5) // 16).astype(np.uint8)
    masks = label_masks(pixels.shape)
    pixels[np.any(masks, axis=0)] = 255
    ds = jpeg_baseline_dataset(pixels)
    before = decode_frames(ds)[0].copy()
    outcome = redact_dicom_pixels(ds, detector=detector)
    after = decode_frames(roundtrip(ds))[0]
    assert outcome.transfer_syntax_changed_to == ExplicitVRLittleEndian
    for mask in masks:
        assert np.all(after[mask] == before.min())
    assert_identical_outside(before, after, outcome.regions)


# ---- nothing to do, and failing closed -----------------------------------------------------


def test_a_file_without_text_keeps_its_pixel_data_bytes_and_transfer_syntax(detector):
    ds = make_dataset(body_phantom(6), "MONOCHROME2", 12, RescaleIntercept=-1024, RescaleSlope=1)
    ds.compress(RLELossless, generate_instance_uid=False)
    original = bytes(ds.PixelData)
    outcome = redact_dicom_pixels(ds, detector=detector)
    assert outcome.changed is False and outcome.regions == []
    assert outcome.transfer_syntax_changed_to is None
    assert bytes(ds.PixelData) == original
    assert ds.file_meta.TransferSyntaxUID == RLELossless


def test_an_exempt_file_is_left_alone_for_the_verifier(detector):
    ds, _ = ct_with_text()
    original = bytes(ds.PixelData)
    outcome = redact_dicom_pixels(ds, detector=detector, exempt=True)
    assert outcome.exempt and not outcome.changed
    assert bytes(ds.PixelData) == original


def test_truncated_pixel_data_raises_pixel_error(detector):
    ds, _ = ct_with_text()
    ds.PixelData = bytes(ds.PixelData)[:1000]
    with pytest.raises(PixelError, match="could not be decoded"):
        redact_dicom_pixels(ds, detector=detector)


def test_a_transfer_syntax_without_a_decoder_raises_pixel_error(detector):
    ds, _ = ct_with_text()
    ds.compress(RLELossless, generate_instance_uid=False)
    ds.file_meta.TransferSyntaxUID = "1.2.826.0.1.3680043.99.1.1"  # a private syntax
    with pytest.raises(PixelError):
        redact_dicom_pixels(ds, detector=detector)


def test_a_broken_detector_raises_pixel_error(monkeypatch):
    from scans.deid.text import TextDetector

    def broken(self, images, **kwargs):
        raise PixelError("text detection failed")

    monkeypatch.setattr(TextDetector, "detect_lines", broken)
    ds, _ = ct_with_text()
    with pytest.raises(PixelError, match="text detection failed"):
        redact_dicom_pixels(ds, detector=TextDetector())


def test_palette_colour_is_refused_rather_than_guessed(detector):
    ds = make_dataset(np.zeros((64, 64), np.uint8), "MONOCHROME2", 8)
    ds.PhotometricInterpretation = "PALETTE COLOR"
    with pytest.raises(PixelError, match="PALETTE COLOR"):
        redact_dicom_pixels(ds, detector=detector)


# ---- verification --------------------------------------------------------------------------


def test_verification_reports_a_region_that_was_not_blacked_out(detector):
    ds, _ = ct_with_text()
    outcome = redact_dicom_pixels(ds, detector=detector)
    tampered = roundtrip(ds)
    original, _ = ct_with_text()
    tampered.PixelData = original.PixelData  # the labels are back
    reasons = verify_redacted(tampered, outcome.regions, detector)
    assert "a redacted region on frame 1 is not blacked out" in reasons


def test_verification_reports_letters_a_region_did_not_cover(detector):
    ds, masks = ct_with_text()
    ys, xs = np.nonzero(masks[0])  # DOE^JOHN
    x, y, w, h = 0, 0, int(xs.min() + (xs.max() - xs.min()) // 3), int(ys.max() + 4)
    pixels = decode_frames(ds)[0].copy()
    pixels[y : y + h, x : x + w] = pixels.min()  # only the first letters blacked out
    ds.PixelData = pixels.tobytes()
    reasons = verify_redacted(ds, [(0, x, y, w, h)], detector)
    assert "text still detected on frame 1 after redaction" in reasons
    # The other labels were never blacked out: the second look reads them too.
    assert "readable text remains on frame 1" in reasons


def test_verification_reads_the_written_bytes(detector):
    ds, _ = ct_with_text()
    outcome = redact_dicom_pixels(ds, detector=detector)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert verify_redacted(buffer.getvalue(), outcome.regions, detector) == []


def test_an_exempted_image_showing_the_patients_name_is_caught(detector):
    rgb, _ = ultrasound_rgb()
    ds = make_dataset(rgb, "RGB", 8, Modality="US")
    reasons = verify_exempt(ds, ["DOE^JOHN", "1961-02-03"], detector=detector)
    assert reasons == ["text on frame 1 resembles a patient identifier"]
    assert not any("DOE" in reason or "1961" in reason for reason in reasons)


def test_an_exempted_image_with_someone_elses_text_passes(detector):
    rgb, _ = ultrasound_rgb()
    ds = make_dataset(rgb, "RGB", 8, Modality="US")
    assert verify_exempt(ds, ["SMITH^ANNA", "1975-11-30", "998877"], detector=detector) == []


def test_an_exemption_without_identifiers_cannot_be_verified():
    rgb, _ = ultrasound_rgb()
    ds = make_dataset(rgb, "RGB", 8, Modality="US")
    assert verify_exempt(ds, []) != []
