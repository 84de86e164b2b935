"""The JSON API behaves as its OpenAPI schema says, with errors a person can act on."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from scans.models import Scan, Status
from tests.support import builders
from tests.support.accounts import bearer, make_user
from vault.models import VaultKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth(patient):
    return bearer(patient)


def post_files(client, auth, *files: tuple[str, bytes]):
    return client.post(
        "/api/v1/scans", {"files": [SimpleUploadedFile(n, d) for n, d in files]}, headers=auth
    )


def test_upload_list_show_and_delete_a_scan(client, auth, blob_dir):
    response = post_files(
        client,
        auth,
        ("a.dcm", builders.make_dicom_bytes()),
        ("b", builders.make_dicom_without_preamble()),
    )
    assert response.status_code == 201
    created = response.json()
    assert set(created) == {"id", "status"}
    assert created["status"] in {Status.UPLOADED, Status.QUEUED}

    listed = client.get("/api/v1/scans", headers=auth).json()
    assert [s["id"] for s in listed] == [created["id"]]

    shown = client.get(f"/api/v1/scans/{created['id']}", headers=auth).json()
    assert shown["file_count"] == 2
    assert shown["progress"] == {"done": 0, "total": 2}
    assert shown["error_message"] == ""
    assert shown["images"] == []

    assert client.delete(f"/api/v1/scans/{created['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/v1/scans/{created['id']}", headers=auth).status_code == 404
    assert client.get("/api/v1/scans", headers=auth).json() == []
    assert VaultKey.objects.count() == 0


def test_without_a_token_the_api_answers_401_with_instructions(client):
    response = client.get("/api/v1/scans")
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]
    response = client.post(
        "/api/v1/scans", {"files": [SimpleUploadedFile("a", builders.make_dicom_bytes())]}
    )
    assert response.status_code == 401
    assert Scan.objects.count() == 0


def test_a_revoked_or_made_up_token_is_refused(client, patient):
    assert (
        client.get("/api/v1/scans", headers={"Authorization": "Bearer sgw_made_up"}).status_code
        == 401
    )
    headers = bearer(patient)
    patient.api_tokens.all().delete()
    assert client.get("/api/v1/scans", headers=headers).status_code == 401


def test_an_upload_without_files_is_a_400(client, auth):
    response = client.post("/api/v1/scans", {"note": "x"}, headers=auth)
    assert response.status_code == 400
    assert "files" in response.json()["detail"]


def test_an_unsupported_file_is_a_415_and_nothing_is_kept(client, auth, blob_dir):
    response = post_files(client, auth, ("x.txt", b"hello there, not a scan" * 10))
    assert response.status_code == 415
    assert "neither a DICOM file" in response.json()["detail"]
    assert VaultKey.objects.count() == 0
    assert Scan.objects.count() == 0


def test_a_too_large_upload_is_a_413(client, auth, settings, blob_dir):
    settings.UPLOAD_MAX_BYTES = 1000
    response = post_files(client, auth, ("a.dcm", b"z" * (2 * 1024 * 1024)))
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert VaultKey.objects.count() == 0


def test_a_hostile_zip_is_a_clear_json_error(client, auth, blob_dir):
    response = post_files(client, auth, ("x.zip", builders.make_zip_with_member_name("../x.dcm")))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("File 1")
    assert VaultKey.objects.count() == 0


def test_an_unknown_scan_id_is_a_404_with_json(client, auth):
    response = client.get("/api/v1/scans/00000000-0000-4000-8000-000000000000", headers=auth)
    assert response.status_code == 404
    assert "detail" in response.json()
    assert client.get("/api/v1/scans/not-a-uuid", headers=auth).status_code in (400, 404)


def test_staff_accounts_have_no_scans_in_the_api(client):
    clinician = make_user("doc@example.org", "clinician")
    response = client.get("/api/v1/scans", headers=bearer(clinician))
    assert response.status_code == 403


def test_the_openapi_schema_describes_every_route(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert set(paths["/api/v1/scans"]) == {"get", "post"}
    assert set(paths["/api/v1/scans/{scan_id}"]) == {"get", "delete"}
    assert "/api/v1/scans/{scan_id}/report" in paths
    assert "/api/v1/scans/{scan_id}/images/{image_id}/preview" in paths
    post = paths["/api/v1/scans"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert {"201", "400", "401", "413", "415"} <= set(post["responses"])
    assert any("BearerToken" in s for s in post.get("security", schema.get("security", [{}])))
