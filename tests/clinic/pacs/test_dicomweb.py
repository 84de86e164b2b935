"""DICOMweb at /dicomweb/studies, driven by `dicomweb-client` (a client nobody here wrote):
STOW-RS files instances into the inbox like the DICOM node does; QIDO-RS searches it.
Hostile bodies are refused cleanly and change nothing."""

from __future__ import annotations

import io

import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread

from accounts.models import Role
from audit.models import AuditEntry
from clinic.pacs import node
from clinic.pacs.models import Instance, Study
from tests.support import builders
from tests.support.accounts import make_user
from tests.support.pacs import lying_about_its_length

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("blob_dir")]


@pytest.fixture
def token() -> str:
    return node.issue_token("router", admin=make_user("a@example.org", Role.CLINIC_ADMIN))


def client(live_server, token: str | None) -> DICOMwebClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return DICOMwebClient(url=f"{live_server.url}/dicomweb", headers=headers)


def datasets(count: int, **attrs):
    uid = "1.2.826.0.1.3680043.8.498.77"
    return [
        dcmread(io.BytesIO(builders.make_dicom_bytes(StudyInstanceUID=uid, **attrs)))
        for _ in range(count)
    ]


def post(live_server, token, body: bytes, boundary: str = "b0undary") -> requests.Response:
    return requests.post(
        f"{live_server.url}/dicomweb/studies",
        data=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        },
        timeout=30,
    )


def part(data: bytes, boundary: str = "b0undary") -> bytes:
    return f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + b"\r\n"


def test_stow_rs_files_a_study_and_qido_rs_finds_it(live_server, token):
    web = client(live_server, token)

    response = web.store_instances(datasets(3, PatientID="PID-77"))

    assert len(response.ReferencedSOPSequence) == 3
    study = Study.objects.get()
    assert study.instance_count == 3 and study.source == "stow"
    found = web.search_for_studies(search_filters={"PatientID": "PID-77"})
    assert len(found) == 1 and found[0]["0020000D"]["Value"] == ["1.2.826.0.1.3680043.8.498.77"]
    assert web.search_for_studies(search_filters={"PatientID": "nobody"}) == []
    assert AuditEntry.objects.get(action="dicomweb.stored").details["stored"] == 3


def test_it_refuses_a_request_without_a_clinic_token(live_server):
    with pytest.raises(requests.HTTPError) as refused:
        client(live_server, None).store_instances(datasets(1))
    assert refused.value.response.status_code == 401
    with pytest.raises(requests.HTTPError):
        client(live_server, "dcw_not-a-token").search_for_studies()
    assert Study.objects.count() == 0


def test_a_revoked_token_is_refused(live_server, token):
    from clinic.pacs.models import DicomwebToken

    DicomwebToken.objects.update(revoked_at="2026-01-01T00:00:00Z")
    with pytest.raises(requests.HTTPError):
        client(live_server, token).store_instances(datasets(1))


def test_a_part_that_lies_about_its_length_is_refused_and_the_rest_stored(live_server, token):
    good = builders.make_dicom_bytes()
    liar = lying_about_its_length(builders.make_dicom_bytes())

    response = post(live_server, token, part(good) + part(liar) + b"--b0undary--\r\n")

    assert response.status_code == 202
    body = response.json()
    assert len(body["00081199"]["Value"]) == 1
    assert body["00081198"]["Value"][0]["00081197"]["Value"] == [0xC000]
    assert Instance.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not multipart at all",
        part(b"\x00" * 10)[:-2],  # ends inside a part, no closing delimiter
        b"--b0undary\r\nContent-Type: application/dicom\r\n",  # headers never end
    ],
)
def test_a_malformed_body_is_refused_and_nothing_is_stored(live_server, token, body):
    response = post(live_server, token, body)
    assert response.status_code in (400, 409)
    assert Study.objects.count() == 0 and Instance.objects.count() == 0


def test_a_part_larger_than_one_instance_may_be_is_refused(live_server, token, settings):
    settings.DICOM_MAX_INSTANCE_BYTES = 1024
    big = builders.make_dicom_bytes(Rows=64, Columns=64, PixelData=b"\x00" * 8192)
    response = post(live_server, token, part(big) + b"--b0undary--")
    assert response.status_code == 413
    assert Instance.objects.count() == 0


def test_a_body_that_is_not_multipart_related_is_refused(live_server, token):
    response = requests.post(
        f"{live_server.url}/dicomweb/studies",
        data=builders.make_dicom_bytes(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/dicom"},
        timeout=30,
    )
    assert response.status_code == 415
