"""Answers, receipts and who may see them: a patient sees only their own, everything else 404."""

from __future__ import annotations

import json

import pytest

from audit import merkle
from audit.log import events, public_key_pem
from scans import sending
from scans.models import Answer
from tests.support.accounts import bearer
from tests.support.consent import create_request, endpoint_for, give_consent, no_sleep
from tests.support.fakes import FakeProvider
from vault import UnknownObjectError, get_vault

pytestmark = pytest.mark.django_db

HOSTILE_ANSWER = (
    "## What I see\n\nNothing **alarming**.\n\n<script>alert('x')</script>\n\n"
    '<img src="x" onerror="alert(1)">\n\n![tracker](https://tracker.example/p.png)\n\n'
    "[a link](javascript:alert(1)) and [a source](https://example.org/info)\n"
)


@pytest.fixture
def answered(client, patient, study):
    with FakeProvider("anthropic", answer=HOSTILE_ANSWER) as provider:
        endpoint = endpoint_for(provider)
        consent = give_consent(client, patient, study, endpoint)
        sending.send_consent(str(consent.id), sleep=no_sleep)
    return consent, Answer.objects.get(consent=consent)


def test_the_answer_markdown_is_rendered_without_scripts_images_or_handlers(
    client, patient, study, answered
):
    response = client.get(f"/api/v1/scans/{study.id}/answers", headers=bearer(patient))

    assert response.status_code == 200
    (answer,) = response.json()
    assert answer["markdown"] == HOSTILE_ANSWER
    html = answer["html"]
    assert "<h2>What I see</h2>" in html
    assert "<strong>alarming</strong>" in html
    assert "<script" not in html
    assert "<img" not in html
    # No link at all: a link's text is shown with its address beside it, as plain text.
    assert "href" not in html
    assert 'a source <span class="address">(https://example.org/info)</span>' in html
    assert "not a diagnosis" in answer["disclaimer"]
    assert events(action="answer.viewed", object_id=answer["id"]).count() == 1


def test_deleting_an_answer_shreds_its_text(client, patient, study, answered):
    _consent, answer = answered
    response = client.delete(f"/api/v1/answers/{answer.id}", headers=bearer(patient))

    assert response.status_code == 204
    with pytest.raises(UnknownObjectError):
        get_vault().read_bytes(answer.answer_object)
    assert client.get(f"/api/v1/answers/{answer.id}", headers=bearer(patient)).status_code == 404
    assert client.get(f"/api/v1/scans/{study.id}/answers", headers=bearer(patient)).json() == []
    assert events(action="answer.deleted", object_id=str(answer.id)).count() == 1


@pytest.mark.parametrize("kind", ["consent", "send"])
def test_receipts_for_the_consent_and_the_send_verify_offline(
    client, patient, answered, kind
):
    consent, _answer = answered
    response = client.get(
        f"/api/v1/consents/{consent.id}/receipt", {"kind": kind}, headers=bearer(patient)
    )

    assert response.status_code == 200
    receipt = response.json()
    public_key = merkle.load_public_key_pem(public_key_pem().encode())
    assert merkle.verify_receipt(receipt, public_key).ok
    entry = json.loads(receipt["entry"])
    assert entry["object_id"] == str(consent.id)
    assert entry["action"] == {"consent": "consent.given", "send": "send.outcome"}[kind]


def test_another_patient_gets_404_for_every_consent_and_answer_route(
    client, patient, other_patient, study, answered, openai_provider
):
    consent, answer = answered
    created = create_request(client, patient, study, endpoint_for(openai_provider))
    image_id = created["images"][0]["image_id"]
    them = bearer(other_patient)
    json_body = {"content_type": "application/json", "headers": them}
    routes = [
        client.post(f"/api/v1/scans/{study.id}/consent-requests",
                    {"endpoint": str(consent.endpoint_id), "question": "x"}, **json_body),
        client.get(f"/api/v1/consent-requests/{created['id']}", headers=them),
        client.get(f"/api/v1/consent-requests/{created['id']}/images/{image_id}", headers=them),
        client.post(f"/api/v1/consent-requests/{created['id']}/accept",
                    {"consent_text_sha256": created["consent_text_sha256"],
                     "manifest_sha256": created["manifest_sha256"], "affirm": True},
                    **json_body),
        client.get(f"/api/v1/scans/{study.id}/consents", headers=them),
        client.get(f"/api/v1/consents/{consent.id}", headers=them),
        client.post(f"/api/v1/consents/{consent.id}/withdraw", headers=them),
        client.get(f"/api/v1/consents/{consent.id}/receipt", headers=them),
        client.get(f"/api/v1/scans/{study.id}/answers", headers=them),
        client.get(f"/api/v1/answers/{answer.id}", headers=them),
        client.delete(f"/api/v1/answers/{answer.id}", headers=them),
    ]
    assert [r.status_code for r in routes] == [404] * len(routes)
    assert all("detail" in r.json() for r in routes)
    assert Answer.objects.get(pk=answer.pk).answer_object is not None
    assert events(action="answer.").count() == 0


def test_the_endpoint_list_shows_only_enabled_endpoints(client, patient, openai_provider):
    from forwarding.endpoints import disable_endpoint

    shown = endpoint_for(openai_provider)
    hidden = endpoint_for(openai_provider, name="Switched off")
    disable_endpoint(hidden.id)
    response = client.get("/api/v1/endpoints", headers=bearer(patient))

    assert response.status_code == 200
    assert [e["id"] for e in response.json()] == [str(shown.id)]
    assert set(response.json()[0]) == {
        "id", "name", "protocol", "host", "model", "max_images", "data_use_note", "is_local"
    }


def test_reloading_an_answer_does_not_grow_the_audit_log(client, patient, study, answered):
    _consent, answer = answered
    for _ in range(5):
        response = client.get(f"/api/v1/answers/{answer.id}", headers=bearer(patient))
        assert response.status_code == 200
    assert events(action="answer.viewed", object_id=str(answer.id)).count() == 1


def test_the_answer_api_answers_json_even_when_the_answer_cannot_be_shown(
    client, patient, study, answered, monkeypatch
):
    _consent, answer = answered

    def broken(answer: object) -> dict:
        raise RecursionError("deep")

    monkeypatch.setattr("scans.answers.read_answer", broken)
    response = client.get(f"/api/v1/answers/{answer.id}", headers=bearer(patient))
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("application/json")
    assert events(action="answer.viewed", object_id=str(answer.id)).count() == 0


def test_an_answer_is_rendered_once_on_arrival_never_on_viewing(
    client, patient, study, answered, monkeypatch
):
    """GIVEN an answer received and stored WHEN it is read on the page and through the API
    THEN no Markdown is parsed: what is shown is the HTML sealed when it arrived."""
    _consent, answer = answered

    def parsing(text: str) -> str:
        raise AssertionError("an answer was parsed on viewing")

    monkeypatch.setattr("scans.answers.render_markdown", parsing)
    response = client.get(f"/api/v1/answers/{answer.id}", headers=bearer(patient))
    assert response.status_code == 200
    assert response.json()["html"].startswith("<")
    client.force_login(patient)
    assert client.get(f"/answers/{answer.id}/").status_code == 200
