"""Resumable uploads (tus 1.0): pieces sealed as they arrive, resumed where they stopped, one scan.

A patient on a flaky link uploads a study in pieces; a dropped connection loses at most the piece
in flight; the finished file is byte-identical after decryption and no byte is ever on disk in
plaintext; abandoned or refused uploads leave nothing behind.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from scans import resumable
from scans.models import ResumableUpload, Scan, ScanFile
from tests.support import builders
from tests.support.accounts import bearer
from vault import get_vault
from vault.models import VaultKey

pytestmark = pytest.mark.django_db(transaction=True)

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}
MARKER = b"MRKPLAINTEXT7Q2"


def create(client, length: int, base: str = "/scans/tus/", **extra) -> str:
    response = client.post(base, HTTP_UPLOAD_LENGTH=str(length), **TUS, **extra)
    assert response.status_code == 201, response.content
    return response["Location"]


def patch(client, location: str, offset: int, data: bytes, **extra):
    return client.generic(
        "PATCH",
        location,
        data,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET=str(offset),
        **TUS,
        **extra,
    )


def offset_of(client, location: str, **extra) -> int:
    response = client.head(location, **TUS, **extra)
    assert response.status_code == 200
    return int(response["Upload-Offset"])


def finish(client, *locations: str, base: str = "/scans/tus/", **extra):
    ids = [loc.rstrip("/").rsplit("/", 1)[1] for loc in locations]
    return client.post(
        base + "finish/", json.dumps({"uploads": ids}), content_type="application/json", **extra
    )


def study_bytes() -> bytes:
    return builders.make_zip(
        {
            f"DICOM/S1/IM{n}": builders.make_dicom_bytes(PatientName=MARKER.decode())
            for n in range(3)
        }
    )


def test_the_server_announces_tus_with_its_size_limit(patient_client, settings):
    response = patient_client.options("/scans/tus/")
    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0"
    assert response["Tus-Max-Size"] == str(settings.UPLOAD_MAX_BYTES)
    assert "creation" in response["Tus-Extension"]


def test_a_file_sent_in_pieces_becomes_a_scan_identical_after_decryption(patient_client, blob_dir):
    data = study_bytes()
    location = create(patient_client, len(data))
    cut = len(data) // 3
    assert patch(patient_client, location, 0, data[:cut])["Upload-Offset"] == str(cut)
    assert patch(patient_client, location, cut, data[cut:]).status_code == 204

    response = finish(patient_client, location)

    assert response.status_code == 201, response.content
    scan = Scan.objects.get(pk=response.json()["id"])
    stored = scan.files.get()
    assert get_vault().read_bytes(stored.vault_object) == data
    assert stored.image_count == 3
    assert ResumableUpload.objects.count() == 0
    assert VaultKey.objects.count() == 1, "the pieces were shredded once joined"
    for path in blob_dir.rglob("*"):
        if path.is_file():
            assert MARKER not in path.read_bytes()


def test_a_dropped_connection_resumes_where_the_last_piece_stopped(patient_client):
    data = study_bytes()
    location = create(patient_client, len(data))
    upload = ResumableUpload.objects.get()
    arrived = data[:1000]
    chunks = iter([arrived])

    def cut_off(size: int) -> bytes:
        chunk = next(chunks, None)
        if chunk is None:
            raise ConnectionResetError("the laptop lid closed")
        return chunk

    resumable.append_piece(upload, 0, cut_off, declared=len(data))

    assert offset_of(patient_client, location) == 1000
    assert patch(patient_client, location, 1000, data[1000:]).status_code == 204
    scan = Scan.objects.get(pk=finish(patient_client, location).json()["id"])
    assert get_vault().read_bytes(scan.files.get().vault_object) == data


def test_a_piece_at_the_wrong_offset_is_refused_and_leaves_nothing(patient_client):
    location = create(patient_client, 100)
    assert patch(patient_client, location, 0, b"a" * 40).status_code == 204
    keys = VaultKey.objects.count()

    assert patch(patient_client, location, 0, b"b" * 40).status_code == 409
    assert patch(patient_client, location, 40, b"c" * 80).status_code == 413
    assert VaultKey.objects.count() == keys
    assert offset_of(patient_client, location) == 40


def test_an_unfinished_upload_cannot_become_a_scan(patient_client):
    location = create(patient_client, 100)
    patch(patient_client, location, 0, b"a" * 10)
    assert finish(patient_client, location).status_code == 409
    assert Scan.objects.count() == 0


def test_a_refused_file_is_shredded_with_its_pieces(patient_client, blob_dir):
    data = b"this is not a scan at all" * 10
    location = create(patient_client, len(data))
    patch(patient_client, location, 0, data[:50])
    patch(patient_client, location, 50, data[50:])

    response = finish(patient_client, location)

    assert response.status_code == 415
    assert Scan.objects.count() == ScanFile.objects.count() == 0
    assert ResumableUpload.objects.count() == 0
    assert VaultKey.objects.count() == 0


def test_a_cancelled_upload_is_shredded(patient_client):
    location = create(patient_client, 100)
    patch(patient_client, location, 0, b"a" * 10)
    assert patient_client.delete(location, **TUS).status_code == 204
    assert ResumableUpload.objects.count() == VaultKey.objects.count() == 0


def test_abandoned_uploads_are_shredded_by_the_sweeper(patient_client, settings):
    location = create(patient_client, 100)
    patch(patient_client, location, 0, b"a" * 10)
    ResumableUpload.objects.update(updated_at=timezone.now() - timedelta(days=2))

    assert resumable.discard_stale_uploads() == 1
    assert VaultKey.objects.count() == 0


def test_limits_are_checked_before_a_byte_is_sent(patient_client, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    response = patient_client.post("/scans/tus/", HTTP_UPLOAD_LENGTH="1001", **TUS)
    assert response.status_code == 413
    settings.PATIENT_STORAGE_QUOTA_BYTES = 500
    assert patient_client.post("/scans/tus/", HTTP_UPLOAD_LENGTH="600", **TUS).status_code == 413
    assert ResumableUpload.objects.count() == 0


def test_one_patient_cannot_touch_another_patients_upload(patient_client, other_patient, client):
    location = create(patient_client, 100)
    client.force_login(other_patient)
    assert client.head(location, **TUS).status_code == 404
    assert patch(client, location, 0, b"a" * 10).status_code == 404


def test_api_clients_use_the_same_protocol_with_a_token(client, patient, blob_dir: Path):
    data = study_bytes()
    auth = {"HTTP_AUTHORIZATION": bearer(patient)["Authorization"]}
    location = create(client, len(data), base="/api/v1/tus/", **auth)
    assert location.startswith("/api/v1/tus/")
    assert patch(client, location, 0, data, **auth).status_code == 204
    response = finish(client, location, base="/api/v1/tus/", **auth)
    assert response.status_code == 201
    assert client.post("/api/v1/tus/", HTTP_UPLOAD_LENGTH="10", **TUS).status_code == 401
