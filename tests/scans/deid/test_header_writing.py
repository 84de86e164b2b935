"""Kept values leave as the bytes pydicom writes for what it reads from the original."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from scans.deid.header import DeidKeys, clean_header, write_dataset
from scans.deid.identifiers import collect_identifiers
from tests.support.phi_corpus import Patient, ct_slice, to_bytes

KEYS = DeidKeys(bytes(range(32)))
# Decimal and integer strings as scanners write them (value bytes in the file): plain, padded,
# with leading or extra spaces, signs, exponents, leading zeros, several values.
NUMBERS = {
    "SliceThickness": b"2.5 ",
    "KVP": b" 120",
    "SpacingBetweenSlices": b"+2.50 ",
    "SliceLocation": b"-1.25E+01 ",
    "ImagePositionPatient": b"-125.0\\-125.0\\2.5 ",
    "PixelSpacing": b"0.48\\ 0.48",
    "WindowCenter": b"40  ",
    "SeriesNumber": b"0010",
    "InstanceNumber": b" 7",
    "ExposureTime": b"-3",
}
INTEGERS = ("SeriesNumber", "InstanceNumber", "ExposureTime")
BINARY = ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation")


def original_with_numbers(syntax: str) -> bytes:
    """A CT slice whose numbers hold exactly the bytes in NUMBERS."""
    ds = ct_slice(Patient(), 0, rows=16, columns=16, transfer_syntax=syntax)
    for keyword, raw in NUMBERS.items():
        # A plain number of the same length, then its bytes replaced in the written file.
        ds.add_new(keyword, "IS" if keyword in INTEGERS else "DS", "1" * len(raw))
    data = bytearray(to_bytes(ds))
    written = pydicom.dcmread(io.BytesIO(bytes(data)))
    for keyword, raw in NUMBERS.items():
        start = written.get_item(keyword).value_tell
        data[start : start + len(raw)] = raw
    return bytes(data)


def written_as_pydicom_writes(elem: DataElement, *, little: bool, implicit: bool) -> bytes:
    """The value bytes pydicom's own writer produces for an element it read."""
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = little, implicit
    write_data_element(buffer, elem)
    return buffer.getvalue()[8:]  # tag and a 4-byte length (implicit) or VR + 2-byte length


@pytest.mark.parametrize(
    "syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian]
)
def test_kept_numbers_leave_as_pydicom_writes_the_numbers_it_reads(syntax: str) -> None:
    """GIVEN an image whose kept numbers are written in every form the standard allows
    WHEN its header is cleaned and written
    THEN each kept number's bytes are those pydicom writes for the value it reads from the
    original: copied bytes where that is the same, re-encoded ones where it is not.
    """
    original = pydicom.dcmread(io.BytesIO(original_with_numbers(syntax)))
    result = clean_header(original, keys=KEYS, identifiers=collect_identifiers(original))
    output = pydicom.dcmread(io.BytesIO(write_dataset(result.dataset)))
    reference = pydicom.dcmread(io.BytesIO(original_with_numbers(syntax)))
    little, implicit = reference.original_encoding[1], reference.original_encoding[0]
    for keyword in [*NUMBERS, *BINARY]:
        expected = written_as_pydicom_writes(reference[keyword], little=little, implicit=implicit)
        assert output.get_item(keyword).value == expected, keyword
