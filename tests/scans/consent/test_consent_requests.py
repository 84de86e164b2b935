"""Consent requests and acceptance: what the patient is shown is exactly what they agree to."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from audit.log import events
from audit.models import SignedTreeHead
from scans import hashing
from scans.consent import acceptance, questions
from scans.consent import text as consent_text
from scans.models import Consent, ConsentRequest, ImmutableContentError, Outcome, Status
from tests.support.accounts import bearer
from tests.support.consent import (
    MARKERS,
    accept_request,
    create_request,
    endpoint_for,
    give_consent,
)
from tests.support.workers import flush_broker

pytestmark = pytest.mark.django_db


def post_request(client, user, scan, endpoint, **body):
    return client.post(
        f"/api/v1/scans/{scan.id}/consent-requests",
        {"endpoint": str(endpoint.id), "question": "What do you see?", **body},
        content_type="application/json", headers=bearer(user),
    )


def post_accept(client, user, created, **overrides):
    body = {"consent_text_sha256": created["consent_text_sha256"],
            "manifest_sha256": created["manifest_sha256"], "affirm": True, **overrides}
    return client.post(f"/api/v1/consent-requests/{created['id']}/accept", body,
                       content_type="application/json", headers=bearer(user))


def test_a_request_shows_each_image_exactly_as_it_will_be_sent(client, patient, study, endpoint):
    created = create_request(client, patient, study, endpoint)

    manifest = json.loads(created["manifest"])
    assert hashlib.sha256(created["manifest"].encode()).hexdigest() == created["manifest_sha256"]
    assert created["manifest"] == hashing.canonical_json(manifest)
    assert manifest["endpoint"]["config_version"] == endpoint.config_version
    assert len(created["images"]) == len(manifest["images"]) == 3
    for shown, listed in zip(created["images"], manifest["images"], strict=True):
        response = client.get(shown["preview_url"], headers=bearer(patient))
        assert response.status_code == 200
        assert response["Content-Type"] == listed["mime"]
        assert hashlib.sha256(response.content).hexdigest() == listed["sha256"]
        assert len(response.content) == listed["bytes"]
    assert created["warnings"] == []
    assert events(action="consent.requested").count() == 1


def test_the_consent_text_names_the_endpoint_the_images_and_the_expiry(
    client, patient, study, endpoint
):
    created = create_request(client, patient, study, endpoint)

    text = created["consent_text"]
    assert hashlib.sha256(text.encode()).hexdigest() == created["consent_text_sha256"]
    for fact in (endpoint.name, endpoint.host, endpoint.model, "3 de-identified images",
                 endpoint.data_use_note, "ONE send", consent_text.CONSENT_TEXT_VERSION):
        assert fact in text
    expires = ConsentRequest.objects.get(pk=created["id"]).expires_at
    assert expires.strftime("%Y-%m-%d %H:%M UTC") in text
    assert timedelta(hours=23) < expires - timezone.now() <= timedelta(hours=24)


def test_the_default_selection_spreads_evenly_across_the_study_within_the_cap(
    client, patient, study, endpoint
):
    created = create_request(client, patient, study, endpoint)

    chosen = [item["image_id"] for item in created["images"]]
    positions = [study.images.get(pk=image_id).position for image_id in chosen]
    assert positions == [1, 3, 5]


def test_choosing_more_images_than_the_endpoint_takes_is_refused(client, patient, study, endpoint):
    ids = [str(image.id) for image in study.images.all()]
    response = post_request(client, patient, study, endpoint, image_ids=ids)

    assert response.status_code == 400
    assert "at most 3 images" in response.json()["detail"]


def test_a_quarantined_image_can_never_be_consented(client, patient, study, endpoint):
    image = study.images.first()
    study.images.filter(pk=image.pk).update(
        outcome=Outcome.QUARANTINED, sanitized_object=None, attestation=""
    )
    response = post_request(client, patient, study, endpoint, image_ids=[str(image.id)])

    assert response.status_code == 400
    assert response.json()["detail"] == (
        f"Image {image.position} was not made safe to share (quarantined), so it can never be sent."
    )
    default = create_request(client, patient, study, endpoint)
    assert str(image.id) not in [item["image_id"] for item in default["images"]]


def test_an_image_without_a_valid_attestation_is_refused(client, patient, study, endpoint):
    image = study.images.first()
    study.images.filter(pk=image.pk).update(attestation="f" * 64)
    response = post_request(client, patient, study, endpoint, image_ids=[str(image.id)])

    assert response.status_code == 400
    assert "no valid verification record" in response.json()["detail"]


def test_a_question_with_the_planted_name_needs_confirmation(client, patient, study, endpoint):
    question = "My name is Zyxwvut Qortimer, is my knee ok?"
    response = post_request(client, patient, study, endpoint, question=question)

    assert response.status_code == 409
    assert response.json()["warnings"] == [questions.NAME]
    assert "Edit the question, or confirm" in response.json()["detail"]
    assert not ConsentRequest.objects.exists()

    confirmed = post_request(
        client, patient, study, endpoint, question=question, confirm_identifiers=True
    )
    assert confirmed.status_code == 201
    assert confirmed.json()["warnings"] == [questions.NAME]
    (requested,) = events(action="consent.requested")
    assert requested.details["question_flagged"] is True
    assert requested.details["identifiers_confirmed"] is True


def test_a_question_with_the_planted_patient_id_is_flagged(client, patient, study, endpoint):
    response = post_request(
        client, patient, study, endpoint, question=f"Record {MARKERS['PatientID']}: thoughts?"
    )
    assert response.status_code == 409
    assert questions.SCAN_ID in response.json()["warnings"]


def test_accepting_records_an_immutable_consent_and_moves_the_scan_to_consented(
    client, patient, study, endpoint
):
    created = create_request(client, patient, study, endpoint)
    consent = Consent.objects.get(pk=accept_request(client, patient, created))

    assert consent.state == "active"
    assert consent.patient_pseudonym == patient.pseudonym
    assert consent.manifest == created["manifest"]
    assert consent.consent_text_sha256 == created["consent_text_sha256"]
    assert consent.endpoint_snapshot["config_version"] == endpoint.config_version
    assert consent.client_hash == acceptance.client_hash("203.0.113.9", "TestBrowser/1.0")
    assert "203.0.113.9" not in consent.client_hash
    study.refresh_from_db()
    assert study.status == Status.CONSENTED
    (given,) = events(action="consent.given")
    assert given.details["manifest_sha256"] == consent.manifest_sha256

    consent.manifest = "{}"
    with pytest.raises(ImmutableContentError):
        consent.save()
    consent.refresh_from_db()
    consent.state = "withdrawn"
    consent.save(update_fields=["state"])  # state may change; content may not


def test_acceptance_is_refused_without_affirmation_or_with_other_hashes(
    client, patient, study, endpoint
):
    created = create_request(client, patient, study, endpoint)

    assert post_accept(client, patient, created, affirm=False).status_code == 400
    assert post_accept(client, patient, created, manifest_sha256="0" * 64).status_code == 409
    assert post_accept(client, patient, created, consent_text_sha256="0" * 64).status_code == 409
    assert not Consent.objects.exists()
    study.refresh_from_db()
    assert study.status == Status.READY_FOR_REVIEW


def test_a_request_can_be_accepted_only_once(client, patient, study, endpoint):
    created = create_request(client, patient, study, endpoint)
    assert post_accept(client, patient, created).status_code == 201

    again = post_accept(client, patient, created)
    assert again.status_code == 409
    assert Consent.objects.count() == 1


def test_an_expired_request_cannot_be_accepted(client, patient, study, endpoint):
    created = create_request(client, patient, study, endpoint)
    ConsentRequest.objects.filter(pk=created["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = post_accept(client, patient, created)

    assert response.status_code == 409
    assert "expired" in response.json()["detail"]


def test_a_request_for_a_changed_endpoint_cannot_be_accepted(client, patient, study, endpoint):
    from forwarding.endpoints import update_endpoint

    created = create_request(client, patient, study, endpoint)
    update_endpoint(endpoint, data_use_note="Now we keep everything.")

    assert post_accept(client, patient, created).status_code == 409


def test_a_scan_already_consented_cannot_be_consented_again(
    client, patient, study, endpoint, openai_provider
):
    give_consent(client, patient, study, endpoint)
    response = post_request(client, patient, study, endpoint)

    assert response.status_code == 409


def test_the_ttl_comes_from_settings(client, patient, study, openai_provider, settings):
    settings.CONSENT_TTL_SECONDS = 600
    created = create_request(client, patient, study, endpoint_for(openai_provider))

    expires = ConsentRequest.objects.get(pk=created["id"]).expires_at
    assert timedelta(minutes=9) < expires - timezone.now() <= timedelta(minutes=10)


def test_withdrawal_is_refused_once_sending_has_started(client, patient, study, endpoint):
    from scans import sending

    consent = give_consent(client, patient, study, endpoint)
    sending.claim(consent)
    response = client.post(f"/api/v1/consents/{consent.id}/withdraw", headers=bearer(patient))

    assert response.status_code == 409
    assert Consent.objects.get(pk=consent.pk).state == "sending"


def test_accepting_asks_a_worker_to_sign_the_head_that_anchors_the_consent(
    client, patient, study, endpoint, django_capture_on_commit_callbacks
):
    """GIVEN web, which holds no audit signing key in production
    WHEN a consent is accepted THEN no head is signed in the web process, and a signing task
    (no arguments, nothing of the patient) is on the broker once the consent commits."""
    flush_broker()
    created = create_request(client, patient, study, endpoint)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            accept_request(client, patient, created)
        assert not SignedTreeHead.objects.exists()
        queued = [
            json.loads(raw)
            for raw in redis.Redis.from_url(settings.CELERY_BROKER_URL).lrange("default", 0, -1)
        ]
    finally:
        flush_broker()
    signing = [m for m in queued if m["headers"]["task"] == "scans.tasks.sign_audit_tree_head"]
    assert len(signing) == 1
    assert signing[0]["headers"]["argsrepr"] == "()"


def test_behind_the_proxy_the_consent_records_the_patients_address_not_the_proxys(
    client, patient, study, endpoint, settings
):
    """GIVEN the gateway behind one trusted proxy WHEN a patient consents through it THEN the
    consent's client hash is of the address the proxy saw, not of the proxy itself."""
    settings.TRUSTED_PROXY_COUNT = 1
    created = create_request(client, patient, study, endpoint)
    response = client.post(
        f"/api/v1/consent-requests/{created['id']}/accept",
        {"consent_text_sha256": created["consent_text_sha256"],
         "manifest_sha256": created["manifest_sha256"], "affirm": True},
        content_type="application/json", headers=bearer(patient),
        REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7",
        HTTP_USER_AGENT="TestBrowser/1.0",
    )
    assert response.status_code == 201, response.content
    consent = Consent.objects.get(pk=response.json()["consent_id"])
    assert consent.client_hash == acceptance.client_hash("198.51.100.7", "TestBrowser/1.0")
    assert consent.client_hash != acceptance.client_hash("10.0.0.2", "TestBrowser/1.0")
