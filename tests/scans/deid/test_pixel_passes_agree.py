"""The first pixel pass is at least as sensitive as the independent verifier.

Real sample files nobody here wrote (pydicom's test files and the pydicom-data package) were
once quarantined because the verifier, looking with its own finer parameters, read text the
first pass had not covered: a radiograph's marker, a colour volume's labels. The first pass now
ends with the verifier's own look and blacks out whatever it would object to, honouring the
same allowed annotations and flagged marks; the verifier still re-checks the written output on
its own, and the images come out clean with no identifying text readable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scans.deid.engine import DeidKeys, DeidOptions, deidentify_bytes
from scans.deid.pixels import (
    decode_frames,
    detection_image,
    get_detector,
    objections,
    redact_dicom_pixels,
)
from scans.deid.reading import read_dicom

pytestmark = pytest.mark.slow

KEYS = DeidKeys(secret=bytes(range(32)))


def real_file(name: str) -> bytes:
    """A file of the pydicom-data package (installed with the test dependencies)."""
    import data_store

    folder = Path(next(iter(data_store.__path__))) / "data"
    path = folder / name
    if not path.exists():
        pytest.skip(f"pydicom-data has no {name}")
    return path.read_bytes()


@pytest.mark.parametrize("name", ["RG3_UNCI.dcm", "RG3_J2KI.dcm"])
def test_a_radiograph_with_a_mark_the_verifier_reads_is_released_clean(name: str) -> None:
    result = deidentify_bytes(real_file(name), keys=KEYS, options=DeidOptions())
    assert result.outcome == "clean", result.reason
    assert result.report["pixels"]["regions"]


def test_the_verifier_has_nothing_left_to_object_to_after_the_first_pass() -> None:
    """GIVEN a radiograph whose first pass alone left a mark the verifier reads
    WHEN the first pass runs THEN the verifier's look on the redacted frame finds nothing."""
    ds = read_dicom(real_file("RG3_UNCI.dcm"))
    detector = get_detector()
    outcome = redact_dicom_pixels(ds, detector=detector)
    frame = decode_frames(ds)[0]
    image = detection_image(frame, ds)
    from scans.deid.burned_in import neutralize_regions, verifier_for
    from scans.deid.text import Box

    boxes = [(x, y, w, h) for f, x, y, w, h in outcome.regions if f == 0]
    neutral = neutralize_regions(image, boxes)
    left = [Box(x, y, w, h) for f, x, y, w, h in outcome.search.left() if f == 0]
    kept = [Box(x, y, w, h) for f, x, y, w, h in outcome.search.kept if f == 0]
    assert objections(neutral, boxes, verifier_for(detector), renderings=True, places=kept,
                      marks=left) == []
    x, y, w, h = boxes[0]
    assert np.unique(frame[y:y + h, x:x + w]).size == 1  # one flat value: blacked out


def test_a_colour_volume_with_labels_is_released_clean() -> None:
    result = deidentify_bytes(real_file("color3d_jpeg_baseline.dcm"), keys=KEYS,
                              options=DeidOptions())
    assert result.outcome == "clean", result.reason
