"""A clinician, a clinic admin and a patient who read German, French or Spanish read the clinic's
PACS pages in that language, and the hand-off e-mail reaches the patient in theirs.

GIVEN accounts set to a language, a study received from the PACS, handed to a patient with an
image the verifier held back, and an answer the patient shared WHEN they open the clinician's
home, inbox, study, shared answers, the node's settings and the patient's sharing page THEN no
English is left on them. Test data avoids English words (see tests/support/languages.py).
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import translation

from accounts.models import Role, User
from clinic.pacs.handoff import hand_off
from clinic.pacs.models import Share, Source, Study
from clinic.pacs.node import add_peer, issue_token
from clinic.pacs.receiving import receive_instance
from scans.models import Answer, Consent, ConsentRequest
from tests.support import builders
from tests.support.accounts import make_user, with_totp
from tests.support.languages import (
    ANSWERS,
    QUESTIONS,
    TRANSLATED,
    english_leftovers,
    signed_in_reading,
)
from tests.support.pacs import held_back_image
from tests.support.stored import stored_scan
from vault import get_vault

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("blob_dir")]

LANGUAGES = TRANSLATED
NAME = "Quillfeather^Ambrosine"
# Subject and opening of the hand-off e-mail in each language.
MAIL_WORDS = {
    "de": "Ihre Klinik hat Ihnen eine Aufnahme übergeben",
    "fr": "Votre clinique vous a remis un examen",
    "es": "Su clínica le ha entregado un estudio",
}


@pytest.fixture(params=LANGUAGES)
def language(request) -> str:
    return request.param


@pytest.fixture
def clinician(db) -> User:
    return with_totp(make_user("doctor@example.org", Role.CLINICIAN))


@pytest.fixture
def study() -> Study:
    uid = "1.2.826.0.1.3680043.8.498.7"
    for i in range(2):
        receive_instance(
            builders.make_dicom_bytes(
                StudyInstanceUID=uid, PatientName=NAME, InstanceNumber=i, StudyDescription="CT"
            ),
            source=Source.DIMSE,
        )
    return Study.objects.get()


@pytest.fixture
def shared(patient: User, language: str) -> Share:
    """An answer the patient shared, their question and the answer in their language."""
    stored = stored_scan(patient, answered_days_ago=0)
    vault = get_vault()
    question = vault.put_bytes(QUESTIONS[language].encode()).object_id
    consent = stored.scan.consents.get()
    ConsentRequest.objects.filter(pk=consent.request_id).update(question_object=question)
    Consent.objects.filter(pk=consent.pk).update(question_object=question)
    answer = vault.put_bytes(ANSWERS[language].encode()).object_id
    Answer.objects.filter(pk=stored.answer.pk).update(answer_object=answer)
    return Share.objects.create(answer=stored.answer, patient=patient)


def assert_in_language(response, language: str) -> str:
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    assert re.search(rf'<html[^>]* lang="{language}"', html)
    assert english_leftovers(html) == []
    return html


def test_the_clinician_s_home_inbox_and_study_are_in_their_language(
    clinician, study, patient, language
):
    handed = hand_off(study, patient.email, clinician=clinician)
    held_back_image(handed)
    reader = signed_in_reading(clinician, language)

    assert_in_language(reader.get(reverse("roles:clinician")), language)
    inbox = assert_in_language(reader.get(reverse("pacs:inbox")), language)
    detail = assert_in_language(reader.get(reverse("pacs:study", args=[study.pk])), language)

    assert "Quillfeather" in inbox and "Quillfeather" in detail  # the clinic's own record


def test_an_answer_shared_with_the_clinic_is_in_the_clinician_s_language(
    clinician, shared, language
):
    reader = signed_in_reading(clinician, language)

    assert_in_language(reader.get(reverse("pacs:shared")), language)
    html = assert_in_language(reader.get(reverse("pacs:shared_answer", args=[shared.pk])), language)
    assert QUESTIONS[language] in html


def test_the_patient_s_sharing_page_is_in_their_language(patient, shared, language):
    assert_in_language(signed_in_reading(patient, language).get(reverse("pacs:shares")), language)


def test_the_dicom_node_settings_are_in_the_clinic_admin_s_language(admin, language):
    add_peer("PACSZENTRAL", "192.0.2.10", admin=admin)
    issue_token("Zentral", admin=admin)

    assert_in_language(signed_in_reading(admin, language).get(reverse("pacs:node")), language)


def test_the_hand_off_e_mail_is_in_the_patient_s_language(
    clinician, study, patient, language, django_capture_on_commit_callbacks
):
    patient.language = language
    patient.save(update_fields=["language"])

    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        hand_off(study, patient.email, clinician=clinician)

    (message,) = mail.outbox
    assert MAIL_WORDS[language] in message.subject
    assert english_leftovers(message.body) == []


def test_without_a_language_of_their_own_the_patient_gets_the_clinician_s(
    clinician, study, patient, django_capture_on_commit_callbacks
):
    patient.language = ""
    patient.save(update_fields=["language"])

    with translation.override("fr"), django_capture_on_commit_callbacks(execute=True):
        hand_off(study, patient.email, clinician=clinician)

    (message,) = mail.outbox
    assert MAIL_WORDS["fr"] in message.subject


def test_a_hand_off_through_the_page_mails_the_patient_in_their_language(
    clinician, study, patient, django_capture_on_commit_callbacks
):
    patient.language = "es"
    patient.save(update_fields=["language"])
    reader = signed_in_reading(clinician, "de")

    with django_capture_on_commit_callbacks(execute=True):
        response = reader.post(reverse("pacs:handoff", args=[study.pk]), {"email": patient.email})

    assert response.status_code == 302
    (message,) = mail.outbox
    assert MAIL_WORDS["es"] in message.subject
