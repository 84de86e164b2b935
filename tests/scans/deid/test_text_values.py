"""Text values read straight from their bytes are pydicom's own values, or are left to pydicom."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

from scans.deid.text_values import ascii_transparent, dataset_encodings, plain_values
from tests.support.realworld import sample_files


def raw_text_elements(ds: Dataset) -> list[tuple[Dataset, RawDataElement]]:
    """Every explicit VR text element still as read, at every depth."""
    found = []
    for tag in sorted(ds.keys()):
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and raw.VR not in (None, "SQ", "UN"):
            found.append((ds, raw))
        elif raw.VR == "SQ" or (isinstance(raw, RawDataElement) and raw.VR is None):
            elem = converted(ds, tag)
            if elem is not None and elem.VR == "SQ":
                for item in elem.value:
                    found += raw_text_elements(item)
    return found


def converted(ds: Dataset, tag: BaseTag) -> DataElement | None:
    """The element as pydicom converts it, or None where it cannot (broken sample files)."""
    try:
        return ds[tag]
    except Exception:  # a sample pydicom cannot convert is no case here
        return None


def as_strings(value: object) -> tuple[str, ...]:
    if isinstance(value, list | tuple | MultiValue):
        return tuple(str(v) for v in value)
    return ("",) if value is None else (str(value),)


def corpus_elements() -> list[tuple[str, Dataset, RawDataElement]]:
    elements = []
    for sample in sample_files():
        ds = pydicom.dcmread(io.BytesIO(sample.read_bytes()), force=True,
                             stop_before_pixels=True)
        elements += [(sample.name, dataset, raw) for dataset, raw in raw_text_elements(ds)]
    return elements


ELEMENTS = corpus_elements()


def test_every_plain_text_value_of_the_corpora_is_read_as_pydicom_reads_it() -> None:
    """GIVEN every explicit VR element of every public sample file, at every depth
    WHEN its values are read from its bytes
    THEN they are exactly pydicom's values, wherever the shortcut reads them at all; and it
    reads most text values (the comparison is not vacuous).
    """
    read, mismatched = 0, []
    for name, dataset, raw in ELEMENTS:
        plain = plain_values(raw.value, raw.VR, dataset_encodings(dataset))
        if plain is None:
            continue
        read += 1
        expected = as_strings(dataset[raw.tag].value)
        if plain != expected and not (plain == ("",) and expected == ()):
            mismatched.append((name, f"{raw.tag}", raw.VR))
    assert mismatched == []
    text = [raw for _, _, raw in ELEMENTS if raw.VR in ("AE", "CS", "DA", "LO", "PN", "SH", "UI")]
    assert read >= 0.8 * len(text)


@pytest.mark.parametrize("value,vr", [
    (b"\x1b$B;3ED\x1b(B", "PN"),   # an ISO 2022 escape sequence
    (b"M\xfcller", "LO"),          # Latin-1 letters
    (b"\x01\x02", "SH"),           # control characters
    (b"1\x002", "US"),             # not a text VR
])
def test_anything_but_plain_text_is_left_to_pydicom(value: bytes, vr: str) -> None:
    assert plain_values(value, vr, ["iso8859"]) is None


def test_plain_text_is_read_only_under_a_character_set_that_keeps_ascii() -> None:
    assert ascii_transparent("latin_1") and ascii_transparent("UTF8")
    assert ascii_transparent("iso8859") and ascii_transparent("GB18030")
    assert not ascii_transparent("utf_16")
    assert not ascii_transparent("no such codec")
    assert plain_values(b"DOE^JOHN", "PN", ["utf_16"]) is None
    assert plain_values(b"DOE^JOHN", "PN", ["latin_1"]) == ("DOE^JOHN",)
