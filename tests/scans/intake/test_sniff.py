"""sniff_kind names a file's type from its first bytes only."""

import pytest

from scans.intake import SNIFF_BYTES, sniff_kind
from tests.support import builders


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (builders.make_dicom_bytes(), "dicom"),
        (builders.make_dicom_without_preamble(), "dicom"),
        (builders.make_dicom_bytes()[132:], "dicom"),  # file meta, but no preamble or 'DICM'
        (builders.make_zip({"scan.dcm": builders.make_dicom_bytes()}), "zip"),
        (builders.make_zip({}), "zip"),
        (builders.make_jpeg(), "jpeg"),
        (builders.make_png(), "png"),
    ],
    ids=["part10", "bare-implicit", "bare-with-meta", "zip", "empty-zip", "jpeg", "png"],
)
def test_it_recognises_each_supported_kind_from_the_first_bytes(data, kind):
    assert sniff_kind(data[:SNIFF_BYTES]) == kind


@pytest.mark.parametrize(
    "data",
    [
        builders.make_text_file(),
        builders.make_pdf(),
        builders.make_empty(),
        b"PK",
        b"\xff\xd8",
        bytes(SNIFF_BYTES),
    ],
    ids=["text", "pdf", "empty", "short-zip-magic", "short-jpeg-magic", "zeros"],
)
def test_it_returns_none_for_anything_else(data):
    assert sniff_kind(data) is None


def test_it_ignores_a_dicom_like_first_group_that_is_not_followed_by_a_larger_tag():
    # (0008,0016) UI of length 4, then (0008,0005): tags must ascend in a real data set.
    data = b"\x08\x00\x16\x00UI\x04\x001.2\x00\x08\x00\x05\x00CS\x00\x00"
    assert sniff_kind(data) is None


def test_it_does_not_take_a_preamble_with_other_magic_for_that_format():
    polyglot = b"PK\x03\x04" + builders.make_dicom_bytes()[4:]
    assert sniff_kind(polyglot[:SNIFF_BYTES]) == "dicom"
