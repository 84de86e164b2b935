"""Who may open the auditor area, and what it never shows: no email, no patient data."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Role
from tests.support.accounts import bearer, make_user, with_totp
from tests.support.auditing import MARKER, PATIENT_EMAIL

pytestmark = pytest.mark.django_db

PAGES = ["/audit/", "/audit/trail/", "/audit/verify/"]
API = ["/api/v1/audit/events", "/api/v1/audit/verify", "/api/v1/audit/export?format=csv"]


def test_someone_signed_out_is_sent_to_sign_in(client):
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    assert client.get(API[0]).status_code == 401


@pytest.mark.parametrize("role", [Role.PATIENT, Role.CLINICIAN])
def test_patients_and_clinicians_get_403_on_every_page(client, role):
    user = make_user(f"{role}@example.org", role)
    if role == Role.CLINICIAN:
        with_totp(user)  # past the MFA middleware, so the role check is what answers
    client.force_login(user)
    for url in PAGES:
        assert client.get(url).status_code == 403, url
    assert client.post("/audit/verify/again/").status_code == 403
    assert client.post("/audit/export/", {"format": "csv"}).status_code == 403


@pytest.mark.parametrize("role", [Role.PATIENT, Role.CLINICIAN])
def test_patients_and_clinicians_get_403_with_a_detail_on_every_api_route(client, role):
    headers = bearer(make_user(f"{role}@example.org", role))
    for url in API:
        response = client.get(url, headers=headers)
        assert response.status_code == 403, url
        assert "auditor" in response.json()["detail"]


def test_an_auditor_without_mfa_is_sent_to_set_it_up(client, auditor_without_mfa):
    client.force_login(auditor_without_mfa)
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == reverse("mfa_activate_totp")


def test_an_auditor_without_mfa_gets_403_from_the_api(client, auditor_without_mfa):
    headers = bearer(auditor_without_mfa)
    for url in API:
        response = client.get(url, headers=headers)
        assert response.status_code == 403, url
        assert "two-factor" in response.json()["detail"]


def test_a_clinic_admin_with_mfa_may_use_the_api(client, clinic_admin):
    assert client.get(API[0], headers=bearer(clinic_admin)).status_code == 200


def test_an_auditor_never_reaches_a_patients_pages(auditor_client, auditor, case):
    for url in [f"/scans/{case.scan.id}/", f"/scans/{case.scan.id}/status.json", "/scans/"]:
        assert auditor_client.get(url).status_code in {403, 404}, url
    response = auditor_client.get(f"/api/v1/scans/{case.scan.id}", headers=bearer(auditor))
    assert response.status_code in {403, 404}


def test_no_page_or_export_shows_an_email_address_or_patient_data(auditor_client, auditor, case):
    sid = str(case.scan.id)
    bodies = [
        auditor_client.get("/audit/").content,
        auditor_client.get("/audit/", {"object_id": sid}).content,
        auditor_client.get("/audit/trail/", {"id": sid}).content,
        auditor_client.get("/audit/verify/").content,
    ]
    for fmt in ("csv", "jsonl", "fhir"):
        response = auditor_client.post("/audit/export/", {"format": fmt})
        bodies.append(b"".join(response.streaming_content))
    response = auditor_client.get("/api/v1/audit/events", headers=bearer(auditor))
    bodies.append(response.content)
    for body in bodies:
        text = body.decode()
        assert sid in text or "Chain verification" in text  # the case really is on show
        for secret in (PATIENT_EMAIL, MARKER, auditor.email, "@example.org"):
            assert secret not in text
