"""Review-page previews look like a viewer's, and the picture sent to an AI endpoint fits its
limits and is the same bytes every time."""

import io

import numpy as np
import pytest
from PIL import Image
from pydicom.pixels import convert_color_space
from pydicom.uid import RLELossless

from scans.deid.preview import (
    FLAG_COLOUR,
    OUTLINE_COLOUR,
    render_dicom_preview,
    render_photo_preview,
    scale_for_sending,
)
from scans.deid.text import PixelError
from tests.support import builders
from tests.support.phantoms import body_phantom, make_dataset


def opened(png):
    assert png.startswith(b"\x89PNG")
    return np.asarray(Image.open(io.BytesIO(png)))


def ct(**window):
    return make_dataset(
        body_phantom(0), "MONOCHROME2", 12, RescaleSlope=1, RescaleIntercept=-1024, **window
    )


def test_a_ct_preview_uses_the_file_window_and_shows_air_black_and_tissue_grey():
    pixels = opened(render_dicom_preview(ct(WindowCenter=[40, 400], WindowWidth=[400, 2000])))
    assert pixels.shape == (512, 512)
    assert pixels[5, 5] == 0  # air
    assert 80 < pixels[265, 256] < 200  # soft tissue at 40 HU in a 40/400 window


def test_without_a_window_it_chooses_a_robust_one_that_is_neither_black_nor_white():
    pixels = opened(render_dicom_preview(ct()))
    assert 0.05 < (pixels > 127).mean() < 0.95
    assert len(np.unique(pixels)) > 20


def test_monochrome1_is_shown_inverted():
    stored = (4095 - body_phantom(0)).astype(np.uint16)
    pixels = opened(render_dicom_preview(make_dataset(stored, "MONOCHROME1", 12)))
    assert pixels[5, 5] < 20  # stored high values are dark in MONOCHROME1
    assert pixels[265, 256] > 127


def test_colour_is_shown_as_rgb_and_scaled_to_the_requested_size():
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[:, :320] = (200, 30, 30)
    for photometric, data in (
        ("RGB", rgb),
        ("YBR_FULL", convert_color_space(rgb, "RGB", "YBR_FULL")),
    ):
        pixels = opened(render_dicom_preview(make_dataset(data, photometric, 8), max_size=320))
        assert pixels.shape == (240, 320, 3)
        assert pixels[120, 40, 0] > 180 and pixels[120, 40, 1] < 60


def test_a_multi_frame_preview_shows_the_middle_frame_unless_told_otherwise():
    frames = np.stack([np.full((64, 64), value, np.uint8) for value in (0, 100, 200)])
    ds = make_dataset(frames, "MONOCHROME2", 8, WindowCenter=128, WindowWidth=256)
    assert opened(render_dicom_preview(ds))[32, 32] == 100
    assert opened(render_dicom_preview(ds, frame=2))[32, 32] == 200
    with pytest.raises(PixelError):
        render_dicom_preview(ds, frame=3)


def test_redacted_regions_are_outlined_in_colour_on_their_own_frame_only():
    frames = np.zeros((2, 100, 100), np.uint8)
    ds = make_dataset(frames, "MONOCHROME2", 8)
    regions = [(0, 10, 10, 30, 20)]
    outlined = opened(render_dicom_preview(ds, frame=0, regions=regions))
    assert outlined.shape == (100, 100, 3)
    assert tuple(outlined[10, 20]) != (0, 0, 0) and tuple(outlined[20, 25]) == (0, 0, 0)
    assert opened(render_dicom_preview(ds, frame=1, regions=regions)).ndim == 2
    assert opened(render_dicom_preview(ds, frame=0, regions=regions, outline=False)).ndim == 2


def test_compressed_dicom_bytes_can_be_previewed():
    ds = ct(WindowCenter=40, WindowWidth=400)
    ds.compress(RLELossless, generate_instance_uid=False)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert opened(render_dicom_preview(buffer.getvalue(), max_size=256)).shape == (256, 256)


def test_boxes_to_check_are_outlined_apart_from_plain_redactions():
    ds = make_dataset(np.zeros((100, 100), np.uint8), "MONOCHROME2", 8)
    shown = opened(render_dicom_preview(ds, regions=[(0, 10, 10, 30, 20)],
                                        flags=[[0, 50, 50, 30, 20, "over-body"]]))
    assert tuple(shown[10, 20]) == OUTLINE_COLOUR
    assert tuple(shown[50, 60]) == FLAG_COLOUR


def test_a_photo_preview_is_scaled_and_outlined():
    buffer = io.BytesIO()
    Image.new("RGB", (1600, 1200), (40, 40, 40)).save(buffer, format="JPEG")
    pixels = opened(render_photo_preview(buffer.getvalue(), regions=[(0, 100, 100, 400, 200)]))
    assert pixels.shape == (576, 768, 3)
    assert pixels[48, 100, 0] > 200


def noisy_png(size=(1200, 900)):
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()


def test_scaling_for_sending_respects_the_side_and_byte_limits():
    data, media_type = scale_for_sending(noisy_png(), max_side=512, max_bytes=150_000)
    image = Image.open(io.BytesIO(data))
    assert len(data) <= 150_000
    assert max(image.size) <= 512
    assert media_type == "image/jpeg" and image.format == "JPEG"
    assert not image.info.get("exif") and not image.info.get("icc_profile")


def test_a_small_enough_image_is_sent_as_png():
    data, media_type = scale_for_sending(noisy_png((64, 48)), max_side=512, max_bytes=1_000_000)
    assert media_type == "image/png"
    assert Image.open(io.BytesIO(data)).size == (64, 48)


def test_scaling_for_sending_gives_the_same_bytes_every_time():
    ds = ct(WindowCenter=40, WindowWidth=400)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    first = scale_for_sending(buffer.getvalue(), max_side=256, max_bytes=40_000)
    second = scale_for_sending(buffer.getvalue(), max_side=256, max_bytes=40_000)
    assert first == second
    assert len(first[0]) <= 40_000
    assert scale_for_sending(noisy_png(), max_side=300, max_bytes=50_000) == scale_for_sending(
        noisy_png(), max_side=300, max_bytes=50_000
    )


def test_an_impossible_byte_limit_raises_pixel_error():
    with pytest.raises(PixelError):
        scale_for_sending(noisy_png(), max_side=512, max_bytes=100)


def test_the_original_of_a_bare_data_set_can_be_previewed():
    data = builders.make_dicom_without_preamble()
    pixels = opened(render_dicom_preview(data))
    assert pixels.shape == (16, 16)
    assert pixels[0, 0] < pixels[15, 15]  # the builder's ramp, dark to bright
