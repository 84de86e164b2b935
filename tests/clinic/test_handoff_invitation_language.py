"""A patient invited by a hand-off reads the invitation in the clinician's language, or in the
language the clinician chose for them on the hand-off form.

GIVEN a study from the PACS and a clinician whose account reads German, French or Spanish,
WHEN they hand it to an address nobody uses yet THEN the invitation (subject, body, the role's
name) is in that language with no English left, or in the language picked on the form; the
code and the link are in it unchanged. A patient who already has an account and no language
of their own gets the hand-off mail in the language picked too; their own language still wins.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import Role, User
from clinic.pacs.models import Source, Study
from clinic.pacs.receiving import receive_instance
from tests.support import builders
from tests.support.accounts import make_user, with_totp
from tests.support.languages import english_leftovers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("blob_dir")]

LANGUAGES = ["de", "fr", "es"]
INVITED = {
    "de": "Sie wurden zum Aufnahme-Gateway eingeladen",
    "fr": "Vous êtes invité sur la passerelle d'examens",
    "es": "Ha sido invitado a la pasarela de estudios",
}
HANDED = {
    "de": "Ihre Klinik hat Ihnen eine Aufnahme übergeben",
    "fr": "Votre clinique vous a remis un examen",
    "es": "Su clínica le ha entregado un estudio",
}
NEW_ADDRESS = "neu.patientin@example.org"


@pytest.fixture(params=LANGUAGES)
def language(request) -> str:
    return request.param


@pytest.fixture
def study() -> Study:
    uid = "1.2.826.0.1.3680043.8.498.9"
    for i in range(2):
        receive_instance(
            builders.make_dicom_bytes(
                StudyInstanceUID=uid, PatientName="Quillfeather^Ambrosine", InstanceNumber=i
            ),
            source=Source.DIMSE,
        )
    return Study.objects.get()


def clinician_reading(language: str) -> Client:
    clinician = with_totp(make_user("doctor@example.org", Role.CLINICIAN))
    clinician.language = language
    clinician.save(update_fields=["language"])
    client = Client()
    client.force_login(clinician)
    return client


def hand_over(client: Client, study: Study, email: str, capture, **form) -> None:
    with capture(execute=True):
        response = client.post(reverse("pacs:handoff", args=[study.pk]), {"email": email, **form})
    assert response.status_code == 302


def test_the_invitation_is_in_the_clinician_s_language(
    study, language, django_capture_on_commit_callbacks
):
    clinician = clinician_reading(language)

    hand_over(clinician, study, NEW_ADDRESS, django_capture_on_commit_callbacks)

    (invitation,) = mail.outbox
    assert invitation.to == [NEW_ADDRESS]
    assert INVITED[language] in invitation.subject
    assert english_leftovers(f"<p>{invitation.subject}</p><p>{invitation.body}</p>") == []
    assert reverse("clinic:invitation") in invitation.body


def test_the_invitation_is_in_the_language_picked_on_the_form(
    study, language, django_capture_on_commit_callbacks
):
    picked = {"de": "es", "fr": "de", "es": "fr"}[language]
    clinician = clinician_reading(language)

    hand_over(clinician, study, NEW_ADDRESS, django_capture_on_commit_callbacks, language=picked)

    (invitation,) = mail.outbox
    assert INVITED[picked] in invitation.subject
    assert english_leftovers(f"<p>{invitation.body}</p>") == []
    # The picked language is for the mail only: the new account has not chosen one yet.
    assert User.objects.get(email=NEW_ADDRESS).language == ""


def test_a_language_the_site_does_not_speak_falls_back_to_the_clinician_s(
    study, django_capture_on_commit_callbacks
):
    clinician = clinician_reading("fr")

    hand_over(clinician, study, NEW_ADDRESS, django_capture_on_commit_callbacks, language="xx")

    (invitation,) = mail.outbox
    assert INVITED["fr"] in invitation.subject


def test_a_patient_without_a_language_gets_the_hand_off_mail_in_the_picked_one(
    study, patient, django_capture_on_commit_callbacks
):
    patient.language = ""
    patient.save(update_fields=["language"])
    clinician = clinician_reading("de")

    hand_over(clinician, study, patient.email, django_capture_on_commit_callbacks, language="es")

    (message,) = mail.outbox
    assert HANDED["es"] in message.subject


def test_the_patient_s_own_language_wins_over_the_picked_one(
    study, patient, django_capture_on_commit_callbacks
):
    patient.language = "fr"
    patient.save(update_fields=["language"])
    clinician = clinician_reading("de")

    hand_over(clinician, study, patient.email, django_capture_on_commit_callbacks, language="es")

    (message,) = mail.outbox
    assert HANDED["fr"] in message.subject


def test_the_hand_off_form_offers_the_languages_with_the_clinician_s_chosen(study, language):
    page = clinician_reading(language).get(reverse("pacs:study", args=[study.pk]))

    html = page.content.decode()
    assert 'name="language"' in html
    assert f'<option value="{language}" lang="{language}" selected>' in html
    assert english_leftovers(html) == []
