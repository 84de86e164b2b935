"""The pages: ask, review exactly what would leave, consent, withdraw, read and delete answers."""

from __future__ import annotations

import hashlib
import re

import pytest

from scans import sending
from scans.models import Answer, Consent, ConsentRequest, ConsentState
from tests.support.consent import endpoint_for, give_consent, no_sleep
from tests.support.fakes import FakeProvider

pytestmark = pytest.mark.django_db


def ask(client, scan, endpoint, **fields):
    images = fields.pop("images", None)
    if images is None:
        images = [str(i.id) for i in scan.images.all()[:2]]
    data = {"endpoint": str(endpoint.id), "images": images,
            "question": "What do you see?", **fields}
    return client.post(f"/scans/{scan.id}/consent/", data)


def test_the_scan_page_offers_to_ask_an_ai(patient_client, study):
    page = patient_client.get(f"/scans/{study.id}/").content.decode()

    assert f'href="/scans/{study.id}/consent/"' in page
    assert "Ask an AI about this scan" in page


def test_the_ask_page_lists_endpoints_with_their_notes_and_preticks_a_capped_selection(
    patient_client, study, endpoint
):
    page = patient_client.get(f"/scans/{study.id}/consent/").content.decode()

    assert endpoint.name in page
    assert endpoint.data_use_note in page
    assert f'value="{endpoint.id}"' in page
    assert page.count('name="images"') == 5
    assert len(re.findall(r'name="images" value="[^"]+" checked', page)) == endpoint.max_images


def test_a_question_with_the_planted_name_is_shown_back_with_a_confirmation_box(
    patient_client, study, endpoint
):
    response = ask(patient_client, study, endpoint, question="Hello, I am Qortimer Zyxwvut")

    assert response.status_code == 409
    page = response.content.decode()
    assert "a name from your scan" in page
    assert 'name="confirm_identifiers"' in page
    assert not ConsentRequest.objects.exists()

    confirmed = ask(patient_client, study, endpoint, question="Hello, I am Qortimer Zyxwvut",
                    confirm_identifiers="on")
    assert confirmed.status_code == 302


def test_a_refused_field_says_why_beside_it_and_is_tied_to_its_message(
    patient_client, study, endpoint
):
    response = ask(patient_client, study, endpoint, question="", images=[])

    assert response.status_code == 400
    page = response.content.decode()
    assert '<p class="error" id="question-error">This field is required.</p>' in page
    assert 'aria-describedby="question-error question-hint" aria-invalid="true"' in page
    assert '<fieldset class="card" aria-describedby="images-error">' in page
    assert '<p class="error" id="images-error">Choose at least one image to send.</p>' in page
    assert 'id="endpoint-error"' not in page


def test_a_flagged_question_is_tied_to_its_warnings(patient_client, study, endpoint):
    page = ask(patient_client, study, endpoint, question="Hello, I am Qortimer Zyxwvut")

    assert 'aria-describedby="question-warnings question-hint" aria-invalid="true"' in (
        page.content.decode()
    )


def test_the_review_page_shows_exactly_what_would_be_sent_and_an_unticked_agreement(
    patient_client, study, endpoint
):
    response = ask(patient_client, study, endpoint)
    assert response.status_code == 302
    req = ConsentRequest.objects.get()
    page = patient_client.get(response["Location"]).content.decode()

    for fact in (endpoint.name, endpoint.host, endpoint.model, endpoint.data_use_note,
                 "What do you see?", f"Send to {endpoint.name}"):
        assert fact in page
    assert req.consent_text.splitlines()[2].replace('"', "&quot;") in page
    agree = re.search(r'<input type="checkbox" name="agree"[^>]*>', page).group()
    assert "checked" not in agree
    for item in req.prepared:
        url = f"/scans/{study.id}/consent/{req.id}/images/{item['image_id']}"
        assert f'src="{url}"' in page
        served = patient_client.get(url)
        assert hashlib.sha256(served.content).hexdigest() == item["sha256"]
        assert served["Content-Type"] == item["mime"]


def test_consent_needs_the_box_ticked_and_then_starts_sending(patient_client, study, endpoint):
    ask(patient_client, study, endpoint)
    req = ConsentRequest.objects.get()
    form = {"consent_text_sha256": req.consent_text_sha256,
            "manifest_sha256": req.manifest_sha256}
    accept_url = f"/scans/{study.id}/consent/{req.id}/accept/"

    patient_client.post(accept_url, form)
    assert not Consent.objects.exists()

    response = patient_client.post(accept_url, {**form, "agree": "yes"})
    assert response.status_code == 302
    assert response["Location"] == f"/scans/{study.id}/"
    consent = Consent.objects.get()
    page = patient_client.get(f"/scans/{study.id}/").content.decode()
    assert f'action="/consents/{consent.id}/withdraw/"' in page


def test_withdrawing_from_the_scan_page(patient_client, study, endpoint, openai_provider):
    ask(patient_client, study, endpoint)
    req = ConsentRequest.objects.get()
    patient_client.post(f"/scans/{study.id}/consent/{req.id}/accept/", {
        "consent_text_sha256": req.consent_text_sha256,
        "manifest_sha256": req.manifest_sha256, "agree": "yes"})
    consent = Consent.objects.get()

    patient_client.post(f"/consents/{consent.id}/withdraw/")
    sending.send_consent(str(consent.id), sleep=no_sleep)

    assert Consent.objects.get().state == ConsentState.WITHDRAWN
    assert openai_provider.requests == []


def test_the_answer_page_shows_sanitized_markdown_a_disclaimer_receipts_and_delete(
    client, patient, patient_client, study
):
    hostile = "**Fine.**\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>"
    with FakeProvider("gemini", answer=hostile) as provider:
        consent = give_consent(client, patient, study, endpoint_for(provider))
        sending.send_consent(str(consent.id), sleep=no_sleep)
    answer = Answer.objects.get()
    scan_page = patient_client.get(f"/scans/{study.id}/").content.decode()
    assert f'href="/answers/{answer.id}/"' in scan_page

    page = patient_client.get(f"/answers/{answer.id}/").content.decode()
    assert "<strong>Fine.</strong>" in page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "not a diagnosis" in page
    assert "fake-vision-1" in page
    for kind in ("consent", "send"):
        url = f"/consents/{consent.id}/receipt/{kind}.json"
        assert url in page
        receipt = patient_client.get(url)
        assert receipt.status_code == 200
        assert receipt["Content-Disposition"].startswith("attachment")

    patient_client.post(f"/answers/{answer.id}/delete/")
    assert patient_client.get(f"/answers/{answer.id}/").status_code == 404


def test_another_patient_gets_404_on_every_consent_page(
    client, patient, other_patient, study, endpoint, openai_provider
):
    consent = give_consent(client, patient, study, endpoint)
    sending.send_consent(str(consent.id), sleep=no_sleep)
    answer = Answer.objects.get()
    req = consent.request
    image_id = req.prepared[0]["image_id"]
    client.force_login(other_patient)

    responses = [
        client.get(f"/scans/{study.id}/consent/"),
        client.get(f"/scans/{study.id}/consent/{req.id}/"),
        client.get(f"/scans/{study.id}/consent/{req.id}/images/{image_id}"),
        client.post(f"/scans/{study.id}/consent/{req.id}/accept/", {"agree": "yes"}),
        client.post(f"/consents/{consent.id}/withdraw/"),
        client.get(f"/consents/{consent.id}/receipt/consent.json"),
        client.get(f"/answers/{answer.id}/"),
        client.post(f"/answers/{answer.id}/delete/"),
    ]
    assert [r.status_code for r in responses] == [404] * len(responses)
    assert Answer.objects.get().answer_object is not None
