"""Verification re-reads the cleaned bytes and refuses anything it cannot vouch for."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian

from scans.deid import verify
from scans.deid.header import DeidKeys, clean_header, write_dataset
from scans.deid.identifiers import Identifiers, collect_identifiers
from scans.deid.verify import verify_output
from tests.support.phi_corpus import Patient, ct_slice, to_bytes

KEYS = DeidKeys(b"\x07" * 32)


def original_and_clean(**options: bool) -> tuple[Identifiers, Dataset]:
    original = pydicom.dcmread(io.BytesIO(to_bytes(ct_slice(Patient(), 1))))
    identifiers = collect_identifiers(original)
    cleaned = clean_header(original, keys=KEYS, identifiers=identifiers, **options).dataset
    return identifiers, cleaned


def test_a_correctly_cleaned_file_passes() -> None:
    identifiers, cleaned = original_and_clean()
    assert verify_output(write_dataset(cleaned), identifiers, retain_dates=False) == []


def test_a_leaked_name_is_caught_without_naming_it() -> None:
    identifiers, cleaned = original_and_clean()
    cleaned.Manufacturer = f"scanned for {Patient().family}"
    reasons = verify_output(write_dataset(cleaned), identifiers, retain_dates=False)
    assert any("PatientName" in reason for reason in reasons)
    assert all(Patient().family not in reason for reason in reasons)


def test_a_leak_in_another_case_is_caught() -> None:
    identifiers, cleaned = original_and_clean()
    cleaned.ManufacturerModelName = Patient().patient_id.lower()
    reasons = verify_output(write_dataset(cleaned), identifiers, retain_dates=False)
    assert any("case-folded" in reason for reason in reasons)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_leak_written_as_utf16_is_caught(encoding: str) -> None:
    identifiers, cleaned = original_and_clean()
    cleaned.RedPaletteColorLookupTableData = ("x" + Patient().family).encode(encoding)
    reasons = verify_output(write_dataset(cleaned), identifiers, retain_dates=False)
    assert any("UTF-16" in reason for reason in reasons)


def test_a_leak_hidden_in_pixel_data_is_caught() -> None:
    identifiers, cleaned = original_and_clean()
    pixels = bytearray(cleaned.PixelData)
    planted = Patient().patient_id.encode()
    pixels[100 : 100 + len(planted)] = planted
    cleaned.PixelData = bytes(pixels)
    reasons = verify_output(write_dataset(cleaned), identifiers, retain_dates=False)
    assert any("(pixel data, UTF-8" in reason for reason in reasons)


def test_a_leak_where_two_pixel_search_chunks_meet_is_caught() -> None:
    """GIVEN an image larger than one search chunk, with the patient id planted in another
    case across the boundary of the first two chunks
    WHEN the output is verified
    THEN the leak is found: the chunks overlap, and the letter-run filter folds case."""
    original = pydicom.dcmread(io.BytesIO(to_bytes(ct_slice(Patient(), 1, rows=256,
                                                            columns=256))))
    identifiers = collect_identifiers(original)
    cleaned = clean_header(original, keys=KEYS, identifiers=identifiers).dataset
    pixels = bytearray(cleaned.PixelData)
    planted = Patient().patient_id.swapcase().encode()
    assert len(pixels) > verify._SEARCH_CHUNK + len(planted)
    start = verify._SEARCH_CHUNK - len(planted) // 2
    pixels[start : start + len(planted)] = planted
    cleaned.PixelData = bytes(pixels)
    reasons = verify_output(write_dataset(cleaned), identifiers, retain_dates=False)
    assert any("(pixel data, UTF-8" in reason for reason in reasons)


@pytest.mark.parametrize("offset", [0, 1])
def test_a_leak_deep_in_a_large_image_is_caught_after_chunks_without_letters(offset: int) -> None:
    """GIVEN a 16-bit image of several search chunks whose high bytes are never letters, with
    the patient id planted in the last chunk, at an even or an odd byte offset
    WHEN the output is verified
    THEN the leak is found: passing over letter-free chunks never passes over a needle."""
    original = pydicom.dcmread(io.BytesIO(to_bytes(ct_slice(Patient(), 1, rows=512,
                                                            columns=512))))
    identifiers = collect_identifiers(original)
    cleaned = clean_header(original, keys=KEYS, identifiers=identifiers).dataset
    pixels = bytearray(cleaned.PixelData)
    assert len(pixels) > 4 * verify._SEARCH_CHUNK
    planted = Patient().patient_id.encode()
    start = len(pixels) - 3 * len(planted) + offset
    pixels[start : start + len(planted)] = planted
    cleaned.PixelData = bytes(pixels)
    reasons = verify_output(write_dataset(cleaned), identifiers, retain_dates=False)
    assert any("(pixel data, UTF-8" in reason for reason in reasons)


def test_an_original_uid_hidden_in_pixel_data_is_caught() -> None:
    identifiers, cleaned = original_and_clean()
    pixels = bytearray(cleaned.PixelData)
    planted = max(identifiers.uids, key=len).encode()
    pixels[300 : 300 + len(planted)] = planted
    cleaned.PixelData = bytes(pixels)
    reasons = verify_output(write_dataset(cleaned), identifiers, retain_dates=False)
    assert "an original UID survived in the output" in reasons


def test_an_unknown_attribute_and_a_private_tag_are_caught() -> None:
    identifiers, cleaned = original_and_clean()
    cleaned.DeviceSerialNumber = "SN1"
    cleaned.AnatomicRegionSequence[0].add_new(0x00191001, "LO", "x")
    reasons = verify_output(write_dataset(cleaned), identifiers, retain_dates=False)
    assert any("DeviceSerialNumber" in reason for reason in reasons)
    assert any("private attribute" in reason for reason in reasons)


def test_extra_file_meta_is_caught() -> None:
    identifiers, cleaned = original_and_clean()
    cleaned.file_meta.SourceApplicationEntityTitle = "SCANNER1"
    reasons = verify_output(write_dataset(cleaned), identifiers, retain_dates=False)
    assert any("file meta" in reason for reason in reasons)


def test_an_original_uid_is_caught() -> None:
    identifiers, cleaned = original_and_clean()
    original_uid = sorted(identifiers.uids)[0]
    cleaned.ReferencedImageSequence[0].ReferencedSOPInstanceUID = original_uid
    reasons = verify_output(write_dataset(cleaned), identifiers, retain_dates=False)
    assert any("original UID" in reason for reason in reasons)
    assert any("not a remapped or standard UID" in reason for reason in reasons)


def test_a_date_is_caught_unless_dates_are_retained() -> None:
    identifiers, cleaned = original_and_clean()
    cleaned.SeriesDate = "20010101"
    output = write_dataset(cleaned)
    assert any("date" in r for r in verify_output(output, identifiers, retain_dates=False))
    assert verify_output(output, identifiers, retain_dates=True) == []


def test_an_original_date_in_another_spelling_is_caught() -> None:
    identifiers, cleaned = original_and_clean(clean_descriptors=True)
    cleaned.ProtocolName = "follow-up of 11/06/2024"
    reasons = verify_output(write_dataset(cleaned), identifiers, retain_dates=False)
    assert any("StudyDate" in r or "Date" in r for r in reasons)


def test_a_real_name_and_an_old_age_are_caught() -> None:
    identifiers, cleaned = original_and_clean()
    cleaned.ReferringPhysicianName = "NEW^DOCTOR"
    cleaned.PatientAge = "095Y"
    reasons = verify_output(write_dataset(cleaned), identifiers, retain_dates=False)
    assert any("pseudonym" in r for r in reasons)
    assert any("over 89" in r for r in reasons)


def test_garbage_and_trailing_bytes_are_refused() -> None:
    identifiers, cleaned = original_and_clean()
    output = write_dataset(cleaned)
    assert verify_output(b"not dicom", identifiers, retain_dates=False)
    assert verify_output(output + b"MRKTRAILER", identifiers, retain_dates=False)
    assert verify_output(b"X" + output[1:], identifiers, retain_dates=False)


def test_big_endian_output_is_verified_too() -> None:
    original = pydicom.dcmread(
        io.BytesIO(to_bytes(ct_slice(Patient(), 1, transfer_syntax=ExplicitVRBigEndian)))
    )
    identifiers = collect_identifiers(original)
    cleaned = clean_header(original, keys=KEYS, identifiers=identifiers).dataset
    assert verify_output(write_dataset(cleaned), identifiers, retain_dates=False) == []
    cleaned.Manufacturer = Patient().family
    assert verify_output(write_dataset(cleaned), identifiers, retain_dates=False)


def test_identifiers_never_show_their_values() -> None:
    original = pydicom.dcmread(io.BytesIO(to_bytes(ct_slice(Patient(), 1))))
    identifiers = collect_identifiers(original)
    assert Patient().family in identifiers.values
    assert Patient().family not in repr(identifiers)
    assert "M" not in identifiers.values and "F" not in identifiers.values


def test_a_name_glued_into_other_letters_is_caught_when_another_attribute_shares_its_spelling():
    """GIVEN a patient's name that the original also spells, in capitals, in an attribute whose
    values only count as whole words (an institution), and an output where the name is glued
    between other letters
    WHEN the output's bytes are searched
    THEN the leak is found: the institution's whole-word miss is not reused for the name."""
    identifiers, cleaned = original_and_clean()
    family = "Wolkenstein"
    identifiers = Identifiers(
        values=identifiers.values | {family, family.upper()},
        tokens=identifiers.tokens,
        dates=identifiers.dates,
        uids=identifiers.uids,
        sources={**identifiers.sources, family: "PatientName", family.upper(): "InstitutionName"},
        benign=identifiers.benign,
    )
    cleaned.RedPaletteColorLookupTableData = f"XX{family.upper()}XX".encode()
    reasons = verify_output(write_dataset(cleaned), identifiers, retain_dates=False)
    assert "identifying value from PatientName found in the output (UTF-8, case-folded)" in reasons


def test_pixels_are_passed_over_only_when_no_high_byte_can_be_a_needle_byte() -> None:
    """The whole-image shortcut of the pixel search: every byte at an odd offset (a 16-bit
    sample's high byte) below the needles' smallest byte, and nothing else."""
    below = np.full(1024, 0x2FFF, dtype="<u2")  # high bytes 0x2F: below "0" (0x30)
    assert verify._high_bytes_below(memoryview(below.tobytes()), ord("0"))
    at = below.copy()
    at[700] = 0x3000  # one high byte is "0"
    assert not verify._high_bytes_below(memoryview(at.tobytes()), ord("0"))
    assert not verify._high_bytes_below(memoryview(below.tobytes()[:-1]), ord("0"))
    assert not verify._high_bytes_below(memoryview(b""), ord("0"))
