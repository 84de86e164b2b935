"""The labelled pixel set, image by image: text-free real images come out with no pixel
changed; on images carrying text every identifier is blacked out and every clinical annotation
stays readable (read back by the recogniser on the output); the independent second pass
accepts every output."""

import pytest

from scans.deid.text import get_detector
from tests.support.pixel_scoring import score_image
from tests.support.pixelset import labelled_set

IMAGES = labelled_set()


@pytest.fixture(scope="module")
def detector():
    return get_detector()


def test_the_set_holds_real_text_free_images_and_labelled_synthetic_ones():
    text_free = [image for image in IMAGES if image.text_free]
    synthetic = [image for image in IMAGES if not image.text_free]
    assert len(text_free) >= 20, "pydicom-data and scikit-image provide the text-free images"
    assert len(synthetic) >= 16
    assert sum(len(image.identifiers) for image in synthetic) >= 40
    assert sum(len(image.annotations) for image in synthetic) >= 40


@pytest.mark.parametrize("image", [i for i in IMAGES if i.text_free], ids=lambda i: i.name)
def test_a_text_free_image_comes_out_with_no_pixel_changed(image, detector):
    score = score_image(image, detector)
    assert not score.pixels_changed
    assert score.verifier_reasons == []


@pytest.mark.parametrize("image", [i for i in IMAGES if not i.text_free], ids=lambda i: i.name)
def test_every_identifier_is_blacked_out_and_every_annotation_stays_readable(image, detector):
    score = score_image(image, detector)
    assert score.identifiers_left == [], "identifiers left readable"
    assert score.annotations_lost == [], "annotations blacked out or unreadable"
    assert score.verifier_reasons == []
