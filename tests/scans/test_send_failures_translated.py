"""A send that failed is explained in the patient's language, whatever made it fail.

GIVEN a patient whose account is set to German, French or Spanish, who consented to send a real
de-identified scan, WHEN the send fails -- the egress guard refuses where the endpoint points
to, the endpoint answers with an error or something unreadable, or every retry is used up --
THEN the scan page explains it in the patient's language, with no English left. The worker
stores the sentence in English (it has no reader); the page translates it when it is shown.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from forwarding import egress, protocols, retry
from scans import sending
from scans.models import Scan, Status
from tests.support.consent import endpoint_for, give_consent, no_sleep, upload_and_process
from tests.support.fakes import FakeProvider, redirect_to
from tests.support.languages import QUESTIONS, TRANSLATED, english_leftovers, signed_in_reading

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("blob_dir")]

ERROR = {"Content-Type": "application/json"}
EVERY_ATTEMPT = sending.RETRIES_DISCLOSED + 1


@pytest.fixture(params=TRANSLATED)
def language(request) -> str:
    return request.param


@pytest.fixture
def reader(patient: User, language: str) -> Client:
    return signed_in_reading(patient, language)


def failed_send(client, patient: User, language: str, provider: FakeProvider, **endpoint) -> Scan:
    scan = upload_and_process(client, patient, count=2)
    consent = give_consent(
        client,
        patient,
        scan,
        endpoint_for(provider, data_use_note="", **endpoint),
        question=QUESTIONS[language],
    )
    sending.send_consent(str(consent.pk), sleep=no_sleep)
    scan.refresh_from_db()
    assert scan.status == Status.SEND_FAILED
    return scan


def assert_explained_in(reader: Client, scan: Scan, language: str, english: str) -> None:
    response = reader.get(reverse("scans:detail", args=[scan.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'lang="{language}"' in html
    assert english_leftovers(html) == []
    assert english not in html


def test_a_send_the_egress_guard_refused_is_explained(client, patient, reader, language):
    with FakeProvider("openai") as provider:
        # Redirects are never followed: the guard refuses the cloud metadata address it names.
        provider.respond(redirect_to("http://169.254.169.254/latest/meta-data/"))
        scan = failed_send(client, patient, language, provider)

    assert scan.error_message == egress.REFUSED_MESSAGE
    assert_explained_in(reader, scan, language, egress.REFUSED_MESSAGE)


@pytest.mark.parametrize(
    ("status", "message"),
    [(400, retry.REJECTED_MESSAGE), (401, retry.CREDENTIALS_MESSAGE)],
)
def test_a_send_the_endpoint_answered_with_an_error_is_explained(
    client, patient, reader, language, status, message
):
    with FakeProvider("openai") as provider:
        provider.respond((status, ERROR, b"{}"))
        scan = failed_send(client, patient, language, provider)

    assert scan.error_message == message
    assert_explained_in(reader, scan, language, message)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>gateway timeout</html>", protocols.UNREADABLE_ANSWER),
        (
            json.dumps({"choices": [{"message": {"refusal": "no", "content": None}}]}).encode(),
            protocols.DECLINED_ANSWER,
        ),
    ],
)
def test_an_answer_that_cannot_be_shown_is_explained(
    client, patient, reader, language, body, message
):
    with FakeProvider("openai") as provider:
        provider.respond((200, ERROR, body))
        scan = failed_send(client, patient, language, provider)

    assert scan.error_message == message
    assert_explained_in(reader, scan, language, message)


@pytest.mark.parametrize(
    ("status", "message"), [(503, retry.FAILING_MESSAGE), (429, retry.BUSY_MESSAGE)]
)
def test_a_send_that_used_up_its_retries_is_explained(
    client, patient, reader, language, status, message
):
    with FakeProvider("openai") as provider:
        provider.respond(*[(status, ERROR, b"{}")] * EVERY_ATTEMPT)
        scan = failed_send(client, patient, language, provider)
        assert len(provider.requests) == EVERY_ATTEMPT

    assert scan.error_message == message
    assert_explained_in(reader, scan, language, message)


def test_an_endpoint_that_cannot_be_reached_is_explained(client, patient, reader, language):
    with FakeProvider("openai") as provider:
        pass  # stopped: its port now refuses connections, on every attempt
    scan = failed_send(client, patient, language, provider)

    assert scan.error_message == egress.UNREACHABLE_MESSAGE
    assert_explained_in(reader, scan, language, egress.UNREACHABLE_MESSAGE)
