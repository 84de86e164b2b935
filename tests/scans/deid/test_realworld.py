"""Real scans nobody here wrote come out released, valid and without their identifiers.

Every image among pydicom's and pydicom-data's sample files that pydicom decodes (CT, MR, CR,
NM, US, SC, enhanced MR/CT, multi-frame, big endian, palette colour, YBR, every transfer
syntax) goes through the engine with its default options. Per file:

* it is released (outcome "clean");
* none of the original's identifying values or UIDs is in the output bytes (searched by
  ``tests/support/realworld.py``, not by the engine's own verifier);
* dciodvfy (Debian's dicom3tools) reports no error the original did not have;
* every pixel outside the reported boxes is what a viewer showed before.
"""

from __future__ import annotations

import pydicom
import pytest

from scans.deid.engine import DeidKeys, DeidOptions, deidentify_bytes
from tests.support.realworld import (
    SampleFile,
    dciodvfy,
    decodable_images,
    leaked,
    new_validator_errors,
    same_outside,
)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

KEYS = DeidKeys(b"\x5a" * 32)
IMAGES = decodable_images()


def test_the_set_holds_the_kinds_of_images_a_patient_brings() -> None:
    assert len(IMAGES) >= 140
    syntaxes = set()
    photometrics = set()
    for sample in IMAGES:
        ds = pydicom.dcmread(sample.path, stop_before_pixels=True)
        syntaxes.add(str(ds.file_meta.TransferSyntaxUID))
        photometrics.add(str(ds.PhotometricInterpretation))
    assert len(syntaxes) >= 12
    assert {"MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR", "YBR_FULL",
            "YBR_FULL_422"} <= photometrics


@pytest.mark.parametrize("sample", [pytest.param(s, id=s.name) for s in IMAGES])
def test_a_real_image_is_released_valid_and_without_its_identifiers(sample: SampleFile) -> None:
    original = sample.read_bytes()
    result = deidentify_bytes(original, keys=KEYS, options=DeidOptions())
    assert result.outcome == "clean", result.reason
    assert result.output is not None
    assert leaked(original, result.output) == []
    assert dciodvfy() is not None, "dciodvfy is missing: make test installs dicom3tools"
    assert new_validator_errors(original, result.output) == set()
    assert same_outside(original, result.output, result.report["pixels"]["regions"])


@pytest.mark.parametrize("sample", IMAGES, ids=[s.name for s in IMAGES])
def test_header_only_every_real_image_is_released_valid_and_without_identifiers(
    sample: SampleFile,
) -> None:
    original = sample.read_bytes()
    result = deidentify_bytes(original, keys=KEYS, options=DeidOptions(detect_text=False))
    assert result.outcome == "clean", result.reason
    assert result.output is not None
    assert leaked(original, result.output) == []
    assert new_validator_errors(original, result.output) == set()
