"""No original value in any log line, warning or error message, from any process.

Files whose identifying attributes hold values pydicom finds invalid (a UID with letters, a
date that is no date, names and ids longer than their VR allows) are the ones pydicom quotes
in its warnings. They go through the web upload, a real Celery worker and the ``deidentify``
command, each run as verbosely as an operator could set it, with Python warnings forced on.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pydicom import config
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from scans.deid.quiet import keep_values_out_of_logs
from scans.models import Scan, Status
from tests.support.accounts import bearer
from tests.support.waiting import wait_until
from tests.support.workers import Worker, flush_broker, worker_env

ROOT = Path(__file__).resolve().parents[2]

# keyword -> an invalid value for its VR; every value carries a token found nowhere else.
INVALID_VALUES: dict[str, str] = {
    "PatientName": "Qzxlogname^" + "Y" * 70,  # PN: component longer than 64
    "ReferringPhysicianName": "Qzxlogdoctor^Bob=Alt=Third=Fourth",  # PN: four groups
    "OperatorsName": "Qzxlogoperator\x01^Ann",  # PN: control character
    "PatientID": "QZXLOGPID" + "9" * 70,  # LO: longer than 64
    "OtherPatientIDs": "QZXLOGOTHER\x02ID",  # LO: control character
    "InstitutionName": "Qzxloginstitution" + "z" * 60,  # LO: longer than 64
    "PatientAddress": "Qzxlogaddress " + "Lane " * 20,  # LO: longer than 64
    "AccessionNumber": "QZXLOGACCESSION777",  # SH: longer than 16
    "StationName": "QZXLOGSTATION12345",  # SH: longer than 16
    "PatientBirthDate": "19QZ0101",  # DA: letters
    "StudyDate": "2020QZXL",  # DA: letters
    "StudyTime": "12QZX9",  # TM: letters
    "AcquisitionDateTime": "2020QZXLOGDT",  # DT: letters
    "PatientAge": "QZX4",  # AS: not nnnD/W/M/Y
    "StudyInstanceUID": "1.2.826.0.1.QZXLOGSTUDY",  # UI: letters
    "SeriesInstanceUID": "1.2.826.0.1.QZXLOGSERIES",
    "SOPInstanceUID": "1.2.826.0.1.QZXLOGSOP",
    "FrameOfReferenceUID": "1.2.826.0.1.QZXLOGFRAME",
    "StudyID": "QZXLOGSTUDYID12345",  # SH: longer than 16
}
TOKENS = ["qzxlog", "qzx4", "19qz0101", "2020qzxl", "12qzx9"]


def invalid_dicom(number: int) -> bytes:
    """A small secondary capture whose identifying attributes all hold invalid values."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.{number}"
    with config.disable_value_validation():
        for keyword, value in INVALID_VALUES.items():
            setattr(ds, keyword, value if keyword != "SOPInstanceUID" else f"{value}{number}")
    ds.Modality, ds.ConversionType = "OT", "WSD"
    ds.Rows = ds.Columns = 32
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = bytes(range(256)) * 4
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def values_in(text: str) -> list[str]:
    """Which planted tokens appear in ``text`` (case-insensitive)."""
    lowered = text.lower()
    return [token for token in TOKENS if token in lowered]


def loud_env(extra: dict[str, str]) -> dict[str, str]:
    """As verbose as an operator could make it: debug logs, every Python warning shown."""
    return {**extra, "LOG_LEVEL": "DEBUG", "PYTHONWARNINGS": "always"}


def test_the_planted_files_are_ones_pydicom_would_quote(recwarn) -> None:
    """GIVEN pydicom as it comes (validation on) THEN these files make it quote values:
    the test below would catch a leak if the guards were missing."""
    import pydicom

    settings = config.settings
    before = settings.reading_validation_mode
    settings.reading_validation_mode = config.WARN
    try:
        ds = pydicom.dcmread(io.BytesIO(invalid_dicom(1)))
        for keyword in INVALID_VALUES:
            ds.get(keyword)
    finally:
        settings.reading_validation_mode = before
        keep_values_out_of_logs()
    assert values_in(" ".join(str(w.message) for w in recwarn))


def test_a_library_record_made_after_any_reset_keeps_no_text(caplog) -> None:
    """GIVEN pydicom resets its logger (as importing it or ``config.debug`` does) WHEN it
    logs a value THEN the record says only that a message was withheld."""
    config.debug(False, default_handler=False)
    logging.getLogger("pydicom").setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("pydicom").warning("Invalid value for VR UI: %r", "1.2.QZXLOG")
            logging.getLogger("pydicom.pixels.utils").error("bad %s", "QZXLOGPIXELS")
    finally:
        keep_values_out_of_logs()
    assert len(caplog.records) == 2
    assert not values_in(caplog.text)
    assert all("withheld" in record.getMessage() for record in caplog.records)


def test_the_deidentify_command_prints_no_original_value(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    for number in range(3):
        (source / f"{number}.dcm").write_bytes(invalid_dicom(number))
    key = tmp_path / "deid.key"
    key.write_bytes(bytes(range(32)))
    key.chmod(0o600)
    report = tmp_path / "report.json"
    env = loud_env({**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"})
    run = subprocess.run(
        [sys.executable, "-W", "always", str(ROOT / "manage.py"), "deidentify", str(source),
         str(tmp_path / "out"), "--key-file", str(key), "--report", str(report)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    assert run.returncode in (0, 1), run.returncode
    assert not values_in(run.stdout + run.stderr)
    assert not values_in(report.read_text())
    outcomes = [entry["outcome"] for entry in json.loads(report.read_text())["files"]]
    assert outcomes == ["clean"] * 3
    for output in (tmp_path / "out").rglob("*.dcm"):
        assert not values_in(output.read_bytes().decode("latin-1"))


@pytest.mark.slow
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_the_web_upload_and_a_real_worker_log_no_original_value(
    client, patient, tmp_path: Path, caplog, recwarn, log_format: str
) -> None:
    """GIVEN a worker logging at DEBUG in either format, with every warning shown, WHEN it
    de-identifies files pydicom would quote THEN nothing it writes holds an original value;
    nor do the web process's logs and warnings while the upload is taken in."""
    output = tmp_path / "worker.log"
    flush_broker()
    worker = Worker(
        worker_env(loud_env({"LOG_FORMAT": log_format})), output=output, loglevel="DEBUG"
    ).start()
    try:
        with caplog.at_level(logging.DEBUG):
            files = [SimpleUploadedFile(f"IM{n}", invalid_dicom(n)) for n in range(2)]
            response = client.post("/api/v1/scans", {"files": files}, headers=bearer(patient))
        assert response.status_code == 201, response.content
        scan_id = response.json()["id"]
        wait_until(
            lambda: Scan.objects.get(pk=scan_id).status
            in {Status.READY_FOR_REVIEW, Status.QUARANTINED, Status.FAILED},
            timeout=180,
            what="the worker to finish the scan",
        )
    finally:
        worker.stop()
    scan = Scan.objects.get(pk=scan_id)
    assert scan.status == Status.READY_FOR_REVIEW, scan.error_message
    written = output.read_text(errors="replace")
    assert "deidentif" in written.lower() or "process_" in written  # it did log its work
    assert not values_in(written)
    assert not values_in(caplog.text)
    assert not values_in(" ".join(str(w.message) for w in recwarn))
    assert not values_in(" ".join(image.reason for image in scan.images.all()))
