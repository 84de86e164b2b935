"""A full blob disk during an upload: the patient is told plainly, and nothing half-stored remains.

The blob folder is a 2 MiB tmpfs, so the vault's writes fail with a real ENOSPC from the kernel.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from scans.models import Scan
from tests.support import builders
from tests.support.accounts import bearer
from vault.models import VaultKey

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

MESSAGE = "The gateway's storage is full; nothing was stored. Please tell the clinic."


def five_mib_study() -> bytes:
    rows = cols = 1620  # 16-bit pixels: 5 MiB
    pixels = bytes(range(256)) * (rows * cols * 2 // 256)
    return builders.make_dicom_bytes(
        Rows=rows, Columns=cols, BitsStored=16, HighBit=15, PixelData=pixels
    )


def everything_in(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def assert_nothing_stored(blob_dir: Path) -> None:
    assert everything_in(blob_dir) == []  # no blob, no .partial file
    assert VaultKey.objects.count() == 0
    assert Scan.objects.count() == 0


def test_an_api_upload_onto_a_full_disk_is_refused_with_507_and_leaves_nothing(
    client, patient, full_blob_dir
):
    study = five_mib_study()
    assert len(study) > 4 * builders.MiB

    response = client.post(
        "/api/v1/scans",
        {"files": [SimpleUploadedFile("IM0001", study)]},
        headers=bearer(patient),
    )

    assert response.status_code == 507, response.content
    assert response.json() == {"code": "upload_refused", "detail": MESSAGE}
    assert_nothing_stored(full_blob_dir)


def test_a_page_upload_onto_a_full_disk_shows_the_reason_and_leaves_nothing(
    patient_client, full_blob_dir
):
    small = builders.make_dicom_bytes()
    response = patient_client.post(
        "/scans/upload/",
        {
            "files": [
                SimpleUploadedFile("first.dcm", small),  # fits, sealed, then shredded
                SimpleUploadedFile("second.dcm", five_mib_study()),
            ]
        },
    )

    assert response.status_code == 507
    assert MESSAGE in response.content.decode().replace("&#x27;", "'")
    assert_nothing_stored(full_blob_dir)


def test_the_disk_accepts_a_small_upload_again_once_a_large_one_was_refused(
    client, patient, full_blob_dir
):
    """GIVEN a refused upload that filled the disk THEN its space was given back."""
    refused = client.post(
        "/api/v1/scans",
        {"files": [SimpleUploadedFile("a", five_mib_study())]},
        headers=bearer(patient),
    )
    assert refused.status_code == 507

    accepted = client.post(
        "/api/v1/scans",
        {"files": [SimpleUploadedFile("b", builders.make_dicom_bytes())]},
        headers=bearer(patient),
    )

    assert accepted.status_code == 201, accepted.content
    assert Scan.objects.count() == 1
