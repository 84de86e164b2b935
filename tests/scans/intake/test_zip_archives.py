"""ZIP archives: accepted when every member is an image, rejected on any hostile trait."""

import io
import zipfile

import numpy as np
import pytest

from scans import intake
from scans.intake import IntakeLimits, IntakeRejected, IntakeResult, check_file, iter_zip_members
from tests.support import builders

LIMITS = IntakeLimits()
MiB = 1024 * 1024


def rejection(data: bytes, limits: IntakeLimits = LIMITS) -> IntakeRejected:
    with pytest.raises(IntakeRejected) as caught:
        check_file(io.BytesIO(data), 2, limits)
    return caught.value


def cd_export() -> bytes:
    """A DICOM CD export: nested folders, files with and without .dcm, plus housekeeping."""
    return builders.make_zip(
        {
            "DICOMDIR": builders.make_dicom_bytes(SOPClassUID="1.2.840.10008.1.3.10"),
            "DICOM/": b"",
            "DICOM/ST000000/SE000000/IM000000": builders.make_dicom_bytes(),
            "DICOM/ST000000/SE000000/IM000001": builders.make_dicom_without_preamble(),
            "DICOM/ST000000/SE000001/slice.dcm": builders.make_dicom_bytes(Modality="MR"),
            "__MACOSX/DICOM/._IM000000": b"\x00\x05\x16\x07 AppleDouble",
            "DICOM/.DS_Store": b"Bud1 junk",
            "Thumbs.db": b"\xd0\xcf\x11\xe0 junk",
            "photos/knee.jpg": builders.make_jpeg(32, 32),
            "photos/knee.png": builders.make_png(32, 32),
        }
    )


def test_it_counts_the_image_members_of_an_archive_in_nested_folders():
    assert check_file(io.BytesIO(cd_export()), 2, LIMITS) == IntakeResult("zip", 5)


def test_it_accepts_stored_and_bzip2_and_lzma_members():
    for compression in (zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        data = builders.make_zip({"a.dcm": builders.make_dicom_bytes()}, compression)
        assert check_file(io.BytesIO(data), 1, LIMITS) == IntakeResult("zip", 1)


def test_it_accepts_a_large_but_ordinary_member_that_compresses_well():
    # Below the exemption size, a blank image may compress far better than 100:1.
    blank = builders.make_dicom_bytes(Rows=512, Columns=512, PixelData=bytes(512 * 512 * 2))
    assert check_file(io.BytesIO(builders.make_zip({"a.dcm": blank})), 1, LIMITS).image_count == 1


def test_it_yields_openers_that_stream_each_image_member_with_its_entry_number():
    data = cd_export()
    expected = zipfile.ZipFile(io.BytesIO(data))
    seen = []
    for number, kind, opener in iter_zip_members(io.BytesIO(data), LIMITS, position=2):
        with opener() as stream:
            assert stream.read() == expected.read(expected.infolist()[number - 1])
        seen.append((number, kind))
    assert seen == [(3, "dicom"), (4, "dicom"), (5, "dicom"), (9, "jpeg"), (10, "png")]


def test_it_skips_unselected_members_unread_and_counts_only_images_as_ordinals():
    """GIVEN a CD export whose third image member is damaged
    WHEN only the first two image members are selected (a chunk's slice range)
    THEN they are yielded as usual and the damaged one is never read, so never refused."""
    members = {
        "DICOMDIR": builders.make_dicom_bytes(SOPClassUID="1.2.840.10008.1.3.10"),
        "A/IM0": builders.make_dicom_bytes(Modality="CT"),
        "A/.DS_Store": b"Bud1 junk",
        "A/IM1": builders.make_dicom_bytes(Modality="MR"),
        "A/IM2": builders.make_text_file(),
    }
    data = builders.make_zip(members)
    asked = []

    def first_two(ordinal: int) -> bool:
        asked.append(ordinal)
        return ordinal <= 2

    seen = [number for number, _, _ in iter_zip_members(io.BytesIO(data), LIMITS, select=first_two)]
    assert seen == [2, 4]
    assert asked == [1, 2, 3]
    with pytest.raises(IntakeRejected):
        list(iter_zip_members(io.BytesIO(data), LIMITS))


def test_it_lists_the_heads_of_image_members_in_the_order_of_their_ordinals():
    data = cd_export()
    expected = zipfile.ZipFile(io.BytesIO(data))
    heads = list(intake.iter_zip_heads(io.BytesIO(data), LIMITS, 64))
    numbers = [number for number, _, _ in iter_zip_members(io.BytesIO(data), LIMITS)]
    assert heads == [expected.read(expected.infolist()[n - 1])[:64] for n in numbers]


def test_it_opens_a_member_once_more_on_each_call_of_its_opener():
    data = builders.make_zip({"a.dcm": builders.make_dicom_bytes()})
    for _, _, opener in iter_zip_members(io.BytesIO(data), LIMITS):
        with opener() as first, opener() as second:
            assert first.read(132)[128:] == b"DICM"
            assert second.read(132)[128:] == b"DICM"


BOMB = (
    413,
    "File 2 is a ZIP archive that expands to more than 100 times its size (a 'zip bomb'); "
    "it was not stored.",
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (builders.make_zip_bomb(), BOMB),
        (
            builders.make_zip({f"{i}.dcm": bytes(512 * 1024) for i in range(3)}),
            BOMB,
        ),
        (
            builders.make_zip_bomb_with_lying_sizes(),
            (
                400,
                "File 2, archive member 1 could not be read; the archive may be damaged or "
                "incomplete.",
            ),
        ),
        (
            builders.make_zip_with_many_members(5001),
            (
                413,
                "File 2 is a ZIP archive with more than 5,000 entries; please split it into "
                "smaller archives.",
            ),
        ),
        (
            builders.make_nested_zip(),
            (
                415,
                "File 2, archive member 1 is itself a ZIP archive; please unpack it and upload "
                "its contents instead.",
            ),
        ),
        (
            builders.make_zip_with_encrypted_member(),
            (
                400,
                "File 2, archive member 1 is password-protected; please upload an archive "
                "without a password.",
            ),
        ),
        (
            builders.make_zip_with_symlink(),
            (
                400,
                "File 2, archive member 1 is a symbolic link, which is not allowed in an "
                "archive; it was not stored.",
            ),
        ),
        (
            builders.make_zip_with_overlapping_members(),
            (
                400,
                "File 2 is a ZIP archive whose entries overlap or point outside it, a trick "
                "used by 'zip bombs'; it was not stored.",
            ),
        ),
        (
            builders.make_zip_with_unknown_compression(),
            (
                415,
                "File 2, archive member 1 uses a compression method we cannot read; please "
                "create the archive again with standard ZIP compression.",
            ),
        ),
        (
            builders.make_zip(
                {"a.dcm": builders.make_dicom_bytes(), "report.txt": builders.make_text_file()}
            ),
            (
                415,
                "File 2, archive member 2 is neither a DICOM file nor a JPEG or PNG image; "
                "please remove it from the archive and upload the archive again.",
            ),
        ),
        (
            builders.make_zip({"a.dcm": builders.make_dicom_bytes(), "b.dcm": b""}),
            (400, "File 2, archive member 2 is empty; please choose the file again."),
        ),
        (
            builders.make_zip({"a.dcm": builders.make_truncated_dicom()}),
            (
                400,
                "File 2, archive member 1 is not a readable DICOM file; it may be damaged or "
                "incomplete.",
            ),
        ),
        (
            builders.make_zip({"a.png": builders.make_png_bomb()}),
            (
                413,
                "File 2, archive member 1 has more than 80,000,000 pixels, more than we can "
                "process; please send a smaller image.",
            ),
        ),
        (
            builders.make_zip({}),
            (
                415,
                "File 2 is a ZIP archive that contains no DICOM files or JPEG or PNG images.",
            ),
        ),
        (
            builders.make_zip({"DICOMDIR": builders.make_dicom_bytes(), "empty/": b""}),
            (
                415,
                "File 2 is a ZIP archive that contains no DICOM files or JPEG or PNG images.",
            ),
        ),
        (
            builders.make_zip({"a.dcm": builders.make_dicom_bytes()})[:-30],
            (400, "File 2 is not a readable ZIP archive; it may be damaged or incomplete."),
        ),
    ],
    ids=[
        "bomb",
        "many-small-bombs",
        "bomb-with-lying-sizes",
        "too-many-members",
        "nested-zip",
        "encrypted",
        "symlink",
        "overlapping",
        "unknown-compression",
        "text-member",
        "empty-member",
        "truncated-dicom-member",
        "png-bomb-member",
        "empty-archive",
        "only-housekeeping",
        "cut-short",
    ],
)
def test_it_rejects_a_hostile_or_unusable_archive_naming_only_positions(data, expected):
    rejected = rejection(data)
    assert (rejected.status, rejected.message) == expected


@pytest.mark.parametrize(
    "name",
    ["../x.dcm", "a/../../x.dcm", "/etc/x.dcm", "C:\\x.dcm", "C:x.dcm", "..\\x.dcm", "\\x.dcm"],
)
def test_it_rejects_a_member_whose_name_could_escape_the_archive(name):
    rejected = rejection(builders.make_zip_with_member_name(name))
    assert (rejected.status, rejected.message) == (
        400,
        "File 2, archive member 1 has an unsafe name that could point outside the archive; "
        "it was not stored.",
    )


def test_it_rejects_a_member_name_with_a_nul_byte_that_zipfile_would_hide():
    rejected = rejection(builders.make_zip_with_nul_in_name())
    assert rejected.status == 400
    assert "unsafe name" in rejected.message


def test_it_never_puts_a_member_name_in_a_message():
    name = "Testperson_Alice_1970-01-01.txt"
    data = builders.make_zip({"a.dcm": builders.make_dicom_bytes(), name: b"report"})
    assert "Alice" not in rejection(data).message


def test_it_rejects_an_archive_that_would_expand_beyond_the_total_limit():
    noise = np.random.default_rng(7).bytes(3 * MiB // 2)  # incompressible, so no ratio alarm
    data = builders.make_zip({"a.dcm": noise})
    rejected = rejection(data, IntakeLimits(zip_max_uncompressed_bytes=MiB))
    assert (rejected.status, rejected.message) == (
        413,
        "File 2 is a ZIP archive that expands to more than 1 MB; please split it into smaller "
        "archives.",
    )


def test_it_rejects_a_central_directory_too_big_for_the_member_limit():
    # Over 1 KiB per entry on average: checked from the end record, before zipfile lists it.
    data = builders.make_zip({f"{'n' * 1100}{i}.dcm": b"" for i in range(20)})
    rejected = rejection(data, IntakeLimits(zip_max_members=20))
    assert rejected.status == 413
    assert "more than 20 entries" in rejected.message


def test_it_stops_a_member_stream_one_byte_past_what_the_member_may_expand_to():
    # zipfile itself never yields more than the declared size, so the cap is shown directly.
    bomb = IntakeRejected("bomb", 413)
    stream = intake._CappedReader(io.BytesIO(bytes(100)), 10, bomb)
    assert stream.read(4) == bytes(4)
    with pytest.raises(IntakeRejected):
        stream.read(50)
    assert stream.tell() == 11
    with pytest.raises(IntakeRejected):
        stream.seek(11)


def test_it_accepts_an_archive_written_by_a_streaming_zipper_with_data_descriptors():
    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.written = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, data) -> int:
            self.written += data
            return len(data)

    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("a/1.dcm", "a/2.dcm"):
            with archive.open(name, "w") as member:
                member.write(builders.make_dicom_bytes())
    data = bytes(sink.written)
    assert all(i.flag_bits & 0x8 for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
    assert check_file(io.BytesIO(data), 1, LIMITS) == IntakeResult("zip", 2)


def test_it_counts_entries_from_a_zip64_end_record(monkeypatch):
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)  # makes zipfile write a zip64 end
    data = bytearray(builders.make_zip({"a.dcm": b"", "b.dcm": builders.make_dicom_bytes()}))
    monkeypatch.undo()
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = b"\xff\xff\xff\xff"  # "see the zip64 record" markers
    rejected = rejection(bytes(data), IntakeLimits(zip_max_members=1))
    assert "more than 1 entries" in rejected.message
    assert rejection(bytes(data)).message.endswith(
        "archive member 1 is empty; please choose the file again."
    )
