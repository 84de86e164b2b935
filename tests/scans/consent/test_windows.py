"""A CT series is sent in the window the patient picked, and the manifest says which.

A question about the lungs asked on a soft-tissue rendering would hide the answer: the patient
picks the window per series, the prepared pictures are rendered in it, the manifest names it, and
the sender re-derives exactly those bytes before anything leaves.
"""

from __future__ import annotations

import json

import pytest

from scans import sending
from scans.consent.acceptance import accept
from scans.consent.requests import request_consent
from scans.deid.preview import scale_for_sending
from scans.hashing import sha256_hex
from scans.models import Consent
from scans.rendering import PRESETS, default_window
from tests.support.stored import endpoint
from tests.support.studies import processed_ct
from vault import get_vault

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_chest_ct_defaults_to_the_lung_window_and_a_head_to_the_brain():
    assert default_window("CT", "CHEST") == "lung"
    assert default_window("CT", "HEAD") == "brain"
    assert default_window("CT", "ABDOMEN") == "soft_tissue"
    assert default_window("MR", "HEAD") == "as_saved"


def test_the_manifest_covers_the_images_rendered_in_the_chosen_window(patient, client, settings):
    settings.DEID_CHUNK_IMAGES = 100
    scan = processed_ct(patient, slices=4)
    target = endpoint()
    images = list(scan.images.all())[:2]
    windows = {str(image.pk): "lung" for image in images}

    created = request_consent(
        scan,
        patient,
        endpoint_id=target.pk,
        question="Are the lungs clear?",
        image_ids=[str(i.pk) for i in images],
        windows=windows,
    )

    manifest = json.loads(created.manifest)
    assert [item["window"] for item in manifest["images"]] == ["lung", "lung"]
    vault = get_vault()
    for image, item in zip(images, manifest["images"], strict=True):
        sanitized = vault.read_bytes(image.sanitized_object)
        lung, _ = scale_for_sending(
            sanitized,
            max_side=target.max_image_side,
            max_bytes=target.max_image_bytes,
            window=PRESETS["lung"].bounds,
        )
        as_saved, _ = scale_for_sending(
            sanitized, max_side=target.max_image_side, max_bytes=target.max_image_bytes
        )
        assert item["sha256"] == sha256_hex(lung) != sha256_hex(as_saved)

    accept(created.pk, patient, created.consent_text_sha256, created.manifest_sha256, True, "", "")
    payload = sending.verified_payload(Consent.objects.get())
    assert [sha256_hex(data) for data, _ in payload.images] == [
        item["sha256"] for item in manifest["images"]
    ]

    client.force_login(patient)
    page = client.get(f"/consents/{Consent.objects.get().pk}/receipt/").content.decode()
    assert created.manifest_sha256 in page
    assert "Lung window" in page and "slice 1 of 4" in page
    assert "Check it without trusting this gateway" in page
