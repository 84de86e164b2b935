"""Upload limits end to end: UPLOAD_MAX_FILES files are accepted; one more is a clear 413."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from scans.models import Scan
from tests.support import builders

pytestmark = pytest.mark.django_db


def files(count: int) -> list[SimpleUploadedFile]:
    dicom = builders.make_dicom_bytes()
    return [SimpleUploadedFile(f"IM{i:04d}", dicom) for i in range(count)]


def test_django_counts_one_file_more_than_we_do(settings):
    # Django's own count must never answer first (it gave HTTP 500 past 100 files).
    assert settings.DATA_UPLOAD_MAX_NUMBER_FILES > settings.UPLOAD_MAX_FILES


def test_one_file_over_the_limit_is_a_413_with_a_message(patient_client, blob_dir, settings):
    settings.UPLOAD_MAX_FILES = 150
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 151
    response = patient_client.post("/scans/upload/", {"files": files(151)})
    assert response.status_code == 413
    assert "Too many files" in response.content.decode()


def test_more_than_a_hundred_files_are_accepted(patient_client, blob_dir, settings):
    settings.UPLOAD_MAX_FILES = 150
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 151
    response = patient_client.post("/scans/upload/", {"files": files(150)})
    assert response.status_code in (200, 302)


@pytest.mark.slow
def test_the_default_limit_of_a_thousand_files_is_really_accepted(
    patient_client, blob_dir, settings
):
    """GIVEN the shipped limits WHEN a patient uploads exactly UPLOAD_MAX_FILES files, then one
    more THEN the first is accepted whole and the second is a clear 413."""
    assert settings.UPLOAD_MAX_FILES == 1000
    accepted = patient_client.post("/scans/upload/", {"files": files(1000)})
    assert accepted.status_code in (200, 302)
    assert Scan.objects.get().files.count() == 1000
    refused = patient_client.post("/scans/upload/", {"files": files(1001)})
    assert refused.status_code == 413
    assert "Too many files" in refused.content.decode()
    assert Scan.objects.count() == 1
