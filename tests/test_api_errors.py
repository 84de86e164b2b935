"""Every API error names its kind in a stable code and explains it in the client's language.

GIVEN an API client whose account (or, without one, whose Accept-Language) is German, French or
Spanish, WHEN a request is refused -- no token, a token without the scope, too many requests, an
invalid request, a refused upload, something that is not there, an account without scans, a
scan being sent -- THEN the body is ``{"code": ..., "detail": ...}``: the code is the same in
every language, and the detail is a sentence in the client's language.
"""

from __future__ import annotations

import html

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import Role
from accounts.tokens import issue_token
from forwarding import retry
from scans.models import Scan, Status
from tests.support.accounts import bearer, make_user
from tests.support.languages import english_leftovers
from tests.support.stored import stored_scan

pytestmark = pytest.mark.django_db

LANGUAGES = ["de", "fr", "es"]


@pytest.fixture(params=LANGUAGES)
def language(request) -> str:
    return request.param


def assert_error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) >= {"code", "detail"}
    assert body["code"] == code
    return body["detail"]


def assert_not_english(detail: str) -> None:
    assert detail
    assert english_leftovers(f"<p>{html.escape(detail)}</p>") == []


def test_without_a_token_the_browser_s_language_explains_it(client, language):
    response = client.get("/api/v1/scans", headers={"Accept-Language": language})

    detail = assert_error(response, 401, "authentication_required")
    assert_not_english(detail)
    assert "Authorization: Bearer" in detail  # the header to send is data, not words


def test_the_account_s_language_wins_over_the_browser_s(client, patient, language):
    patient.language = language
    patient.save(update_fields=["language"])
    token = issue_token(patient, "read only", ["read"])

    response = client.post(
        "/api/v1/scans",
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
    )

    detail = assert_error(response, 403, "scope_missing")
    assert_not_english(detail)
    assert "'upload'" in detail


def test_an_english_client_reads_english_with_the_same_code(client, patient):
    token = issue_token(patient, "read only", ["read"])

    response = client.post(
        "/api/v1/scans", headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    )

    detail = assert_error(response, 403, "scope_missing")
    assert detail == "This token may not do this: it needs the 'upload' scope."


def test_too_many_requests_are_explained(client, patient, settings, language):
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    headers = {**bearer(patient), "Accept-Language": language}
    assert client.get("/api/v1/scans", headers=headers).status_code == 200

    detail = assert_error(client.get("/api/v1/scans", headers=headers), 429, "rate_limited")
    assert_not_english(detail)


def test_an_invalid_request_names_its_fields_in_a_translated_sentence(client, patient, language):
    headers = {**bearer(patient), "Accept-Language": language}

    response = client.post("/api/v1/scans", {"note": "x"}, headers=headers)

    detail = assert_error(response, 400, "invalid_request")
    assert_not_english(detail)
    assert "files" in detail


def test_a_refused_upload_is_explained(client, patient, language, blob_dir):
    headers = {**bearer(patient), "Accept-Language": language}
    upload = SimpleUploadedFile("x.txt", b"zzzz" * 100)

    response = client.post("/api/v1/scans", {"files": [upload]}, headers=headers)

    detail = assert_error(response, 415, "upload_refused")
    assert_not_english(detail)


def test_something_that_is_not_there_is_explained(client, patient, other_patient, language):
    theirs = stored_scan(other_patient).scan
    headers = {**bearer(patient), "Accept-Language": language}

    missing = client.get(f"/api/v1/scans/{theirs.pk}", headers=headers)

    detail = assert_error(missing, 404, "not_found")
    assert_not_english(detail)
    unknown = client.get("/api/v1/no-such-thing", headers=headers)
    assert unknown.status_code == 404


def test_an_account_without_scans_is_told_so(client, language):
    clinician = make_user("clinician@example.org", Role.CLINICIAN)
    headers = {**bearer(clinician), "Accept-Language": language}

    detail = assert_error(client.get("/api/v1/scans", headers=headers), 403, "patients_only")
    assert_not_english(detail)


def test_a_scan_being_sent_cannot_be_deleted_and_is_explained(client, patient, language):
    sending = stored_scan(patient, status=Status.SENDING).scan
    headers = {**bearer(patient), "Accept-Language": language}

    response = client.delete(f"/api/v1/scans/{sending.pk}", headers=headers)

    detail = assert_error(response, 409, "scan_being_sent")
    assert_not_english(detail)


def test_why_a_send_failed_is_told_in_the_client_s_language(client, patient, language):
    failed = stored_scan(patient, status=Status.SEND_FAILED).scan
    Scan.objects.filter(pk=failed.pk).update(error_message=retry.FAILING_MESSAGE)
    headers = {**bearer(patient), "Accept-Language": language}

    shown = client.get(f"/api/v1/scans/{failed.pk}", headers=headers).json()

    assert shown["status"] == Status.SEND_FAILED
    assert_not_english(shown["error_message"])


def test_a_patient_s_audit_request_is_refused_with_a_code(client, patient, language):
    headers = {**bearer(patient), "Accept-Language": language}

    response = client.get("/api/v1/audit/events", headers=headers)

    assert response.status_code in (401, 403)
    assert response.json()["code"] in {"scope_missing", "auditors_only"}
    assert_not_english(response.json()["detail"])


def test_errors_carry_their_code_in_the_published_schema(client):
    schema = client.get("/api/v1/openapi.json").json()

    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"code", "detail"}


def test_a_dicomweb_client_without_a_token_gets_the_same_shape(client, language):
    response = client.get(reverse("pacs:dicomweb_studies"), headers={"Accept-Language": language})

    detail = assert_error(response, 401, "authentication_required")
    assert_not_english(detail)
    assert response["WWW-Authenticate"].startswith("Bearer")
