"""Sending: exactly the consented bytes, at most once, and never without a live consent."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from audit.log import events, sign_head, verify_log
from audit.models import AuditEntry
from forwarding.endpoints import disable_endpoint, update_endpoint
from scans import hashing, sending
from scans.consent import expiry, withdrawal
from scans.models import Answer, Consent, ConsentRequest, ConsentState, ScanImage, Status
from tests.support.blobs import blob_of, replace_blob
from tests.support.consent import (
    API_KEY,
    MARKER_STRINGS,
    QUESTION,
    create_request,
    endpoint_for,
    everything_in,
    give_consent,
    no_sleep,
)
from tests.support.fakes import FakeProvider, images_in, question_in, success_body
from tests.support.tampering import tamper
from vault import get_vault

pytestmark = pytest.mark.django_db


def state_of(consent: Consent) -> str:
    return Consent.objects.get(pk=consent.pk).state


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
def test_the_provider_receives_exactly_the_consented_images_and_nothing_planted(
    client, patient, study, protocol
):
    with FakeProvider(protocol, answer="Looks **fine**.") as provider:
        endpoint = endpoint_for(provider)
        consent = give_consent(client, patient, study, endpoint)
        sending.send_consent(str(consent.id), sleep=no_sleep)

        (request,) = provider.wait_for_requests(1)
    manifest = json.loads(consent.manifest)
    received = images_in(protocol, request)
    assert [hashlib.sha256(data).hexdigest() for data, _ in received] == [
        image["sha256"] for image in manifest["images"]
    ]
    assert [mime for _, mime in received] == [image["mime"] for image in manifest["images"]]
    assert question_in(protocol, request) == QUESTION
    assert hashlib.sha256(QUESTION.encode()).hexdigest() == manifest["question_sha256"]
    blob = everything_in(request)
    for marker in MARKER_STRINGS:
        assert marker.encode() not in blob, marker
        assert marker.upper().encode() not in blob.upper(), marker
    assert state_of(consent) == ConsentState.SENT
    study.refresh_from_db()
    assert study.status == Status.ANSWERED
    answer = Answer.objects.get(consent=consent)
    # Sealed with its HTML, rendered once on arrival; the hash is the answer text's.
    stored = json.loads(get_vault().read_bytes(answer.answer_object))
    assert stored["markdown"] == "Looks **fine**."
    assert stored["html"] == "<p>Looks <strong>fine</strong>.</p>\n"
    assert answer.sha256 == hashlib.sha256(b"Looks **fine**.").hexdigest()


def test_nothing_is_sent_for_a_request_that_was_never_accepted(
    client, patient, study, endpoint, openai_provider
):
    created = create_request(client, patient, study, endpoint)
    sending.send_consent(created["id"], sleep=no_sleep)  # a request id is not a consent
    expiry.expire_stale_consents()

    assert openai_provider.requests == []
    assert not Consent.objects.exists()
    study.refresh_from_db()
    assert study.status == Status.READY_FOR_REVIEW


def test_nothing_is_sent_after_withdrawal(client, patient, study, endpoint, openai_provider):
    consent = give_consent(client, patient, study, endpoint)
    withdrawal.withdraw(consent, patient)
    sending.send_consent(str(consent.id), sleep=no_sleep)

    assert openai_provider.requests == []
    assert state_of(consent) == ConsentState.WITHDRAWN
    study.refresh_from_db()
    assert study.status == Status.READY_FOR_REVIEW
    assert events(action="consent.withdrawn", object_id=str(consent.id)).count() == 1


def test_a_consent_past_its_expiry_is_never_sent_and_becomes_expired(
    client, patient, study, endpoint, openai_provider
):
    consent = give_consent(client, patient, study, endpoint)
    Consent.objects.filter(pk=consent.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    sending.send_consent(str(consent.id), sleep=no_sleep)

    assert openai_provider.requests == []
    assert state_of(consent) == ConsentState.EXPIRED
    study.refresh_from_db()
    assert study.status == Status.READY_FOR_REVIEW
    assert events(action="consent.expired", object_id=str(consent.id)).count() == 1


def test_the_sweeper_expires_stale_consents_once(client, patient, study, endpoint):
    consent = give_consent(client, patient, study, endpoint)
    assert expiry.expire_stale_consents() == 0
    Consent.objects.filter(pk=consent.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert expiry.expire_stale_consents() == 1
    assert expiry.expire_stale_consents() == 0
    assert state_of(consent) == ConsentState.EXPIRED


def test_running_the_send_twice_sends_one_request(
    client, patient, study, endpoint, openai_provider
):
    consent = give_consent(client, patient, study, endpoint)
    sending.send_consent(str(consent.id), sleep=no_sleep)
    sending.send_consent(str(consent.id), sleep=no_sleep)

    assert len(openai_provider.requests) == 1
    assert state_of(consent) == ConsentState.SENT
    assert Answer.objects.filter(consent=consent).count() == 1


def test_a_run_that_finds_the_consent_mid_send_marks_it_outcome_unknown_and_does_not_resend(
    client, patient, study, endpoint, openai_provider
):
    """GIVEN a worker claimed the consent and died (the request may have left)
    WHEN the message is delivered again
    THEN nothing is sent, the consent is outcome_unknown and the patient is told plainly."""
    consent = give_consent(client, patient, study, endpoint)
    assert sending.claim(consent) is not None  # the dead worker's claim

    # While the claim is young its sender may be mid-request: a duplicate message waits.
    sending.send_consent(str(consent.id), sleep=no_sleep)
    assert state_of(consent) == ConsentState.SENDING
    # Past the longest time a live sender takes, the sender is presumed dead.
    Consent.objects.filter(pk=consent.pk).update(
        state_changed_at=timezone.now() - timedelta(hours=1)
    )
    sending.send_consent(str(consent.id), sleep=no_sleep)
    sending.send_consent(str(consent.id), sleep=no_sleep)

    assert openai_provider.requests == []
    assert state_of(consent) == ConsentState.OUTCOME_UNKNOWN
    study.refresh_from_db()
    assert study.status == Status.SEND_FAILED
    assert study.error_message == (
        f"We could not confirm whether your images reached {endpoint.name}. They were not sent "
        "again. You can give a new consent to try again."
    )
    (outcome,) = events(action="send.outcome", object_id=str(consent.id))
    assert outcome.details["outcome"] == "outcome_unknown"


def test_a_prepared_image_changed_in_the_vault_is_refused(
    client, patient, study, endpoint, openai_provider
):
    consent = give_consent(client, patient, study, endpoint)
    vault = get_vault()
    first, second = list(consent.prepared_objects.values())[:2]
    # Swap in another sealed object's blob: the vault refuses it (its AEAD binds the id).
    replace_blob(vault, uuid.UUID(first), blob_of(vault, uuid.UUID(second)))
    sending.send_consent(str(consent.id), sleep=no_sleep)

    assert openai_provider.requests == []
    assert_refused(consent, study, "vault_unreadable")


def test_a_manifest_edited_in_the_database_is_refused(
    client, patient, study, endpoint, openai_provider
):
    consent = give_consent(client, patient, study, endpoint)
    manifest = json.loads(consent.manifest)
    manifest["images"] = manifest["images"][:1]
    edited = hashing.canonical_json(manifest)
    # Even with a matching hash, the append-only audit entry still holds the consented one.
    Consent.objects.filter(pk=consent.pk).update(
        manifest=edited, manifest_sha256=hashlib.sha256(edited.encode()).hexdigest()
    )
    sending.send_consent(str(consent.id), sleep=no_sleep)

    assert openai_provider.requests == []
    assert_refused(consent, study, "consent_record_mismatch")


def test_a_rewritten_audit_log_stops_the_send(client, patient, study, endpoint, openai_provider):
    """GIVEN a consent anchored by a signed tree head
    WHEN someone with database rights rewrites the log's history before the sender runs
    THEN nothing is sent: signing a new head no longer extends the old one."""
    consent = give_consent(client, patient, study, endpoint)
    sign_head()  # what the worker's signing task does after the consent commits
    given = AuditEntry.objects.get(action="consent.given", object_id=str(consent.id))
    tamper(("UPDATE audit_auditentry SET leaf_hash = %s WHERE seq = %s", ["00" * 32, given.seq]))

    sending.send_consent(str(consent.id), sleep=no_sleep)

    assert openai_provider.requests == []
    assert_refused(consent, study, "audit_log_broken")


def test_a_prepared_image_replaced_by_another_valid_object_is_refused(
    client, patient, study, endpoint, openai_provider
):
    consent = give_consent(client, patient, study, endpoint)
    other = get_vault().put_bytes(b"\x89PNG not what the patient saw")
    objects = dict(consent.prepared_objects)
    objects[next(iter(objects))] = str(other.object_id)
    Consent.objects.filter(pk=consent.pk).update(prepared_objects=objects)
    sending.send_consent(str(consent.id), sleep=no_sleep)

    assert openai_provider.requests == []
    assert_refused(consent, study, "prepared_changed")


def test_an_image_whose_attestation_is_wrong_is_refused(
    client, patient, study, endpoint, openai_provider
):
    consent = give_consent(client, patient, study, endpoint)
    image_id = json.loads(consent.manifest)["images"][0]["image_id"]
    ScanImage.objects.filter(pk=image_id).update(attestation="0" * 64)
    sending.send_consent(str(consent.id), sleep=no_sleep)

    assert openai_provider.requests == []
    assert_refused(consent, study, "attestation_invalid")


def test_an_endpoint_changed_since_consent_is_refused(
    client, patient, study, endpoint, openai_provider
):
    consent = give_consent(client, patient, study, endpoint)
    update_endpoint(endpoint, model="another-model")
    sending.send_consent(str(consent.id), sleep=no_sleep)

    assert openai_provider.requests == []
    assert_refused(consent, study, "endpoint_changed")


def test_a_disabled_endpoint_is_refused(client, patient, study, endpoint, openai_provider):
    consent = give_consent(client, patient, study, endpoint)
    disable_endpoint(endpoint.id)
    sending.send_consent(str(consent.id), sleep=no_sleep)

    assert openai_provider.requests == []
    assert_refused(consent, study, "endpoint_disabled")


def test_retries_on_500_and_429_with_retry_after_end_answered_with_the_attempts_recorded(
    client, patient, study, endpoint, openai_provider
):
    openai_provider.respond((500, {}, b"{}"), (429, {"Retry-After": "7"}, b"{}"))
    waits: list[float] = []
    consent = give_consent(client, patient, study, endpoint)
    sending.send_consent(str(consent.id), sleep=waits.append)

    assert len(openai_provider.requests) == 3
    assert waits[1] == 7.0  # the server's Retry-After was honoured
    consent.refresh_from_db()
    assert (consent.state, consent.attempts, consent.last_status) == (ConsentState.SENT, 3, 200)
    attempts = events(action="send.attempt", object_id=str(consent.id))
    assert [entry.details["attempt"] for entry in attempts] == [1, 2, 3]
    study.refresh_from_db()
    assert study.status == Status.ANSWERED


def test_a_permanent_500_ends_send_failed_with_a_readable_message(
    client, patient, study, endpoint, openai_provider
):
    openai_provider.respond(*[(500, {}, b"{}")] * 4)
    consent = give_consent(client, patient, study, endpoint)
    sending.send_consent(str(consent.id), sleep=no_sleep)

    assert len(openai_provider.requests) == 4
    consent.refresh_from_db()
    assert (consent.state, consent.last_status) == (ConsentState.SEND_FAILED, 500)
    study.refresh_from_db()
    assert study.status == Status.SEND_FAILED
    assert study.error_message.startswith("The AI service had a problem on its side")
    (outcome,) = events(action="send.outcome", object_id=str(consent.id))
    assert outcome.details | {"scan_id": None} == {
        "outcome": "send_failed",
        "reason": "send_failed",
        "status": 500,
        "attempts": 4,
        "scan_id": None,
    }


def test_trying_again_needs_a_fresh_consent(client, patient, study, endpoint, openai_provider):
    openai_provider.respond(*[(500, {}, b"{}")] * 4)
    failed = give_consent(client, patient, study, endpoint)
    sending.send_consent(str(failed.id), sleep=no_sleep)
    sending.send_consent(str(failed.id), sleep=no_sleep)
    assert len(openai_provider.requests) == 4  # the used-up consent is not sent again

    fresh = give_consent(client, patient, study, endpoint)
    sending.send_consent(str(fresh.id), sleep=no_sleep)

    assert len(openai_provider.requests) == 5
    assert state_of(fresh) == ConsentState.SENT
    study.refresh_from_db()
    assert study.status == Status.ANSWERED


def test_an_unreadable_answer_ends_send_failed(client, patient, study, endpoint, openai_provider):
    openai_provider.respond((200, {}, b"not json"))
    consent = give_consent(client, patient, study, endpoint)
    sending.send_consent(str(consent.id), sleep=no_sleep)

    assert state_of(consent) == ConsentState.SEND_FAILED
    study.refresh_from_db()
    assert "could not read" in study.error_message


def test_the_patient_is_emailed_a_link_and_nothing_medical(
    client,
    patient,
    study,
    endpoint,
    openai_provider,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.PUBLIC_URL = "https://gateway.example.org"
    consent = give_consent(client, patient, study, endpoint)
    with django_capture_on_commit_callbacks(execute=True):
        sending.send_consent(str(consent.id), sleep=no_sleep)

    (message,) = mail.outbox
    assert message.to == [patient.email]
    assert f"https://gateway.example.org/scans/{study.id}/" in message.body
    answer_text = json.loads(success_body("openai"))["choices"][0]["message"]["content"]
    for secret in (answer_text, QUESTION, endpoint.model):
        assert secret not in message.body
        assert secret not in message.subject


def test_the_audit_trail_records_each_step_without_patient_data(
    client, patient, study, endpoint, openai_provider
):
    openai_provider.respond((503, {}, b"{}"))
    consent = give_consent(client, patient, study, endpoint)
    sending.send_consent(str(consent.id), sleep=no_sleep)

    actions = [entry.action for entry in events(action="consent.")] + [
        entry.action for entry in events(action="send.")
    ]
    assert actions == [
        "consent.requested",
        "consent.given",
        "send.attempt",
        "send.attempt",
        "send.outcome",
    ]
    dumped = json.dumps([entry.canonical_fields() for entry in events()])
    for secret in [
        *MARKER_STRINGS,
        QUESTION,
        "fine",
        API_KEY,
        patient.email,
        "203.0.113.9",
        "TestBrowser",
    ]:
        assert secret not in dumped
    assert verify_log().ok


def assert_refused(consent: Consent, study, reason: str) -> None:
    consent.refresh_from_db()
    assert (consent.state, consent.failure_reason) == (ConsentState.REFUSED, reason)
    study.refresh_from_db()
    assert study.status == Status.SEND_FAILED
    assert study.error_message == sending.REFUSED_MESSAGE
    (outcome,) = events(action="send.outcome", object_id=str(consent.id))
    assert outcome.details["reason"] == reason


def test_a_request_that_expired_unaccepted_has_its_prepared_data_shredded(
    client, patient, study, endpoint
):
    created = create_request(client, patient, study, endpoint)
    req = ConsentRequest.objects.get(pk=created["id"])
    ConsentRequest.objects.filter(pk=req.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert expiry.discard_expired_requests() == 1
    vault = get_vault()
    for object_id in [req.question_object, *(item["object_id"] for item in req.prepared)]:
        assert not vault.exists(object_id)
    assert expiry.discard_expired_requests() == 0


@pytest.mark.slow
def test_a_provider_that_never_answers_in_time_is_retried_a_bounded_number_of_times(
    client, patient, study, endpoint, openai_provider
):
    """GIVEN a provider that holds every reply past the endpoint's timeout
    WHEN the consent is sent
    THEN each attempt times out, the retries stop at the limit, and the scan ends send_failed."""
    import threading

    from tests.support.fakes import blocking_reply

    release = threading.Event()
    update_endpoint(endpoint, timeout_seconds=1)
    openai_provider.respond(
        *[blocking_reply(release, (200, {}, success_body("openai", "late")))] * 4
    )
    consent = give_consent(client, patient, study, endpoint)
    try:
        sending.send_consent(str(consent.id), sleep=no_sleep)
    finally:
        release.set()

    assert len(openai_provider.requests) == 4  # bounded: the retry limit, never more
    consent.refresh_from_db()
    assert consent.state == ConsentState.SEND_FAILED
    assert consent.last_status is None  # no answer ever arrived
    study.refresh_from_db()
    assert study.status == Status.SEND_FAILED
    assert not Answer.objects.filter(consent=consent).exists()
