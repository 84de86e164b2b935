"""Redactions the AI is told about, and images a person should check first.

A black rectangle sent without a word may be read as a finding, so the prompt says what it is
whenever an image sent has one. An image the pixel engine flags ("check this image": a box over
the body, a mark it could not read) is shown with its boxes and reasons and is never chosen
for sending on the patient's behalf.
"""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from scans import processing, sending
from scans.consent.selection import default_selection, sendable_images
from scans.deid.burned_in import REVIEW_REASONS
from scans.deid.report import REDACTION_NOTE
from scans.models import Scan, ScanImage, Status
from tests.support import builders
from tests.support.accounts import bearer
from tests.support.consent import endpoint_for, give_consent, no_sleep
from tests.support.fakes import FakeProvider

pytestmark = pytest.mark.django_db

# The engine's own sentence for its "over-body" code (pages show it in the reader's language).
CHECK_REASON = REVIEW_REASONS["over-body"]


def processed(client, user, *blobs: bytes) -> Scan:
    files = [SimpleUploadedFile(f"F{n}", data) for n, data in enumerate(blobs)]
    response = client.post("/api/v1/scans", {"files": files}, headers=bearer(user))
    assert response.status_code == 201, response.content
    processing.process_scan(response.json()["id"])
    scan = Scan.objects.get(pk=response.json()["id"])
    assert scan.status == Status.READY_FOR_REVIEW, scan.error_message
    return scan


def system_prompt_in(protocol: str, body: dict) -> str:
    if protocol == "openai":
        return next(m["content"] for m in body["messages"] if m["role"] == "system")
    if protocol == "anthropic":
        return body["system"]
    return body["systemInstruction"]["parts"][0]["text"]


def flag(image: ScanImage, frame: int = 0) -> None:
    """What the pixel engine records for an image to check: the flag and its boxes."""
    image.needs_check = True
    image.report = {**image.report, "pixels": {**image.report.get("pixels", {}), "review": {
        "needed": True, "reasons": [CHECK_REASON], "boxes": [[frame, 2, 2, 8, 8, "over-body"]],
    }}}
    image.save(update_fields=["needs_check", "report"])


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
def test_the_provider_is_told_that_black_rectangles_are_redactions(
    client, patient, blob_dir, protocol
):
    """GIVEN a photo whose burned-in name was blacked out WHEN it is sent THEN the request the
    provider receives carries the redaction note with the endpoint's own prompt."""
    photo = builders.make_png(320, 200, text="ZEBULON QUARTERMAINE 1961")
    scan = processed(client, patient, photo)
    (image,) = sendable_images(scan)
    assert image.report["pixels"]["regions"], "the test needs a redacted image"
    with FakeProvider(protocol) as provider:
        endpoint = endpoint_for(provider)
        consent = give_consent(client, patient, scan, endpoint)
        sending.send_consent(str(consent.id), sleep=no_sleep)
        (request,) = provider.wait_for_requests(1)
    prompt = system_prompt_in(protocol, request.json())
    assert REDACTION_NOTE in prompt
    assert prompt.startswith(endpoint.system_prompt.rstrip())


def test_no_note_is_added_when_nothing_was_blacked_out(client, patient, study):
    assert not any(image.report["pixels"]["regions"] for image in sendable_images(study))
    with FakeProvider("openai") as provider:
        endpoint = endpoint_for(provider)
        consent = give_consent(client, patient, study, endpoint)
        sending.send_consent(str(consent.id), sleep=no_sleep)
        (request,) = provider.wait_for_requests(1)
    assert system_prompt_in("openai", request.json()) == endpoint.system_prompt


def test_a_flagged_image_is_never_chosen_for_the_patient(study):
    images = sendable_images(study)
    flag(images[0])
    flag(images[-1])
    chosen = default_selection(sendable_images(study), cap=5)
    assert [image.position for image in chosen] == [2, 3, 4]


def test_the_patient_may_still_choose_a_flagged_image_themselves(client, patient, study):
    first = sendable_images(study)[0]
    flag(first)
    with FakeProvider("openai") as provider:
        consent = give_consent(client, patient, study, endpoint_for(provider),
                               image_ids=[str(first.id)])
    assert list(consent.prepared_objects) == [str(first.id)]


def test_only_flagged_images_means_the_patient_must_choose(client, patient, study):
    for image in sendable_images(study):
        flag(image)
    with FakeProvider("openai") as provider:
        endpoint = endpoint_for(provider)
        response = client.post(
            f"/api/v1/scans/{study.id}/consent-requests",
            {"endpoint": str(endpoint.id), "question": "Anything unusual?"},
            content_type="application/json", headers=bearer(patient),
        )
    assert response.status_code == 409
    assert "choose the images to send yourself" in response.content.decode()


def test_the_scan_and_ask_pages_show_the_reason_and_leave_it_unticked(client, patient, study):
    first = sendable_images(study)[0]
    flag(first)
    client.force_login(patient)
    detail = client.get(f"/scans/{study.id}/").content.decode()
    assert "Check this image" in detail and "black box covers part of the picture itself" in detail
    assert "should be checked before sending" in detail
    with FakeProvider("openai") as provider:
        endpoint_for(provider)
        ask = client.get(f"/scans/{study.id}/consent/").content.decode()
    assert "Check this image first" in ask
    assert f'value="{first.id}" checked' not in ask


def test_the_review_page_names_the_flag_of_a_chosen_image(client, patient, study):
    first = sendable_images(study)[0]
    flag(first)
    client.force_login(patient)
    with FakeProvider("openai") as provider:
        endpoint = endpoint_for(provider)
        response = client.post(f"/scans/{study.id}/consent/", {
            "endpoint": str(endpoint.id), "images": [str(first.id)],
            "question": "Anything unusual?"})
        assert response.status_code == 302, response.content.decode()[:2000]
        review = client.get(response["Location"]).content.decode()
    assert "Check this image" in review and "black box covers part of the picture itself" in review


def test_the_preview_outlines_the_boxes_to_check(client, patient, blob_dir):
    """GIVEN an image the engine flags WHEN it is stored THEN its preview has the boxes drawn
    in the flag colour, and the image row says it needs checking."""
    from scans.deid import engine
    from scans.deid.preview import FLAG_COLOUR

    original = engine.deidentify_bytes

    def flagged_result(*args, **kwargs):
        result = original(*args, **kwargs)
        result.report["pixels"]["review"] = {
            "needed": True, "reasons": [CHECK_REASON], "boxes": [[0, 4, 4, 40, 40, "unreadable"]],
        }
        return result

    processing.deidentify_bytes = flagged_result  # type: ignore[assignment]
    try:
        scan = processed(client, patient, builders.make_dicom_bytes(
            Rows=64, Columns=64, PixelData=bytes(64 * 64 * 2)))
    finally:
        processing.deidentify_bytes = original  # type: ignore[assignment]
    image = scan.images.get()
    assert image.needs_check
    client.force_login(patient)
    png = client.get(f"/scans/{scan.id}/images/{image.id}/preview.png").content
    pixels = Image.open(io.BytesIO(png)).convert("RGB")
    assert FLAG_COLOUR in {colour for _, colour in pixels.getcolors(1 << 16)}
