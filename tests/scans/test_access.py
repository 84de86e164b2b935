"""A patient sees only their own scans: any other scan id is a 404, on every page and API route."""

from __future__ import annotations

import uuid

import pytest

from scans.models import Outcome, Scan, ScanFile, ScanImage, Status
from tests.support import builders
from tests.support.accounts import bearer, make_user
from vault import get_vault

pytestmark = pytest.mark.django_db


@pytest.fixture
def first_scan(patient, blob_dir):
    """A scan of the first patient with one file and one processed image with previews."""
    vault = get_vault()
    scan = Scan.objects.create(owner=patient, status=Status.READY_FOR_REVIEW)
    file = ScanFile.objects.create(
        scan=scan,
        position=1,
        kind="dicom",
        size=10,
        vault_object=vault.put_bytes(builders.make_dicom_bytes()).object_id,
    )
    png = builders.make_png(8, 8)
    ScanImage.objects.create(
        scan=scan,
        source=file,
        position=1,
        outcome=Outcome.CLEAN,
        kind="dicom",
        preview_object=vault.put_bytes(png).object_id,
        original_preview_object=vault.put_bytes(png).object_id,
    )
    return scan


def page_routes(scan: Scan) -> list[tuple[str, str]]:
    image = scan.images.get()
    return [
        ("get", f"/scans/{scan.id}/"),
        ("get", f"/scans/{scan.id}/status.json"),
        ("get", f"/scans/{scan.id}/images/{image.id}/preview.png"),
        ("get", f"/scans/{scan.id}/images/{image.id}/original.png"),
        ("post", f"/scans/{scan.id}/delete/"),
    ]


def api_routes(scan: Scan) -> list[tuple[str, str]]:
    image = scan.images.get()
    return [
        ("get", f"/api/v1/scans/{scan.id}"),
        ("get", f"/api/v1/scans/{scan.id}/report"),
        ("get", f"/api/v1/scans/{scan.id}/images/{image.id}/preview"),
        ("delete", f"/api/v1/scans/{scan.id}"),
    ]


def test_the_owner_can_open_every_route(client, patient, first_scan):
    client.force_login(patient)
    for method, url in page_routes(first_scan)[:-1]:
        assert getattr(client, method)(url).status_code == 200, url
    headers = bearer(patient)
    for method, url in api_routes(first_scan)[:-1]:
        assert getattr(client, method)(url, headers=headers).status_code == 200, url


def test_another_patient_gets_404_on_every_page_of_the_first_patients_scan(
    client, other_patient, first_scan
):
    client.force_login(other_patient)
    for method, url in page_routes(first_scan):
        assert getattr(client, method)(url).status_code == 404, url
    first_scan.refresh_from_db()
    assert first_scan.status == Status.READY_FOR_REVIEW


def test_another_patient_gets_404_on_every_api_route_of_the_first_patients_scan(
    client, other_patient, first_scan
):
    headers = bearer(other_patient)
    for method, url in api_routes(first_scan):
        response = getattr(client, method)(url, headers=headers)
        assert response.status_code == 404, url
    assert client.get("/api/v1/scans", headers=headers).json() == []
    first_scan.refresh_from_db()
    assert first_scan.status == Status.READY_FOR_REVIEW


def test_an_image_of_one_scan_cannot_be_reached_through_another_scan(client, patient, first_scan):
    own_other = Scan.objects.create(owner=patient)
    image = first_scan.images.get()
    client.force_login(patient)
    assert client.get(f"/scans/{own_other.id}/images/{image.id}/preview.png").status_code == 404


def test_a_random_id_is_indistinguishable_from_someone_elses(client, other_patient, first_scan):
    client.force_login(other_patient)
    assert client.get(f"/scans/{uuid.uuid4()}/").status_code == 404
    assert client.get(f"/scans/{first_scan.id}/").status_code == 404


@pytest.mark.parametrize("role", ["clinician", "auditor", "clinic_admin"])
def test_staff_see_no_patient_scans(client, role, first_scan):
    staff = make_user(f"{role}@example.org", role)
    client.force_login(staff)
    for method, url in page_routes(first_scan):
        assert getattr(client, method)(url).status_code in (302, 403, 404), url
    for method, url in api_routes(first_scan):
        assert getattr(client, method)(url, headers=bearer(staff)).status_code in (403, 404), url
    first_scan.refresh_from_db()
    assert first_scan.status == Status.READY_FOR_REVIEW


def test_signed_out_visitors_are_sent_to_sign_in(client, first_scan):
    for method, url in page_routes(first_scan):
        response = getattr(client, method)(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/accounts/login/")
