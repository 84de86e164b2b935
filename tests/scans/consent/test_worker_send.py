"""Sending on a real Celery worker process, over the real Redis broker and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from scans.models import Consent, ConsentState, Scan, Status
from scans.tasks import send_consent
from tests.support.consent import endpoint_for, give_consent
from tests.support.fakes import FakeProvider, blocking_reply, success_body
from tests.support.waiting import wait_until
from tests.support.workers import Worker, flush_broker, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def state_of(consent_id) -> str:
    return Consent.objects.get(pk=consent_id).state


@pytest.mark.slow
def test_a_consent_given_in_the_api_is_sent_by_the_worker_and_answered(
    client, patient, study
):
    with FakeProvider("openai") as provider:
        endpoint = endpoint_for(provider)
        flush_broker()
        worker = Worker(worker_env()).start()
        try:
            consent = give_consent(client, patient, study, endpoint)  # enqueued after commit
            wait_until(lambda: state_of(consent.id) == ConsentState.SENT, timeout=120,
                       what="the worker to send the consent")
        finally:
            worker.stop()
        assert len(provider.requests) == 1
    assert Scan.objects.get(pk=study.pk).status == Status.ANSWERED


@pytest.mark.slow
def test_a_worker_killed_mid_send_leaves_outcome_unknown_and_nothing_is_sent_twice(
    client, patient, study
):
    """GIVEN a worker whose request is in flight at the provider
    WHEN the worker is killed and the message is delivered to a new worker
    THEN exactly one request reached the provider and the consent is outcome_unknown."""
    release = threading.Event()
    workers: list[Worker] = []
    with FakeProvider("openai") as provider:
        provider.respond(blocking_reply(release, (200, {}, success_body("openai"))))
        endpoint = endpoint_for(provider, timeout_seconds=120)
        flush_broker()
        try:
            workers.append(Worker(worker_env()).start())
            consent = give_consent(client, patient, study, endpoint)
            provider.wait_for_requests(1, timeout=120)
            assert state_of(consent.id) == ConsentState.SENDING

            workers[0].kill()  # SIGKILL while the request is in flight
            workers.append(Worker(worker_env()).start())
            # Time passes beyond the longest a live sender could take; then the redelivery.
            Consent.objects.filter(pk=consent.id).update(
                state_changed_at=timezone.now() - timedelta(hours=1)
            )
            send_consent.delay(str(consent.id))  # the redelivery
            wait_until(lambda: state_of(consent.id) == ConsentState.OUTCOME_UNKNOWN,
                       timeout=120, what="the new worker to settle the consent")
        finally:
            release.set()
            for worker in workers:
                worker.stop()
        assert len(provider.requests) == 1
    scan = Scan.objects.get(pk=study.pk)
    assert scan.status == Status.SEND_FAILED
    assert "They were not sent again" in scan.error_message
