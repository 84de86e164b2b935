"""Builders of benign and hostile upload files, generated in memory for tests.

Each function returns the bytes of one file. Patient attributes are fictitious. The hostile
builders produce exactly one problem each, so a test can name the check it exercises.
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    generate_uid,
)

MiB = 1024 * 1024


def _dataset(attrs: dict[str, object]) -> Dataset:
    """A 16x16 MONOCHROME2 CT slice; ``attrs`` override by keyword, None deletes."""
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.PatientName = "Testperson^Alice"
    ds.PatientID = "TEST-0001"
    ds.PatientBirthDate = "19700101"
    ds.StudyDate = "20240102"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 16
    ds.Columns = 16
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = (np.arange(256, dtype="<u2") * 16).tobytes()
    for keyword, value in attrs.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def make_dicom_bytes(**attrs: object) -> bytes:
    """A valid DICOM Part-10 file: 128-byte preamble, 'DICM', file meta, explicit VR LE."""
    ds = _dataset(attrs)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", CTImageStorage)
    meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", generate_uid())
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def make_dicom_without_preamble(**attrs: object) -> bytes:
    """A bare implicit VR little endian data set: no preamble, no 'DICM', no file meta."""
    ds = _dataset(attrs)
    out = io.BytesIO()
    ds.save_as(out, implicit_vr=True, little_endian=True)
    return out.getvalue()


def make_deflated_dicom() -> bytes:
    """A DICOM file in the Deflated Explicit VR Little Endian transfer syntax."""
    ds = _dataset({})
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.file_meta = meta
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def make_truncated_dicom() -> bytes:
    """A DICOM file cut off inside its pixel data, like an interrupted copy."""
    return make_dicom_bytes()[:-100]


def _picture(width: int, height: int, text: str | None) -> Image.Image:
    image = Image.new("L", (width, height), color=255)
    if text:
        # Drawn into the pixels (burned-in), the way scanners stamp patient details.
        font = ImageFont.load_default(size=max(10, height // 8))
        ImageDraw.Draw(image).text((4, 4), text, fill=0, font=font)
    return image


def make_png(width: int = 16, height: int = 16, text: str | None = None) -> bytes:
    """A greyscale PNG; ``text`` is drawn into the pixels, not stored as metadata."""
    out = io.BytesIO()
    _picture(width, height, text).save(out, format="PNG")
    return out.getvalue()


def make_jpeg(width: int = 16, height: int = 16, text: str | None = None) -> bytes:
    """A greyscale JPEG; ``text`` is drawn into the pixels, not stored as metadata."""
    out = io.BytesIO()
    _picture(width, height, text).save(out, format="JPEG", quality=90)
    return out.getvalue()


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A ZIP archive holding ``members`` (name -> bytes) in order; names are stored as given."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 2, 3, 4, 5))
            info.compress_type = compression
            archive.writestr(info, data)
    return out.getvalue()


def make_zip_bomb(expanded_bytes: int = 4 * MiB) -> bytes:
    """One DICOM member padded with zeros: about a thousand times smaller compressed."""
    dicom = make_dicom_bytes()
    return make_zip({"scan.dcm": dicom + bytes(expanded_bytes - len(dicom))})


def make_zip_bomb_with_lying_sizes(expanded_bytes: int = 4 * MiB) -> bytes:
    """A zip bomb whose headers declare a harmless size (its compressed size) instead."""
    data = bytearray(make_zip_bomb(expanded_bytes))
    for local_offset, compressed_size in _central_entries(bytes(data)):
        struct.pack_into("<L", data, local_offset + 22, compressed_size)
    for central_offset in _central_offsets(bytes(data)):
        (compressed_size,) = struct.unpack_from("<L", data, central_offset + 20)
        struct.pack_into("<L", data, central_offset + 24, compressed_size)
    return bytes(data)


def make_zip_with_overlapping_members() -> bytes:
    """Two central directory entries that point at the same local member (shared payload)."""
    data = bytearray(make_zip({"a.dcm": make_dicom_bytes(), "b.dcm": make_dicom_bytes()}))
    first, second = _central_offsets(bytes(data))
    (shared,) = struct.unpack_from("<L", data, first + 42)
    struct.pack_into("<L", data, second + 42, shared)
    return bytes(data)


def make_zip_with_unknown_compression() -> bytes:
    """A member whose headers name compression method 9 (Deflate64), which zipfile lacks."""
    data = bytearray(make_zip({"scan.dcm": make_dicom_bytes()}))
    for local_offset, _ in _central_entries(bytes(data)):
        struct.pack_into("<H", data, local_offset + 8, 9)
    for central_offset in _central_offsets(bytes(data)):
        struct.pack_into("<H", data, central_offset + 10, 9)
    return bytes(data)


def make_zip_with_many_members(count: int) -> bytes:
    """``count`` tiny members; only the count is hostile."""
    return make_zip({f"series/{i:05d}.dcm": b"" for i in range(count)})


def make_zip_with_member_name(name: str, data: bytes | None = None) -> bytes:
    """One member stored under ``name`` verbatim, e.g. '../x.dcm', '/etc/x.dcm', 'C:\\x.dcm'."""
    return make_zip({name: make_dicom_bytes() if data is None else data})


def make_zip_with_nul_in_name() -> bytes:
    """A member named 'scan.dcm\\0.txt' (zipfile cannot write a NUL, so it is patched in)."""
    data = make_zip_with_member_name("scan.dcm#.txt")
    return data.replace(b"scan.dcm#.txt", b"scan.dcm\0.txt")


def make_zip_with_symlink(target: bytes = b"/etc/passwd") -> bytes:
    """A member whose unix mode (high 16 bits of external_attr) is S_IFLNK."""
    info = zipfile.ZipInfo("scan.dcm", date_time=(2024, 1, 2, 3, 4, 5))
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(info, target)
    return out.getvalue()


def make_nested_zip() -> bytes:
    """A ZIP whose only member is another ZIP of one DICOM file."""
    return make_zip({"inner.zip": make_zip({"scan.dcm": make_dicom_bytes()})})


def make_zip_with_encrypted_member() -> bytes:
    """A ZIP whose member has general-purpose flag bit 0 (encrypted) set in both headers."""
    data = bytearray(make_zip({"scan.dcm": make_dicom_bytes()}))
    for local_offset, _ in _central_entries(bytes(data)):
        data[local_offset + 6] |= 0x01
    for central_offset in _central_offsets(bytes(data)):
        data[central_offset + 8] |= 0x01
    return bytes(data)


def make_png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(1024)))
        + chunk(b"IEND", b"")
    )


def make_text_file() -> bytes:
    return b"Radiology report\nFindings: none.\nImpression: normal study.\n"


def make_pdf() -> bytes:
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"


def make_empty() -> bytes:
    return b""


# --- Raw ZIP patching for headers zipfile refuses to write. ----------------------------


def _central_offsets(data: bytes) -> list[int]:
    """Offsets of the central directory entries, found from the end-of-directory record."""
    eocd = data.rfind(b"PK\x05\x06")
    entries, _, start = struct.unpack_from("<HLL", data, eocd + 10)
    offsets = []
    at = start
    for _ in range(entries):
        offsets.append(at)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
        at += 46 + name_len + extra_len + comment_len
    return offsets


def _central_entries(data: bytes) -> list[tuple[int, int]]:
    """(local header offset, compressed size) of each member."""
    entries = []
    for at in _central_offsets(data):
        (compressed,) = struct.unpack_from("<L", data, at + 20)
        (local,) = struct.unpack_from("<L", data, at + 42)
        entries.append((local, compressed))
    return entries
