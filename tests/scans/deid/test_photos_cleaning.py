"""Photos leave the gateway as pixels only: upright, no metadata of any kind, text blacked out."""

import io

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from scans.deid.photos import (
    clean_photo,
    jpeg_metadata_problems,
    png_metadata_problems,
    verify_photo,
)
from scans.deid.text import PixelError, get_detector

SECRETS = [b"SECRET-ARTIST", b"SECRET-XMP", b"SECRET-COMMENT", b"SECRET-TEXT", b"SECRET-ITXT"]
CONTAINER_MARKERS = [b"Exif", b"http://ns.adobe.com/xap", b"ICC_PROFILE", b"tEXt", b"iTXt", b"zTXt"]


def photo_with_label(size=(800, 600), label="DOE^JOHN 1961-02-03", at=(60, 60)):
    """A photo-like RGB picture with a name label; returns the image and the label's ink mask."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: size[1], : size[0]]
    base = np.dstack([120 + 40 * np.sin(xx / 50), 110 + 30 * np.cos(yy / 70), 90 + 0 * xx])
    base = (base + rng.normal(0, 6, base.shape)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(base)
    font = ImageFont.load_default(size=28)
    ImageDraw.Draw(image).rectangle((at[0] - 8, at[1] - 8, at[0] + 400, at[1] + 40), fill="white")
    ImageDraw.Draw(image).text(at, label, fill="black", font=font)
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).text(at, label, fill=255, font=font)
    return image, np.array(mask) > 0


def exif_with_gps(orientation=1):
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x013B] = "SECRET-ARTIST"  # Artist
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.0)  # GPSLatitudeRef, GPSLatitude
    return exif


def srgb_profile():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def full_jpeg(image, orientation=1):
    buffer = io.BytesIO()
    image.save(
        buffer,
        format="JPEG",
        quality=95,
        exif=exif_with_gps(orientation),
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">SECRET-XMP</x:xmpmeta>',
        icc_profile=srgb_profile(),
        comment="SECRET-COMMENT",
    )
    return buffer.getvalue()


def full_png(image):
    info = PngInfo()
    info.add_text("Author", "SECRET-TEXT")
    info.add_itxt("Comment", "SECRET-ITXT")
    info.add_text("Title", "SECRET-TEXT", zip=True)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, icc_profile=srgb_profile())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def detector():
    return get_detector()


def decoded(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_a_jpeg_keeps_no_exif_gps_xmp_icc_or_comment_and_its_label_is_blacked_out(detector):
    image, mask = photo_with_label()
    source = full_jpeg(image)
    assert all(marker in source for marker in (b"Exif", b"SECRET-XMP", b"ICC_PROFILE"))
    outcome = clean_photo(source, detector=detector)
    assert outcome.suffix == ".jpg"
    assert (outcome.width, outcome.height) == (800, 600)
    for secret in SECRETS + CONTAINER_MARKERS:
        assert secret not in outcome.output
    assert jpeg_metadata_problems(outcome.output) == []
    assert decoded(outcome.output)[mask].max() < 48  # black, give or take JPEG ringing
    assert verify_photo(outcome.output, outcome.regions, detector) == []


def test_a_png_keeps_no_text_chunks_or_profile_and_its_label_is_blacked_out(detector):
    image, mask = photo_with_label()
    outcome = clean_photo(full_png(image), detector=detector)
    assert outcome.suffix == ".png"
    for secret in SECRETS + CONTAINER_MARKERS + [b"iCCP"]:
        assert secret not in outcome.output
    assert png_metadata_problems(outcome.output) == []
    assert np.all(decoded(outcome.output)[mask] == 0)
    assert verify_photo(outcome.output, outcome.regions, detector) == []


def test_exif_orientation_is_applied_so_the_photo_is_upright(detector):
    stored = np.full((200, 300, 3), 200, np.uint8)
    stored[:40, :40] = (255, 0, 0)  # red in the stored top-left corner
    source = full_jpeg(Image.fromarray(stored), orientation=6)  # "rotate 90 clockwise to view"
    outcome = clean_photo(source, detector=detector)
    upright = decoded(outcome.output)
    assert upright.shape[:2] == (300, 200)
    assert (outcome.width, outcome.height) == (200, 300)
    red = upright[5:35, 165:195]
    assert red[..., 0].mean() > 200 and red[..., 1].mean() < 60  # now the top-right corner


def test_a_transparent_png_is_flattened_so_hidden_pixels_stay_hidden(detector):
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[..., :3] = 90  # colour under fully transparent alpha
    outcome = clean_photo(_png_bytes(Image.fromarray(rgba, "RGBA")), detector=detector)
    assert np.all(decoded(outcome.output) == 255)


def _png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_undecodable_or_unsupported_images_raise_pixel_error(detector):
    image, _ = photo_with_label((200, 100))
    truncated = full_jpeg(image)[:400]
    gif = io.BytesIO()
    image.save(gif, format="GIF")
    for data in (b"not an image", truncated, gif.getvalue()):
        with pytest.raises(PixelError):
            clean_photo(data, detector=detector)


def test_an_image_over_the_pixel_limit_is_refused(detector):
    image, _ = photo_with_label((200, 100))
    with pytest.raises(PixelError, match="too large"):
        clean_photo(_png_bytes(image), detector=detector, max_pixels=10_000)


def test_verification_refuses_output_that_still_carries_metadata(detector):
    image, _ = photo_with_label((200, 100))
    jpeg_reasons = verify_photo(full_jpeg(image), [], detector)
    assert "the cleaned JPEG has an APP1 metadata segment" in jpeg_reasons
    assert "the cleaned JPEG has an APP2 metadata segment" in jpeg_reasons
    assert "the cleaned JPEG has a comment segment" in jpeg_reasons
    png_reasons = verify_photo(full_png(image), [], detector)
    assert {"the cleaned PNG has a tEXt chunk", "the cleaned PNG has a iTXt chunk"} <= set(
        png_reasons
    )


def test_verification_notices_a_label_left_visible(detector):
    image, mask = photo_with_label()
    ys, xs = np.nonzero(mask)
    x, y = int(xs.min()), int(ys.min())
    region = (0, x, y, int((xs.max() - x) // 3), int(ys.max() - y + 1))
    pixels = np.array(image)
    pixels[y : y + region[4], x : x + region[3]] = 0  # only the first letters blacked out
    reasons = verify_photo(_png_bytes(Image.fromarray(pixels)), [region], detector)
    assert reasons == ["text still detected in the photo after redaction"]
