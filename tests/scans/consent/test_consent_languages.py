"""A patient agrees to a consent text in the language they read: each language's text has its
own version and is hashed like the English one, and the consent records which language it was."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from audit.log import events
from scans.consent import text as consent_text
from scans.models import Consent
from tests.support.accounts import bearer
from tests.support.consent import accept_request

pytestmark = pytest.mark.django_db


def request_in(client, user, scan, endpoint, accept_language: str) -> dict:
    response = client.post(
        f"/api/v1/scans/{scan.id}/consent-requests",
        {"endpoint": str(endpoint.id), "question": "Was sehen Sie?"},
        content_type="application/json",
        headers={**bearer(user), "accept-language": accept_language},
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_a_german_patient_s_consent_records_german_and_the_german_text_s_hash(
    client, patient, study, endpoint
):
    created = request_in(client, patient, study, endpoint, "de-DE,de;q=0.9,en;q=0.5")
    consent = Consent.objects.get(pk=accept_request(client, patient, created))

    assert created["consent_language"] == consent.consent_language == "de"
    assert created["consent_text_version"] == consent_text.GERMAN.version
    assert consent.consent_text_version == consent_text.GERMAN.version
    assert consent.consent_text.startswith("Einwilligung, einen KI-Dienst")
    assert "3 de-identifizierte Bilder" in consent.consent_text
    assert consent.consent_text_sha256 == hashlib.sha256(
        consent.consent_text.encode("utf-8")
    ).hexdigest() == created["consent_text_sha256"]
    given = events(action="consent.given").get()
    assert given.details["consent_language"] == "de"
    assert given.details["consent_text_version"] == f"v{consent_text.GERMAN.version}"


@pytest.mark.parametrize(
    ("accept_language", "language", "opening"),
    [("fr-CH", "fr", "Consentement pour interroger"), ("es", "es", "Consentimiento para consultar"),
     ("ja", "en", "Consent to ask an AI service")],
)
def test_each_language_has_its_own_text_and_english_is_the_fallback(
    client, patient, study, endpoint, accept_language, language, opening
):
    created = request_in(client, patient, study, endpoint, accept_language)
    consent = Consent.objects.get(pk=accept_request(client, patient, created))

    assert consent.consent_language == language
    assert consent.consent_text.startswith(opening)
    assert consent.consent_text_version == consent_text.CONSENT_WORDINGS[language].version


def test_every_language_s_text_states_the_same_facts(endpoint):
    expires = datetime(2026, 12, 24, 18, 30, tzinfo=UTC)
    for language, wording in consent_text.CONSENT_WORDINGS.items():
        text = consent_text.render_consent_text(
            endpoint, image_count=2, manifest_sha256="f" * 64, expires_at=expires,
            language=language,
        )
        for fact in (endpoint.name, endpoint.host, endpoint.model, endpoint.protocol,
                     wording.version, "2026-12-24 18:30 UTC", "f" * 64,
                     str(consent_text.RETRIES_DISCLOSED), wording.many_images.format(count=2)):
            assert fact in text, (language, fact)
    versions = [wording.version for wording in consent_text.CONSENT_WORDINGS.values()]
    assert len(set(versions)) == len(versions)
