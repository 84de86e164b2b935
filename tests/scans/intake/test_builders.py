"""The shared test-file builders produce what their names promise."""

import io
import zipfile

import pydicom
from PIL import Image

from tests.support import builders


def test_make_dicom_bytes_writes_a_part10_file_with_overridable_attributes():
    data = builders.make_dicom_bytes(Modality="MR", PatientName="Other^Person", StudyDate=None)
    assert data[128:132] == b"DICM"
    dataset = pydicom.dcmread(io.BytesIO(data))
    assert (dataset.Modality, str(dataset.PatientName)) == ("MR", "Other^Person")
    assert "StudyDate" not in dataset
    assert dataset.pixel_array.shape == (16, 16)
    assert dataset.PhotometricInterpretation == "MONOCHROME2"


def test_make_dicom_without_preamble_writes_a_bare_implicit_vr_data_set():
    data = builders.make_dicom_without_preamble()
    assert b"DICM" not in data[:200]
    dataset = pydicom.dcmread(io.BytesIO(data), force=True)
    assert dataset.original_encoding == (True, True)
    assert (dataset.Rows, dataset.Columns, len(dataset.PixelData)) == (16, 16, 512)


def test_make_deflated_dicom_uses_the_deflated_transfer_syntax():
    dataset = pydicom.dcmread(io.BytesIO(builders.make_deflated_dicom()))
    assert dataset.file_meta.TransferSyntaxUID == pydicom.uid.DeflatedExplicitVRLittleEndian


def test_make_truncated_dicom_is_shorter_than_its_pixel_data_says():
    data = builders.make_truncated_dicom()
    # Explicit VR little endian: (7FE0,0010), "OW", 2 reserved bytes, then a 4-byte length.
    at = data.rindex(b"\xe0\x7f\x10\x00OW")
    declared = int.from_bytes(data[at + 8 : at + 12], "little")
    assert len(data) - (at + 12) == declared - 100


def test_make_png_and_make_jpeg_draw_text_into_the_pixels():
    for make, kind in ((builders.make_png, "PNG"), (builders.make_jpeg, "JPEG")):
        plain = Image.open(io.BytesIO(make(120, 40)))
        stamped = Image.open(io.BytesIO(make(120, 40, text="Alice")))
        assert (plain.format, plain.size) == (kind, (120, 40))
        assert plain.getextrema()[0] > 200  # white everywhere
        assert stamped.getextrema()[0] < 100  # dark text somewhere
        assert "Alice" not in str(stamped.info)


def test_make_zip_stores_members_in_order_with_the_requested_compression():
    data = builders.make_zip({"b/1.dcm": b"one", "a.dcm": b"two"}, zipfile.ZIP_STORED)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == ["b/1.dcm", "a.dcm"]
    assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
    assert archive.read("a.dcm") == b"two"


def test_make_zip_bomb_expands_about_a_thousand_fold():
    data = builders.make_zip_bomb(4 * 1024 * 1024)
    (info,) = zipfile.ZipFile(io.BytesIO(data)).infolist()
    assert info.file_size == 4 * 1024 * 1024
    assert info.file_size / info.compress_size > 500


def test_make_zip_bomb_with_lying_sizes_declares_a_harmless_size():
    (info,) = zipfile.ZipFile(io.BytesIO(builders.make_zip_bomb_with_lying_sizes())).infolist()
    assert info.file_size == info.compress_size


def test_hostile_zip_builders_carry_exactly_their_trait():
    many = zipfile.ZipFile(io.BytesIO(builders.make_zip_with_many_members(7)))
    assert len(many.infolist()) == 7

    (named,) = zipfile.ZipFile(
        io.BytesIO(builders.make_zip_with_member_name("C:\\x.dcm"))
    ).infolist()
    assert named.filename == "C:\\x.dcm"

    (nul,) = zipfile.ZipFile(io.BytesIO(builders.make_zip_with_nul_in_name())).infolist()
    assert nul.orig_filename == "scan.dcm\0.txt"

    (link,) = zipfile.ZipFile(io.BytesIO(builders.make_zip_with_symlink())).infolist()
    assert link.external_attr >> 28 == 0o12  # S_IFLNK

    (nested,) = zipfile.ZipFile(io.BytesIO(builders.make_nested_zip())).infolist()
    assert nested.filename == "inner.zip"

    (locked,) = zipfile.ZipFile(io.BytesIO(builders.make_zip_with_encrypted_member())).infolist()
    assert locked.flag_bits & 0x1

    overlapping = zipfile.ZipFile(io.BytesIO(builders.make_zip_with_overlapping_members()))
    assert len({info.header_offset for info in overlapping.infolist()}) == 1

    (odd,) = zipfile.ZipFile(io.BytesIO(builders.make_zip_with_unknown_compression())).infolist()
    assert odd.compress_type == 9


def test_make_png_bomb_is_tiny_but_claims_thirty_thousand_squared_pixels():
    data = builders.make_png_bomb()
    assert len(data) < 200
    Image.MAX_IMAGE_PIXELS, saved = None, Image.MAX_IMAGE_PIXELS
    try:
        assert Image.open(io.BytesIO(data)).size == (30000, 30000)
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def test_the_plain_file_builders_have_their_signatures():
    assert builders.make_pdf().startswith(b"%PDF-")
    assert builders.make_text_file().decode("ascii")
    assert builders.make_empty() == b""
