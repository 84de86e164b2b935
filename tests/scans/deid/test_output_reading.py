"""The verifier reads cleaned files with its own walker: it sees every element pydicom sees, with
the same text values, at every depth; bytes that do not walk are never vouched for."""

from __future__ import annotations

import struct

import pytest
from pydicom.uid import ExplicitVRLittleEndian

from scans.deid.engine import DeidKeys, DeidOptions, deidentify_bytes
from scans.deid.identifiers import Identifiers, collect_identifiers
from scans.deid.output_reading import (
    DataSet,
    OutputUnreadable,
    _walk_file,
    from_pydicom,
    read_output,
)
from scans.deid.reading import read_dicom
from scans.deid.verify import verify_output
from tests.support.phi_corpus import (
    TRANSFER_SYNTAXES,
    Patient,
    ct_slice,
    secondary_capture,
    to_bytes,
    ultrasound_cine,
)
from tests.support.realworld import sample_files

KEYS = DeidKeys(bytes(range(32)))


def part10_files() -> list[tuple[str, bytes]]:
    """Every public sample that is a Part 10 file, the synthetic ones, and each one's cleaned
    output: originals bring private tags, nested sequences, character sets and odd VRs."""
    patient = Patient()
    files = [(f"ct-{name}", to_bytes(ct_slice(patient, 0, rows=16, columns=16,
                                              transfer_syntax=syntax)))
             for name, syntax in TRANSFER_SYNTAXES.items()]
    files.append(("ultrasound", to_bytes(ultrasound_cine(patient, frames=2, rows=8, columns=8))))
    files.append(("secondary-capture", to_bytes(secondary_capture(patient))))
    files += [(s.name, s.read_bytes()) for s in sample_files()]
    found = []
    for name, data in files:
        if data[128:132] != b"DICM":
            continue
        found.append((name, data))
        result = deidentify_bytes(data, keys=KEYS, options=DeidOptions(detect_text=False))
        if result.output is not None:
            found.append((f"{name} (cleaned)", result.output))
    return found


FILES = part10_files()


def shape(data_set: DataSet) -> list[tuple]:
    """Tags in file order, text values, and items: what the verifier's checks read. Pixel Data
    is compared as bytes (pydicom reads up to it, then finds it in place)."""
    rows = []
    for tag, elem in data_set.elements.items():
        if tag == 0x7FE00010:
            continue
        values = elem.values if elem.vr not in ("US", "OB", "OW", "UN") else None
        rows.append((tag, values, [shape(item) for item in elem.items]))
    return rows


@pytest.mark.parametrize("name,data", FILES, ids=[name for name, _ in FILES])
def test_the_walker_reads_what_pydicom_reads(name: str, data: bytes) -> None:
    """GIVEN a Part 10 file (a public sample, a synthetic one, or a cleaned output)
    WHEN the verifier's walker reads it
    THEN it finds the same elements at every depth, with the same text values, the same bytes
    before the Pixel Data and the same Pixel Data value as pydicom; or it leaves the file to
    pydicom; or both refuse it.
    """
    try:
        expected = from_pydicom(data)
    except Exception:
        with pytest.raises(OutputUnreadable):
            read_output(data)
        return
    try:
        walked = _walk_file(data)
    except Exception:
        return  # left to pydicom (read_output falls back), or refused where pydicom reads
    assert shape(walked.meta) == shape(expected.meta)
    assert shape(walked.data_set) == shape(expected.data_set)
    assert walked.transfer_syntax == expected.transfer_syntax
    assert walked.header == expected.header
    assert bytes(walked.pixels) == bytes(expected.pixels)


def walks(data: bytes) -> bool:
    try:
        _walk_file(data)
    except Exception:
        return False
    return True


def test_the_walker_reads_most_files_itself() -> None:
    """GIVEN the corpora
    THEN the walker, not pydicom, reads every cleaned output in little endian (the check
    above compares something) and most originals."""
    walked = [name for name, data in FILES if walks(data)]
    cleaned = [name for name, _ in FILES if name.endswith("(cleaned)")]
    little_cleaned = [n for n in cleaned if "explicit-be" not in n and "deflated" not in n]
    assert len(walked) >= 0.7 * len(FILES)
    assert sum(name in walked for name in little_cleaned) >= 0.9 * len(little_cleaned)


def clean_ct() -> bytes:
    data = to_bytes(ct_slice(Patient(), 0, rows=16, columns=16,
                             transfer_syntax=ExplicitVRLittleEndian))
    output = deidentify_bytes(data, keys=KEYS, options=DeidOptions(detect_text=False)).output
    assert output is not None
    return output


def explicit(tag: int, vr: bytes, value: bytes) -> bytes:
    if vr in (b"SQ", b"OB", b"UT", b"UN"):
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def before_pixels(output: bytes, extra: bytes) -> bytes:
    """``extra`` elements inserted just before the Pixel Data element (tags stay in order when
    theirs are lower)."""
    at = output.rindex(b"\xe0\x7f\x10\x00OW")
    return output[:at] + extra + output[at:]


def test_a_clean_output_passes_and_a_private_tag_deep_in_an_undefined_length_item_is_found():
    """GIVEN a clean output, then the same with a private attribute three items down, in
    sequences and items of undefined length
    WHEN it is verified
    THEN the first passes and the second is quarantined for the private attribute."""
    output = clean_ct()
    assert verify_output(output, patient_identifiers(), retain_dates=False) == []
    private = explicit(0x00091010, b"LO", b"MRKHIDDEN7f3a ")
    item = b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + private + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
    inner = (struct.pack("<HH2sHI", 0x0040, 0x0260, b"SQ", 0, 0xFFFFFFFF) + item
             + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    outer_item = b"\xfe\xff\x00\xe0" + struct.pack("<I", len(inner)) + inner
    outer = explicit(0x00400275, b"SQ", outer_item)
    reasons = verify_output(before_pixels(output, outer), patient_identifiers(), retain_dates=False)
    assert "private attribute (0009,1010) survived" in reasons


def patient_identifiers() -> Identifiers:
    """The identifiers of the CT slice ``clean_ct`` cleans."""
    return collect_identifiers(read_dicom(to_bytes(ct_slice(Patient(), 0, rows=16, columns=16))))


@pytest.mark.parametrize("damage", ["truncated", "item overruns", "no sequence end",
                                    "twice", "after pixels"])
def test_bytes_that_do_not_walk_are_quarantined(damage: str) -> None:
    """GIVEN a clean output damaged in one way
    WHEN it is verified
    THEN it is quarantined, with a reason that names no value."""
    output = clean_ct()
    if damage == "truncated":
        damaged = output[: output.rindex(b"\xe0\x7f\x10\x00OW") - 3]
    elif damage == "item overruns":
        item = b"\xfe\xff\x00\xe0" + struct.pack("<I", 400) + explicit(0x00080100, b"SH", b"AB")
        damaged = before_pixels(output, explicit(0x00400275, b"SQ", item))
    elif damage == "no sequence end":
        sequence = struct.pack("<HH2sHI", 0x0040, 0x0275, b"SQ", 0, 0xFFFFFFFF)
        damaged = before_pixels(output, sequence + b"\xfe\xff\x00\xe0\x00\x00\x00\x00")
    elif damage == "twice":
        twice = explicit(0x00400275, b"SQ", b"")
        damaged = before_pixels(output, twice + twice)
    else:
        damaged = output + explicit(0x7FE10010, b"LO", b"MRKAFTER7f3a")
    reasons = verify_output(damaged, patient_identifiers(), retain_dates=False)
    assert reasons
    assert not any("MRK" in reason for reason in reasons)


def with_bytes_replaced(output: bytes, old: bytes, new: bytes) -> bytes:
    """``output`` with the first occurrence of ``old`` replaced by ``new``."""
    assert old in output
    return output.replace(old, new, 1)


@pytest.mark.parametrize("damage", ["a number swallows what follows", "a number as text",
                                    "a coding scheme with a second value"])
def test_outputs_that_only_look_right_are_quarantined(damage: str) -> None:
    """GIVEN a clean output with one element's length, VR or value multiplicity damaged, in a way
    that still walks to the end (found by comparing this verifier with the one before it on
    randomly damaged outputs)
    WHEN it is verified
    THEN it is quarantined: a first value is never taken for the whole, nor a VR for another."""
    output = clean_ct()
    bits_stored = b"\x28\x00\x01\x01US\x02\x00"
    if damage == "a number swallows what follows":  # High Bit (10 bytes) read as its value
        damaged = with_bytes_replaced(output, bits_stored, b"\x28\x00\x01\x01US\x0c\x00")
    elif damage == "a number as text":
        damaged = with_bytes_replaced(output, bits_stored, b"\x28\x00\x01\x01IS\x02\x00")
    else:
        damaged = with_bytes_replaced(output, b"\x08\x00\x02\x01SH\x04\x00DCM ",
                                      b"\x08\x00\x02\x01SH\x04\x00DC\\ ")
    assert walks(damaged)
    assert verify_output(damaged, patient_identifiers(), retain_dates=False)
