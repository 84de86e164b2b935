"""Uploading a study: every byte encrypted on the way in, and a refused upload leaves nothing."""

from __future__ import annotations

import io
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from scans.models import FileKind, Scan, ScanFile, Status
from tests.support import builders
from vault import get_vault
from vault.models import VaultKey

# Real commits: shredded blobs are removed once the key deletion has committed.
pytestmark = pytest.mark.django_db(transaction=True)

MARKER = b"MRKPLAINTEXT7Q2"


def upload(client, *files: tuple[str, bytes], url: str = "/scans/upload/", **extra):
    payload = [SimpleUploadedFile(name, data) for name, data in files]
    return client.post(url, {"files": payload}, **extra)


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def assert_nothing_stored(blob_dir: Path) -> None:
    assert Scan.objects.count() == 0
    assert ScanFile.objects.count() == 0
    assert VaultKey.objects.count() == 0
    assert stored_files(blob_dir) == []


def files_written_since(root: Path, since: float) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and path.stat().st_mtime >= since:
                found.append(path)
        except OSError:
            continue  # another process's file vanished while we looked
    return found


def big_dicom_with_marker() -> bytes:
    """A DICOM file over Django's 2.5 MB in-memory limit, the marker in its header and pixels."""
    rows, columns = 1024, 1536
    pixels = (MARKER * (rows * columns * 2 // len(MARKER) + 1))[: rows * columns * 2]
    return builders.make_dicom_bytes(
        PatientName=MARKER.decode(),
        ImageComments=MARKER.decode() * 4,
        Rows=rows,
        Columns=columns,
        PixelData=pixels,
    )


def test_a_patient_uploads_a_zip_of_dicom_files_and_a_photo(patient_client, blob_dir):
    archive = builders.make_zip(
        {
            "study/series1/IM0001": builders.make_dicom_bytes(),
            "study/series1/IM0002.dcm": builders.make_dicom_bytes(),
            "study/series2/x/IM0003": builders.make_dicom_without_preamble(),
        }
    )
    response = upload(
        patient_client, ("study.zip", archive), ("film.jpg", builders.make_jpeg(64, 48))
    )
    scan = Scan.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/scans/{scan.id}/"
    assert scan.status == Status.QUEUED  # handed to the broker after commit
    assert [(f.kind, f.image_count) for f in scan.files.all()] == [
        (FileKind.ZIP, 3),
        (FileKind.JPEG, 1),
    ]
    assert scan.progress_total == 4
    assert [t.to_status for t in scan.transitions.all()] == [Status.QUEUED]
    # The stored bytes decrypt to exactly what was uploaded.
    stored = scan.files.get(kind=FileKind.ZIP)
    assert get_vault().read_bytes(stored.vault_object) == archive


def test_the_uploaded_plaintext_appears_nowhere_on_disk(patient_client, blob_dir):
    data = big_dicom_with_marker()
    assert len(data) > 2_621_440  # larger than Django's in-memory upload limit
    started = time.time() - 1
    response = upload(patient_client, ("JOHN_DOE_MRKPLAINTEXT7Q2.dcm", data))
    assert response.status_code == 302
    scan = Scan.objects.get()
    candidates = files_written_since(Path(tempfile.gettempdir()), started) + stored_files(blob_dir)
    assert stored_files(blob_dir), "the upload should be in the blob store"
    for path in candidates:
        try:
            content = path.read_bytes()
        except OSError:
            continue  # another process's temporary file vanished while we looked
        assert MARKER not in content, f"plaintext found in {path}"
        assert b"JOHN_DOE" not in content
    # The original file name is not kept anywhere in the scan's records.
    assert "JOHN_DOE" not in str(list(ScanFile.objects.filter(scan=scan).values()))
    assert get_vault().read_bytes(scan.files.get().vault_object) == data


@pytest.mark.parametrize(
    "name,make,status,message",
    [
        ("notes.txt", builders.make_text_file, 415, "neither a DICOM file"),
        ("report.pdf", builders.make_pdf, 415, "neither a DICOM file"),
        ("empty.dcm", builders.make_empty, 400, "is empty"),
        ("broken.dcm", builders.make_truncated_dicom, 400, "not a readable DICOM"),
        ("bomb.png", builders.make_png_bomb, 413, "pixels"),
        ("bomb.zip", builders.make_zip_bomb, 413, "zip bomb"),
        ("lying.zip", builders.make_zip_bomb_with_lying_sizes, 400, "could not be read"),
        ("many.zip", lambda: builders.make_zip_with_many_members(60), 413, "entries"),
        (
            "traversal.zip",
            lambda: builders.make_zip_with_member_name("../../x.dcm"),
            400,
            "unsafe name",
        ),
        (
            "absolute.zip",
            lambda: builders.make_zip_with_member_name("/etc/x.dcm"),
            400,
            "unsafe name",
        ),
        ("drive.zip", lambda: builders.make_zip_with_member_name("C:\\x.dcm"), 400, "unsafe name"),
        ("link.zip", builders.make_zip_with_symlink, 400, "symbolic link"),
        ("nested.zip", builders.make_nested_zip, 415, "itself a ZIP archive"),
        ("locked.zip", builders.make_zip_with_encrypted_member, 400, "password-protected"),
    ],
)
def test_hostile_and_non_scan_files_are_refused_and_nothing_is_kept(
    patient_client, blob_dir, settings, name, make, status, message
):
    settings.ZIP_MAX_MEMBERS = 50
    response = upload(patient_client, ("good.dcm", builders.make_dicom_bytes()), (name, make()))
    assert response.status_code == status
    text = response.content.decode()
    assert message.lower() in text.lower()
    assert "File 2" in text  # files are named by position, never by their (identifying) name
    assert name not in text
    assert_nothing_stored(blob_dir)


def test_an_upload_over_the_size_limit_is_refused_before_it_is_read(
    patient_client, blob_dir, settings
):
    settings.UPLOAD_MAX_BYTES = 1000
    response = upload(patient_client, ("big.dcm", b"x" * (2 * 1024 * 1024)))
    assert response.status_code == 413
    assert "larger than the limit" in response.content.decode()
    assert_nothing_stored(blob_dir)


def test_an_upload_that_grows_past_the_limit_while_streaming_is_cut_off(
    patient_client, blob_dir, settings
):
    settings.UPLOAD_MAX_BYTES = (
        100_000  # the declared length fits the envelope slack; the files don't
    )
    response = upload(
        patient_client, ("a.dcm", builders.make_dicom_bytes()), ("b.bin", b"y" * 300_000)
    )
    assert response.status_code == 413
    assert_nothing_stored(blob_dir)


def test_too_many_files_are_refused(patient_client, blob_dir, settings):
    settings.UPLOAD_MAX_FILES = 2
    dicom = builders.make_dicom_bytes()
    response = upload(patient_client, ("1", dicom), ("2", dicom), ("3", dicom))
    assert response.status_code == 413
    assert "Too many files" in response.content.decode()
    assert_nothing_stored(blob_dir)


def test_a_signed_out_visitor_cannot_store_anything(client, blob_dir):
    response = upload(client, ("a.dcm", builders.make_dicom_bytes()))
    assert response.status_code in (302, 403)
    assert_nothing_stored(blob_dir)


def test_files_posted_to_any_other_page_are_never_stored(patient_client, blob_dir):
    patient_client.post(
        "/account/tokens/", {"name": "x", "files": [SimpleUploadedFile("a.dcm", b"DICM" * 100)]}
    )
    assert VaultKey.objects.count() == 0
    assert stored_files(blob_dir) == []


def test_deleting_a_scan_shreds_its_keys_and_blobs(patient_client, blob_dir):
    upload(
        patient_client, ("a.dcm", builders.make_dicom_bytes()), ("b.png", builders.make_png(32, 32))
    )
    scan = Scan.objects.get()
    objects = list(scan.files.values_list("vault_object", flat=True))
    assert VaultKey.objects.filter(object_id__in=objects).count() == 2
    response = patient_client.post(f"/scans/{scan.id}/delete/")
    assert response.status_code == 302
    scan.refresh_from_db()
    assert scan.status == Status.DELETED
    assert VaultKey.objects.count() == 0
    assert stored_files(blob_dir) == []
    assert patient_client.get(f"/scans/{scan.id}/").status_code == 404


def test_a_zip_read_back_from_the_vault_is_the_zip_that_was_sent(patient_client, blob_dir):
    members = {f"d/{i}.dcm": builders.make_dicom_bytes() for i in range(5)}
    archive = builders.make_zip(members)
    upload(patient_client, ("s.zip", archive))
    stored = Scan.objects.get().files.get()
    with get_vault().open(stored.vault_object) as sealed:
        names = zipfile.ZipFile(sealed).namelist()
    assert sorted(names) == sorted(members)
    assert io.BytesIO(archive).getvalue() == get_vault().read_bytes(stored.vault_object)


def test_an_upload_past_the_patients_storage_quota_is_refused_before_it_is_stored(
    patient_client, blob_dir, settings
):
    settings.PATIENT_STORAGE_QUOTA_BYTES = 50_000
    dicom = builders.make_dicom_bytes()
    assert upload(patient_client, ("a.dcm", dicom)).status_code == 302
    stored_before = stored_files(blob_dir)
    response = upload(patient_client, ("b.bin", b"\0" * 60_000))
    assert response.status_code == 413
    assert "your limit" in response.content.decode()
    assert Scan.objects.count() == 1
    assert stored_files(blob_dir) == stored_before
