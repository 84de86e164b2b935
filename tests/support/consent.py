"""Consent helpers for tests: a processed study, an endpoint on a fake provider, a given consent."""

from __future__ import annotations

import base64
import binascii
import re

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import User
from forwarding.endpoints import create_endpoint
from forwarding.models import Endpoint
from scans import processing
from scans.models import Consent, Scan, Status
from tests.support import builders
from tests.support.accounts import bearer
from tests.support.fakes import FakeProvider, RecordedRequest

MARKERS = {
    "PatientName": "Qortimer^Zyxwvut",
    "PatientID": "PIDMARK7731",
    "InstitutionName": "Vrellandmarker Clinic",
    "ReferringPhysicianName": "Blorptastic^Hendrika",
    "AccessionNumber": "ACCMARK9915",
    "OtherPatientIDs": "OTHERMARK4421",
    "PatientAddress": "12 Quuxmarker Lane",
}


MARKER_STRINGS = ["Qortimer", "Zyxwvut", "PIDMARK7731", "Vrellandmarker", "Blorptastic",
                  "Hendrika", "ACCMARK9915", "OTHERMARK4421", "Quuxmarker"]


API_KEY = "sk-test-never-in-logs-0123456789"


QUESTION = "Is there anything unusual in these images?"


def upload_and_process(client, user: User, count: int) -> Scan:
    """A study of ``count`` DICOM slices with planted identifiers, de-identified for real."""
    files = [
        SimpleUploadedFile(f"IM{i}", builders.make_dicom_bytes(**MARKERS)) for i in range(count)
    ]
    response = client.post("/api/v1/scans", {"files": files}, headers=bearer(user))
    assert response.status_code == 201, response.content
    processing.process_scan(response.json()["id"])
    scan = Scan.objects.get(pk=response.json()["id"])
    assert scan.status == Status.READY_FOR_REVIEW, scan.error_message
    return scan


def endpoint_for(provider: FakeProvider, **overrides) -> Endpoint:
    values = {
        "name": f"Fake {provider.protocol} {provider.port}",
        "protocol": provider.protocol,
        "base_url": provider.base_url,
        "model": "fake-vision-1",
        "api_key": API_KEY,
        "is_local": True,
        "max_images": 3,
        "data_use_note": "The fake provider keeps nothing and trains on nothing.",
        **overrides,
    }
    return create_endpoint(**values)


def create_request(client, user: User, scan: Scan, endpoint: Endpoint, **body) -> dict:
    payload = {"endpoint": str(endpoint.id), "question": QUESTION, **body}
    response = client.post(
        f"/api/v1/scans/{scan.id}/consent-requests", payload,
        content_type="application/json", headers=bearer(user),
    )
    assert response.status_code == 201, response.content
    return response.json()


def accept_request(client, user: User, created: dict) -> str:
    response = client.post(
        f"/api/v1/consent-requests/{created['id']}/accept",
        {"consent_text_sha256": created["consent_text_sha256"],
         "manifest_sha256": created["manifest_sha256"], "affirm": True},
        content_type="application/json", headers=bearer(user),
        REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="TestBrowser/1.0",
    )
    assert response.status_code == 201, response.content
    return response.json()["consent_id"]


def give_consent(client, user: User, scan: Scan, endpoint: Endpoint, **body) -> Consent:
    return Consent.objects.get(pk=accept_request(client, user, create_request(
        client, user, scan, endpoint, **body)))


def no_sleep(seconds: float) -> None:
    """Retries in tests do not wait."""


def everything_in(request: RecordedRequest) -> bytes:
    """The request's path, headers and body, plus every base64 string in it decoded, so a
    marker hidden inside an encoded image is found too."""
    raw = request.path.encode() + b"\n" + "\n".join(
        f"{k}: {v}" for k, v in request.headers.items()
    ).encode() + b"\n" + request.body
    decoded = []
    for match in re.finditer(rb"[A-Za-z0-9+/]{16,}={0,2}", request.body):
        try:
            decoded.append(base64.b64decode(match.group(), validate=True))
        except (binascii.Error, ValueError):
            continue
    return raw + b"\n".join(decoded)
