"""A patient who reads German, French or Spanish reads every page of their scans in that language.

GIVEN a patient whose account is set to a language, with real scans (de-identified by the
engine) in each state a patient meets -- ready for review with a flagged image, an image held
back by the verifier, a file that is not an image, still working, failed, answered -- WHEN they
open their pages THEN no English is left on them and the page says which language it is in.
Test data avoids English words (see tests/support/languages.py): the question is in the
patient's language and the planted names are made up.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import translation

from accounts.models import User
from gateway.errors import server_error
from scans import processing, sending
from scans.consent.selection import sendable_images
from scans.deid import non_images
from scans.models import Answer, Consent, ConsentRequest, Outcome, Scan, ScanImage, Status
from tests.support.consent import endpoint_for, upload_and_process
from tests.support.fakes import FakeProvider
from tests.support.languages import (
    ANSWERS,
    QUESTIONS,
    TRANSLATED,
    english_leftovers,
    signed_in_reading,
)
from tests.support.stored import stored_scan
from vault import get_vault

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("blob_dir")]

LANGUAGES = TRANSLATED
# What the verifier wrote when it held an image back (its words are data: a DICOM keyword).
HELD_BACK_REASON = "identifying value from PatientName found in the output (UTF-8)"


@pytest.fixture(params=LANGUAGES)
def language(request) -> str:
    return request.param


@pytest.fixture
def reader(patient: User, language: str) -> Client:
    return signed_in_reading(patient, language)


@pytest.fixture
def scan(client, patient) -> Scan:
    """A real study of three slices, de-identified by the engine, then as a patient meets one
    that needs care: a slice to check, a slice held back, and a report that is not an image."""
    scan = upload_and_process(client, patient, count=3)
    first, second, third = scan.images.order_by("position")
    pixels = first.report.get("pixels", {})
    first.needs_check = True
    first.report = {
        **first.report,
        "pixels": {
            **pixels,
            "review": {"needed": True, "reasons": [], "boxes": [[0, 2, 2, 8, 8, "unreadable"]]},
        },
    }
    first.save(update_fields=["needs_check", "report"])
    ScanImage.objects.filter(pk=second.pk).update(
        outcome=Outcome.QUARANTINED,
        reason=HELD_BACK_REASON,
        sanitized_object=None,
        preview_object=None,
    )
    report_sentence = non_images._KINDS[1][1]
    ScanImage.objects.filter(pk=third.pk).update(
        outcome=Outcome.NOT_IMAGE,
        reason=report_sentence,
        sanitized_object=None,
        preview_object=None,
    )
    return scan


def assert_in_language(response, language: str) -> str:
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    assert re.search(rf'<html[^>]* lang="{language}"', html)
    assert english_leftovers(html) == []
    return html


def test_the_scan_list_is_in_the_patient_s_language(reader, language, scan, patient):
    stored_scan(patient, status=Status.FAILED)
    answered(patient, language)

    assert_in_language(reader.get(reverse("scans:list")), language)


def test_a_scan_with_a_flagged_a_held_back_image_and_a_report_is_in_the_patient_s_language(
    reader, language, scan
):
    html = assert_in_language(reader.get(reverse("scans:detail", args=[scan.pk])), language)

    assert HELD_BACK_REASON in html  # the verifier's finding, as data, beside the sentences


@pytest.mark.parametrize(
    "status", [Status.DEIDENTIFYING, Status.FAILED, Status.NO_IMAGES, Status.SEND_FAILED]
)
def test_a_scan_in_each_state_is_in_the_patient_s_language(reader, language, patient, status):
    stored = stored_scan(patient, status=status)

    assert_in_language(reader.get(reverse("scans:detail", args=[stored.scan.pk])), language)


def answered(patient: User, language: str):
    """A scan with an answer; the question and the answer are in the patient's language."""
    stored = stored_scan(patient, answered_days_ago=0)
    vault = get_vault()
    question = vault.put_bytes(QUESTIONS[language].encode()).object_id
    consent = stored.scan.consents.get()
    ConsentRequest.objects.filter(pk=consent.request_id).update(question_object=question)
    Consent.objects.filter(pk=consent.pk).update(question_object=question)
    answer = vault.put_bytes(ANSWERS[language].encode()).object_id
    Answer.objects.filter(pk=stored.answer.pk).update(answer_object=answer)
    return stored


def test_an_answered_scan_and_its_answer_are_in_the_patient_s_language(reader, language, patient):
    stored = answered(patient, language)

    assert_in_language(reader.get(reverse("scans:detail", args=[stored.scan.pk])), language)
    assert_in_language(reader.get(reverse("consent:answer", args=[stored.answer.pk])), language)
    consent = stored.scan.consents.get()
    assert_in_language(reader.get(reverse("consent:receipt_page", args=[consent.pk])), language)


def test_the_removed_values_page_is_in_the_patient_s_language(reader, language, scan):
    html = assert_in_language(reader.get(reverse("scans:removed_values", args=[scan.pk])), language)

    assert "PatientName" in html  # keywords are data, shown as they are


def test_asking_and_reviewing_are_in_the_patient_s_language(reader, language, scan):
    with FakeProvider("openai") as provider:
        endpoint = endpoint_for(provider, data_use_note="")
        assert_in_language(reader.get(reverse("consent:ask", args=[scan.pk])), language)
        chosen = [str(image.pk) for image in sendable_images(scan)]
        response = reader.post(
            reverse("consent:ask", args=[scan.pk]),
            {
                "endpoint": str(endpoint.pk),
                "images": chosen,
                "question": QUESTIONS[language],
            },
        )
        assert response.status_code == 302, english_leftovers(response.content.decode())
        assert_in_language(reader.get(response["Location"]), language)


def test_a_refused_question_is_explained_in_the_patient_s_language(reader, language, scan):
    with FakeProvider("openai") as provider:
        endpoint = endpoint_for(provider, data_use_note="")
        response = reader.post(
            reverse("consent:ask", args=[scan.pk]),
            {
                "endpoint": str(endpoint.pk),
                "question": QUESTIONS[language],
            },
        )

    assert response.status_code == 400
    assert english_leftovers(response.content.decode()) == []


def test_deleting_a_scan_asks_in_the_patient_s_language(reader, language, scan):
    assert_in_language(reader.get(reverse("scans:delete", args=[scan.pk])), language)


def test_sharing_with_the_clinic_is_in_the_patient_s_language(reader, language, patient):
    answered(patient, language)

    assert_in_language(reader.get(reverse("pacs:shares")), language)


def test_the_start_page_follows_the_browser_s_language(client, language):
    response = client.get("/", headers={"accept-language": language})

    assert_in_language(response, language)


def test_pages_that_do_not_exist_or_are_not_open_say_so_in_the_patient_s_language(reader, language):
    missing = reader.get("/scans/00000000-0000-0000-0000-000000000000/")
    closed = reader.get(reverse("pacs:inbox"))

    for response, status in ((missing, 404), (closed, 403)):
        assert response.status_code == status
        html = response.content.decode()
        assert re.search(rf'<html[^>]* lang="{language}"', html)
        assert english_leftovers(html) == []


def test_the_server_error_page_is_in_the_reader_s_language(language):
    with translation.override(language):
        html = server_error(RequestFactory().get("/")).content.decode()

    assert english_leftovers(html) == []


def test_a_refused_upload_is_explained_in_the_patient_s_language(reader, language):
    """The intake library has no Django: its refusal is translated on the page it comes back to."""
    notes = SimpleUploadedFile("notizen.txt", b"Hallo Welt, keine Aufnahme." * 8)

    response = reader.post(reverse("scans:upload"), {"files": [notes]})

    assert response.status_code == 415
    html = response.content.decode()
    assert {"de": "Datei 1", "fr": "Le fichier 1", "es": "El archivo 1"}[language] in html
    assert english_leftovers(html) == []


def test_the_answer_is_ready_e_mail_is_in_the_patient_s_language(patient, language):
    patient.language = language
    patient.save(update_fields=["language"])
    stored = answered(patient, language)

    sending.notify_patient(stored.scan.pk)

    (message,) = mail.outbox
    assert english_leftovers(message.subject) == []
    assert english_leftovers(message.body) == []
    assert f"/scans/{stored.scan.pk}/" in message.body


def test_the_status_the_page_polls_for_is_in_the_patient_s_language(reader, language, patient):
    stored = stored_scan(patient, status=Status.FAILED)
    Scan.objects.filter(pk=stored.scan.pk).update(error_message=processing.FAILED_MESSAGE)

    status = reader.get(reverse("scans:status", args=[stored.scan.pk])).json()

    assert status["status"] == "failed"  # the code stays data
    assert english_leftovers(status["status_label"]) == []
    assert english_leftovers(status["error_message"]) == []
    assert status["error_message"] != processing.FAILED_MESSAGE
