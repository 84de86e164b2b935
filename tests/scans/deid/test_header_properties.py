"""Property: whatever attributes a file holds, at whatever depth, only keep-listed ones leave,
and no value from a removed attribute survives in the bytes."""

from __future__ import annotations

import io

import pydicom
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import DicomDictionary, dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from scans.deid.header import DeidKeys, clean_header, write_dataset
from scans.deid.identifiers import collect_identifiers
from scans.deid.keep_list import KEEP_LIST
from scans.deid.verify import verify_output

KEYS = DeidKeys(b"\x42" * 32)
_SIMPLE = {"AE", "AS", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "PN", "SH", "SL",
           "SQ", "SS", "ST", "TM", "UI", "UL", "UC", "US", "UT"}
ALL_KEYWORDS = sorted(
    keyword
    for tag, (vr, _vm, _name, retired, keyword) in DicomDictionary.items()
    if keyword and not retired and vr in _SIMPLE and (tag >> 16) not in (0x0000, 0x0002, 0xFFFE)
)
KEPT_KEYWORDS = sorted(
    rule.keyword for tag, rule in KEEP_LIST.items() if dictionary_VR(tag) in _SIMPLE
)
KEYWORD = st.one_of(st.sampled_from(KEPT_KEYWORDS), st.sampled_from(ALL_KEYWORDS))


def marker(number: int) -> str:
    return f"MRKH{number:05d}X"


def value_for(keyword: str, vr: str, number: int) -> object:
    """A valid value for the VR; a marker wherever the value is not kept verbatim."""
    rule = KEEP_LIST.get(tag_for_keyword(keyword))
    kept = rule is not None and rule.handling == "keep"
    text = "ACME" if kept else marker(number)
    return {
        "PN": f"{marker(number)}^GIVEN",
        "LO": text, "SH": text, "LT": text, "ST": text, "UT": text, "UC": text,
        "CS": "ABC" if kept else marker(number), "AE": marker(number),
        "DA": f"2019{1 + number % 12:02d}{1 + number % 28:02d}",
        "DT": f"2019{1 + number % 12:02d}{1 + number % 28:02d}101010",
        "TM": "101010", "DS": "1.5", "IS": "3", "US": 3, "UL": 3, "SS": -3, "SL": -3,
        "FL": 1.5, "FD": 1.5, "AS": "045Y",
        "UI": f"1.2.826.0.1.3680043.10.998.{number}",
    }[vr]


@st.composite
def datasets(draw: st.DrawFn, depth: int = 0) -> Dataset:
    ds = Dataset()
    for keyword in draw(st.lists(KEYWORD, max_size=12 if depth == 0 else 5)):
        number = draw(st.integers(0, 99999))
        vr = dictionary_VR(tag_for_keyword(keyword))
        if keyword == "SpecificCharacterSet":
            ds.SpecificCharacterSet = "ISO_IR 192"
            continue
        if vr == "SQ":
            if depth < 3:
                items = draw(st.lists(datasets(depth + 1), min_size=1, max_size=2))
                setattr(ds, keyword, Sequence(items))
            continue
        setattr(ds, keyword, value_for(keyword, vr, number))
    for number in draw(st.lists(st.integers(0, 99999), max_size=3)):
        ds.add_new((0x0009 + 2 * (number % 40), 0x1000 + number % 200), "LO", marker(number))
    return ds


def as_image(ds: Dataset) -> bytes:
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.998.1.1"
    ds.PatientID = marker(0)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets(), st.booleans())
def test_only_keep_listed_attributes_and_no_removed_value_ever_leave(
    ds: Dataset, retain_dates: bool
) -> None:
    original = pydicom.dcmread(io.BytesIO(as_image(ds)))
    identifiers = collect_identifiers(original)
    result = clean_header(original, keys=KEYS, identifiers=identifiers, retain_dates=retain_dates)
    output = write_dataset(result.dataset)

    for elem in pydicom.dcmread(io.BytesIO(output)).iterall():
        assert int(elem.tag) in KEEP_LIST, elem.keyword
    folded = output.lower()
    for needle in (b"mrkh", "mrkh".encode("utf-16-le"), "mrkh".encode("utf-16-be")):
        assert needle not in folded
    assert verify_output(output, identifiers, retain_dates=retain_dates) == []
