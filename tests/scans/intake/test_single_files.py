"""check_file accepts single DICOM, JPEG and PNG files and rejects everything else."""

import io

import pydicom
import pytest

from scans import intake
from scans.intake import IntakeLimits, IntakeRejected, IntakeResult, check_file
from tests.support import builders

LIMITS = IntakeLimits()


def check(data: bytes, position: int = 1, limits: IntakeLimits = LIMITS) -> IntakeResult:
    return check_file(io.BytesIO(data), position, limits)


def rejection(data: bytes, position: int = 1, limits: IntakeLimits = LIMITS) -> IntakeRejected:
    with pytest.raises(IntakeRejected) as caught:
        check(data, position, limits)
    return caught.value


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (builders.make_dicom_bytes(), "dicom"),
        (builders.make_dicom_without_preamble(), "dicom"),
        (builders.make_dicom_bytes()[132:], "dicom"),
        (builders.make_dicom_bytes(Modality=None, SOPClassUID=None), "dicom"),
        (builders.make_jpeg(64, 48, text="Alice"), "jpeg"),
        (builders.make_png(64, 48, text="Alice"), "png"),
    ],
    ids=["part10", "bare-implicit", "bare-with-meta", "pixels-only", "jpeg", "png"],
)
def test_it_accepts_a_single_image_file_as_one_image(data, kind):
    assert check(data) == IntakeResult(kind, 1)


def test_it_reads_a_dicom_header_without_reading_the_pixel_data():
    class CountingBytesIO(io.BytesIO):
        read_total = 0

        def read(self, size=-1):
            data = super().read(size)
            self.read_total += len(data)
            return data

    pixels = bytes(2 * 1024 * 1024 * 2)
    data = builders.make_dicom_bytes(Rows=1024, Columns=2048, PixelData=pixels)
    stream = CountingBytesIO(data)
    check_file(stream, 1, LIMITS)
    assert stream.read_total < 10_000


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (builders.make_empty(), 400, "File 3 is empty; please choose the file again."),
        (
            builders.make_text_file(),
            415,
            "File 3 is neither a DICOM file, a ZIP of DICOM files, nor a JPEG or PNG image.",
        ),
        (
            builders.make_pdf(),
            415,
            "File 3 is neither a DICOM file, a ZIP of DICOM files, nor a JPEG or PNG image.",
        ),
        (
            builders.make_truncated_dicom(),
            400,
            "File 3 is not a readable DICOM file; it may be damaged or incomplete.",
        ),
        (
            builders.make_dicom_bytes()[:300],
            400,
            "File 3 is not a readable DICOM file; it may be damaged or incomplete.",
        ),
        (
            bytes(128) + b"DICM" + b"\xff" * 300,
            400,
            "File 3 is not a readable DICOM file; it may be damaged or incomplete.",
        ),
        (
            builders.make_dicom_bytes(SOPClassUID=None, Modality=None, Rows=None),
            400,
            "File 3 is not a readable DICOM file; it may be damaged or incomplete.",
        ),
        (
            builders.make_dicom_bytes(NumberOfFrames="-1"),
            400,
            "File 3 is not a readable DICOM file; it may be damaged or incomplete.",
        ),
        (
            builders.make_deflated_dicom(),
            415,
            "File 3 is a DICOM file stored with 'deflate' compression, which we do not accept; "
            "please export it again without compression.",
        ),
        (
            builders.make_dicom_bytes(Rows=10000, Columns=10000),
            413,
            "File 3 has more than 80,000,000 pixels, more than we can process; "
            "please send a smaller image.",
        ),
        (
            builders.make_dicom_bytes(Rows=4000, Columns=4000, NumberOfFrames="6"),
            413,
            "File 3 has more than 80,000,000 pixels, more than we can process; "
            "please send a smaller image.",
        ),
        (
            builders.make_png_bomb(),
            413,
            "File 3 has more than 80,000,000 pixels, more than we can process; "
            "please send a smaller image.",
        ),
        (
            builders.make_png()[:20],
            400,
            "File 3 is not a readable PNG image; it may be damaged or incomplete.",
        ),
        (
            b"\xff\xd8\xff" + bytes(100),
            400,
            "File 3 is not a readable JPEG image; it may be damaged or incomplete.",
        ),
    ],
    ids=[
        "empty",
        "text",
        "pdf",
        "truncated-in-pixels",
        "truncated-in-header",
        "garbage-after-dicm",
        "nothing-identifies-it",
        "negative-frames",
        "deflated",
        "too-many-pixels",
        "too-many-frames",
        "png-bomb",
        "truncated-png",
        "garbage-jpeg",
    ],
)
def test_it_rejects_a_bad_single_file_with_a_sentence_naming_it_by_position(data, status, message):
    rejected = rejection(data, position=3)
    assert (rejected.status, rejected.message) == (status, message)


def test_it_applies_the_pixel_limit_to_pictures_before_decoding_them():
    rejected = rejection(builders.make_jpeg(20, 10), limits=IntakeLimits(image_max_pixels=199))
    assert rejected.status == 413
    assert "more than 199 pixels" in rejected.message


def test_it_rejects_a_file_bigger_than_a_whole_upload():
    rejected = rejection(builders.make_png(), limits=IntakeLimits(max_total_bytes=50))
    assert rejected.status == 413
    assert rejected.message.startswith("File 1 is larger than ")


def test_it_refuses_a_dicom_header_too_large_to_check_safely(monkeypatch):
    # File meta elements are never deferred by pydicom, so a large one must be read in full.
    monkeypatch.setattr(intake, "HEADER_READ_BUDGET", 64 * 1024)
    data = builders.make_dicom_bytes()
    dataset = pydicom.dcmread(io.BytesIO(data))
    dataset.file_meta.PrivateInformationCreatorUID = "1.2.3"
    dataset.file_meta.PrivateInformation = bytes(100 * 1024)
    out = io.BytesIO()
    dataset.save_as(out, enforce_file_format=True)
    rejected = rejection(out.getvalue())
    assert rejected.status == 413
    assert rejected.message == (
        "File 1 has an unusually large header that we cannot check safely; it was not stored."
    )


@pytest.mark.parametrize("cut", [150, 200, 300, 400, 1000, -100])
def test_it_rejects_a_dicom_file_cut_short_inside_an_element(cut):
    rejected = rejection(builders.make_dicom_bytes()[:cut])
    assert rejected.status == 400


@pytest.mark.parametrize(
    "data",
    [builders.make_dicom_bytes()[:300], builders.make_deflated_dicom(), b"\xff\xd8\xff\x00"],
    ids=["dicom", "deflated", "jpeg"],
)
def test_it_does_not_chain_the_parser_error_whose_text_may_quote_the_file(data):
    rejected = rejection(data)
    assert rejected.__cause__ is None
    assert rejected.__context__ is None or rejected.__suppress_context__
