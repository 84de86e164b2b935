"""The engine turns uploads into clean files or refusals, and never lets doubt through."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest

from scans.deid import engine
from scans.deid.engine import DeidKeys, DeidOptions, deidentify_bytes, deidentify_tree
from tests.support.phi_corpus import (
    Patient,
    ct_series,
    ct_slice,
    sr_document,
    to_bytes,
    ultrasound_cine,
)

KEYS = DeidKeys(b"\x11" * 32)
HEADER_ONLY = DeidOptions(detect_text=False)


def write_series(folder: Path, count: int = 3) -> None:
    for index, ds in enumerate(ct_series(Patient(), count=count)):
        path = folder / "PATIENT MRKFAMILY7f3a" / f"slice{index}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(to_bytes(ds))


def test_a_planted_series_comes_out_clean_without_any_marker() -> None:
    patient = Patient()
    for ds in ct_series(patient, count=3):
        result = deidentify_bytes(to_bytes(ds), keys=KEYS, options=HEADER_ONLY)
        assert result.outcome == "clean", result.reason
        assert result.output is not None
        assert not any(m.lower().encode() in result.output.lower() for m in patient.markers())
        assert result.modality == "CT"
        assert "PatientName" in json.dumps(result.report)  # tags and actions ...
        assert patient.family not in json.dumps(result.report)  # ... never values


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_junk_and_truncated_files_are_rejected_with_a_reason() -> None:
    data = to_bytes(ct_slice(Patient(), 0))
    for broken in (b"", b"hello", b"\x00" * 128 + b"DICM" + b"\xff" * 40, data[: len(data) // 2]):
        result = deidentify_bytes(broken, keys=KEYS, options=HEADER_ONLY)
        assert result.outcome in ("rejected", "quarantined")
        assert result.reason and result.output is None


def test_a_structured_report_is_listed_as_not_an_image_and_never_written() -> None:
    result = deidentify_bytes(to_bytes(sr_document(Patient())), keys=KEYS, options=HEADER_ONLY)
    assert result.outcome == "not_image"
    assert result.reason.startswith("A written report")
    assert result.output is None


def test_declared_burned_in_text_is_refused_when_pixels_are_not_checked() -> None:
    ds = ct_slice(Patient(), 0)
    ds.BurnedInAnnotation = "YES"
    result = deidentify_bytes(to_bytes(ds), keys=KEYS, options=HEADER_ONLY)
    assert result.outcome == "quarantined"
    assert "burned-in" in result.reason


def test_a_value_the_uploader_gave_is_searched_for_too() -> None:
    ds = ct_slice(Patient(), 0)
    ds.ManufacturerModelName = "Scanner of Ms Q. Zebediah"
    result = deidentify_bytes(
        to_bytes(ds), keys=KEYS, options=HEADER_ONLY, extra_identifiers=["Zebediah"]
    )
    assert result.outcome == "quarantined"
    assert "given by uploader" in result.reason


def test_an_unexpected_failure_quarantines_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "clean_header", explode)
    result = deidentify_bytes(to_bytes(ct_slice(Patient(), 0)), keys=KEYS, options=HEADER_ONLY)
    assert result.outcome == "quarantined"
    assert result.reason == "unexpected error during header (RuntimeError)"


def test_stages_are_timed_when_asked() -> None:
    stats: dict[str, float] = {}
    deidentify_bytes(to_bytes(ct_slice(Patient(), 0)), keys=KEYS, options=HEADER_ONLY,
                     stats=stats)
    assert {"parse", "identifiers", "header", "write", "verify"} <= set(stats)


def test_burned_in_text_is_blacked_out_and_declared() -> None:
    ds = ct_slice(Patient(), 0, rows=256, columns=256)
    mask = np.zeros((256, 256), dtype=np.uint8)
    cv2.putText(mask, "DOE JOHN 1952", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
    pixels = np.where(mask > 0, 4000, ds.pixel_array).astype(np.uint16)
    ds.BitsStored, ds.HighBit = 16, 15
    ds.PixelData = pixels.tobytes()
    result = deidentify_bytes(to_bytes(ds), keys=KEYS, options=DeidOptions())
    assert result.outcome == "clean", result.reason
    assert result.report["pixels"]["changed"] and result.report["pixels"]["regions"]
    assert "113101" in result.report["method_codes"]
    cleaned = pydicom.dcmread(io.BytesIO(result.output or b""))
    assert cleaned.BurnedInAnnotation == "NO"


def test_an_image_without_text_keeps_its_pixel_bytes_exactly() -> None:
    data = to_bytes(ct_slice(Patient(), 0, rows=128, columns=128))
    result = deidentify_bytes(data, keys=KEYS, options=DeidOptions())
    assert result.outcome == "clean", result.reason
    original = pydicom.dcmread(io.BytesIO(data))
    cleaned = pydicom.dcmread(io.BytesIO(result.output or b""))
    assert cleaned.PixelData == original.PixelData
    assert cleaned.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID


def test_an_exempted_modality_is_checked_instead_of_redacted() -> None:
    options = DeidOptions(exempt_modalities=frozenset({"US"}))
    result = deidentify_bytes(to_bytes(ultrasound_cine(Patient())), keys=KEYS, options=options)
    assert result.outcome == "clean", result.reason
    assert result.report["pixels"]["exempt"] is True
    assert "113101" not in result.report["method_codes"]


def test_a_folder_is_mirrored_into_names_that_carry_nothing_of_the_originals(
    tmp_path: Path,
) -> None:
    write_series(tmp_path / "in")
    (tmp_path / "in" / "notes.txt").write_text("MRKFAMILY7f3a was here")
    report = deidentify_tree(tmp_path / "in", tmp_path / "out", keys=KEYS, options=HEADER_ONLY)
    assert report["summary"] == {
        "clean": 3, "quarantined": 0, "rejected": 0, "skipped": 1, "not_image": 0
    }
    outputs = sorted(p.relative_to(tmp_path / "out").as_posix()
                     for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert len(outputs) == 3
    assert all("MRK" not in name for name in outputs)
    assert [name.rsplit("/", 1)[1] for name in outputs] == [
        "image-0001.dcm", "image-0002.dcm", "image-0003.dcm"
    ]
    assert len({name.rsplit("/", 1)[0] for name in outputs}) == 1
    skipped = [f for f in report["files"] if f["outcome"] == "skipped"]
    assert skipped[0]["input"] == "notes.txt"


def test_a_zip_gives_the_same_outputs_as_the_folder(tmp_path: Path) -> None:
    write_series(tmp_path / "in")
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((tmp_path / "in").rglob("*.dcm")):
            zf.write(path, path.relative_to(tmp_path / "in").as_posix())
    deidentify_tree(tmp_path / "in", tmp_path / "a", keys=KEYS, options=HEADER_ONLY)
    report = deidentify_tree(archive, tmp_path / "b", keys=KEYS, options=HEADER_ONLY)
    assert report["summary"]["clean"] == 3
    for path in (tmp_path / "a").rglob("*.dcm"):
        assert (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes() == path.read_bytes()


def test_the_same_inputs_and_key_give_byte_identical_outputs_and_report(tmp_path: Path) -> None:
    write_series(tmp_path / "in")
    first = deidentify_tree(tmp_path / "in", tmp_path / "a", keys=KEYS, options=HEADER_ONLY)
    second = deidentify_tree(tmp_path / "in", tmp_path / "b", keys=KEYS, options=HEADER_ONLY)
    assert first == second
    files_a = sorted((tmp_path / "a").rglob("*.dcm"))
    files_b = sorted((tmp_path / "b").rglob("*.dcm"))
    assert [p.read_bytes() for p in files_a] == [p.read_bytes() for p in files_b]


def test_a_non_empty_output_folder_is_refused(tmp_path: Path) -> None:
    write_series(tmp_path / "in", count=1)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.dcm").write_bytes(b"x")
    with pytest.raises(ValueError, match="not empty"):
        deidentify_tree(tmp_path / "in", tmp_path / "out", keys=KEYS, options=HEADER_ONLY)
