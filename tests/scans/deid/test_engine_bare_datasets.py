"""DICOM data sets without a preamble or 'DICM', which the upload intake accepts by content, are
cleaned like Part 10 files and leave as proper Part 10 files with a rebuilt file meta."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from scans.deid.engine import DeidKeys, DeidOptions, deidentify_bytes, deidentify_tree
from scans.deid.header import IMPLEMENTATION_CLASS_UID
from scans.deid.reading import read_dicom, sniff
from scans.intake import sniff_kind
from tests.support import builders
from tests.support.phi_corpus import Patient, ct_slice

KEYS = DeidKeys(b"\x33" * 32)
HEADER_ONLY = DeidOptions(detect_text=False)


def bare(ds: Dataset, *, implicit_vr: bool, with_meta: bool = False) -> bytes:
    """``ds`` written as a bare little-endian data set: no preamble, no 'DICM'.

    ``with_meta`` keeps the file meta group at the front (some exports write it that way).
    """
    buffer = io.BytesIO()
    if with_meta:
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit_vr else ExplicitVRLittleEndian
        )
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        dcmwrite(buffer, ds, enforce_file_format=True)
        return buffer.getvalue()[132:]
    ds.file_meta = FileMetaDataset()
    ds.preamble = None
    dcmwrite(buffer, ds, implicit_vr=implicit_vr, little_endian=True)
    return buffer.getvalue()


def planted(implicit_vr: bool, with_meta: bool = False) -> tuple[Patient, bytes]:
    patient = Patient()
    data = bare(ct_slice(patient, 0), implicit_vr=implicit_vr, with_meta=with_meta)
    assert data[128:132] != b"DICM"
    assert sniff_kind(data[:512]) == "dicom"  # the intake accepts it by content
    return patient, data


@pytest.mark.parametrize(
    ("implicit_vr", "with_meta"), [(True, False), (False, False), (False, True)]
)
def test_a_bare_data_set_comes_out_clean_as_a_part_10_file(
    implicit_vr: bool, with_meta: bool
) -> None:
    patient, data = planted(implicit_vr, with_meta)
    result = deidentify_bytes(data, keys=KEYS, options=HEADER_ONLY)
    assert result.outcome == "clean", result.reason
    output = result.output or b""
    assert output[:128] == b"\x00" * 128 and output[128:132] == b"DICM"
    assert not any(m.lower().encode() in output.lower() for m in patient.markers())
    cleaned = pydicom.dcmread(io.BytesIO(output))
    expected = ImplicitVRLittleEndian if implicit_vr else ExplicitVRLittleEndian
    assert cleaned.file_meta.TransferSyntaxUID == expected
    assert cleaned.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert cleaned.file_meta.MediaStorageSOPInstanceUID == cleaned.SOPInstanceUID
    original = pydicom.dcmread(io.BytesIO(data), force=True)
    assert cleaned.PixelData == original.PixelData


def test_the_intake_builders_bare_data_set_is_cleaned_with_text_detection_on() -> None:
    data = builders.make_dicom_without_preamble(PatientName="Zebediah^Quill")
    result = deidentify_bytes(data, keys=KEYS, options=DeidOptions())
    assert result.outcome == "clean", result.reason
    assert b"zebediah" not in (result.output or b"").lower()
    assert result.report["pixels"]["checked"] is True


def test_the_transfer_syntax_of_a_bare_data_set_is_the_one_it_was_read_in() -> None:
    for implicit_vr in (True, False):
        _, data = planted(implicit_vr)
        ds = read_dicom(data)
        assert ds.original_encoding == (implicit_vr, True)
        expected = ImplicitVRLittleEndian if implicit_vr else ExplicitVRLittleEndian
        assert ds.file_meta.TransferSyntaxUID == expected


def test_bytes_the_intake_would_refuse_are_rejected_not_forced_open() -> None:
    # Starts at group 0008 like a data set, but the next "element" goes backwards.
    junk = b"\x08\x00\x16\x00\x04\x00\x00\x001.2\x00" + b"\x08\x00\x05\x00" + b"\xff" * 64
    assert sniff(junk) is None
    result = deidentify_bytes(junk, keys=KEYS, options=HEADER_ONLY)
    assert result.outcome == "rejected"
    assert result.output is None


def test_the_tree_walker_cleans_bare_data_sets_instead_of_skipping_them(tmp_path: Path) -> None:
    patient, data = planted(implicit_vr=True)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "IM0001").write_bytes(data)
    report = deidentify_tree(tmp_path / "in", tmp_path / "out", keys=KEYS, options=HEADER_ONLY)
    assert report["summary"]["clean"] == 1, report["files"]
    (written,) = [p for p in (tmp_path / "out").rglob("*.dcm")]
    assert written.read_bytes()[128:132] == b"DICM"
    assert patient.family.encode() not in written.read_bytes()
