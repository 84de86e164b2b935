"""An auditor or a clinic admin who reads German, French or Spanish gets every staff page in that
language: headings, tables, forms, help, errors, confirmations and messages, with real content.

The auditor's language comes from the browser (Accept-Language); the clinic admin's from the
language kept on the account, which wins over a browser that asks for English. Each page is
searched for English words left over (``tests.support.languages``); the test data avoids them.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Role, User
from audit.actions import AuditAction
from audit.log import append, sign_head
from audit.presenting import ACTION_LABELS
from clinic import health
from clinic.erasure import erase_account
from forwarding.models import Endpoint
from scans.models import Scan, Status
from tests.support.accounts import make_user, with_totp
from tests.support.languages import english_leftovers
from tests.support.stored import stored_scan
from tests.support.tampering import tamper

pytestmark = pytest.mark.django_db

LANGUAGES = ["de", "fr", "es"]


def page_language(html: str) -> str:
    return re.search(r'<html lang="([^"]+)"', html).group(1)


def assert_in_language(response, language: str, status: int = 200) -> str:
    """The page answered ``status``, is declared in ``language`` and holds no English."""
    assert response.status_code == status, response.content[:300]
    html = response.content.decode()
    assert page_language(html) == language
    assert english_leftovers(html) == []
    return html


@pytest.fixture
def auditor(db) -> User:
    return with_totp(make_user("auditor@example.org", Role.AUDITOR))


@pytest.fixture
def scan_case(db) -> Scan:
    """GIVEN one patient's scan logged from upload to answer, with a paged-through preview, next
    to account and clinic events, the way the consent, sending and admin code log them."""
    patient = make_user("jane.patient@example.org")
    scan = Scan.objects.create(owner=patient, status=Status.ANSWERED)
    me, sid = patient.pseudonym, str(scan.id)
    request, consent, answer = uuid.uuid4().hex, uuid.uuid4().hex, str(uuid.uuid4())
    on_scan = {"object_type": "scan", "object_id": sid}
    append(AuditAction.SIGN_IN, actor=me, object_type="user", object_id=me)
    append(AuditAction.SCAN_UPLOADED, actor=me, **on_scan, details={"files": 2})
    append(
        AuditAction.SCAN_DEIDENTIFIED,
        actor="worker",
        **on_scan,
        details={"outcome": "clean", "images": 2},
    )
    for _ in range(3):
        append(
            AuditAction.PREVIEW_VIEWED,
            actor=me,
            object_type="image",
            object_id=uuid.uuid4().hex,
            details={"scan": sid},
        )
    append(
        AuditAction.CONSENT_REQUESTED,
        actor=me,
        object_type="consent_request",
        object_id=request,
        details={"scan_id": sid, "config_version": 1},
    )
    append(
        AuditAction.CONSENT_GIVEN,
        actor=me,
        object_type="consent",
        object_id=consent,
        details={
            "scan_id": sid,
            "request_id": request,
            "consent_text_version": "v3",
            "consent_language": "de",
            "question_flagged": False,
        },
    )
    append(
        AuditAction.SEND_ATTEMPT,
        actor="worker",
        **on_scan,
        details={"consent_id": consent, "attempt": 1},
    )
    append(
        AuditAction.SEND_OUTCOME,
        actor="worker",
        **on_scan,
        details={"consent_id": consent, "outcome": "ok", "status": 200, "answer_id": answer},
    )
    append(AuditAction.ANSWER_VIEWED, actor=me, object_type="answer", object_id=answer)
    append(
        AuditAction.ROLE_CHANGED,
        actor="cli",
        object_type="user",
        object_id=me,
        details={"from": "patient", "to": "clinician"},
    )
    append(
        AuditAction.RETENTION_CHANGED,
        actor="cli",
        object_type="retention_policy",
        object_id="1",
        details={"fields": ["answers_days"], "answers_days": 180},
    )
    return scan


@pytest.fixture
def auditor_client(auditor):
    """A browser that asks for the language under test (set per test with ``speaking``)."""
    client = Client()
    client.force_login(auditor)
    return client


def speaking(client: Client, language: str) -> Client:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    return client


def test_every_action_the_log_can_record_has_a_label_to_translate():
    assert set(ACTION_LABELS) == set(AuditAction)


# --- The auditor ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_auditor_reads_the_events_list_and_its_filters_in_their_language(
    auditor_client, scan_case, language
):
    client = speaking(auditor_client, language)

    everything = assert_in_language(client.get("/audit/"), language)
    assert "consent.given" in everything  # the action's name is data and stays as logged
    assert_in_language(client.get("/audit/", {"action": "consent."}), language)
    assert_in_language(client.get("/audit/", {"action": "send.outcome", "outcome": "ok"}), language)
    assert_in_language(client.get("/audit/", {"actor": "nobody-at-all"}), language, status=400)
    assert_in_language(client.get("/audit/", {"since": "2020-02-30"}), language, status=400)
    assert_in_language(client.get("/audit/", {"object_id": uuid.uuid4().hex}), language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_auditor_reads_a_case_trail_in_their_language(auditor_client, scan_case, language):
    client = speaking(auditor_client, language)

    assert_in_language(client.get("/audit/trail/"), language)
    trail = assert_in_language(client.get("/audit/trail/", {"id": str(scan_case.id)}), language)
    assert 'data-count="3"' in trail  # the three previews, shown as one row
    assert_in_language(client.get("/audit/trail/", {"id": "Jane Doe"}), language)
    assert_in_language(client.get("/audit/trail/", {"id": uuid.uuid4().hex}), language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_auditor_reads_the_chain_verification_in_their_language(
    auditor_client, scan_case, language
):
    client = speaking(auditor_client, language)
    sign_head()
    append(AuditAction.AUDIT_EXPORTED, actor="cli", details={"format": "csv", "rows": 3})

    again = client.post("/audit/verify/again/", follow=True)

    html = assert_in_language(again, language)
    assert 'data-field="tree_size"' in html
    assert "log intact" not in html  # the verdict's reason is worded for the reader too


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_auditor_reads_a_broken_chain_in_their_language(auditor_client, scan_case, language):
    client = speaking(auditor_client, language)
    sign_head()
    tamper(("UPDATE audit_auditentry SET actor = 'system' WHERE seq = %s", [3]))

    again = client.post("/audit/verify/again/", follow=True)

    html = assert_in_language(again, language)
    assert '<dd data-field="first_bad">3</dd>' in html


# --- The clinic admin ----------------------------------------------------------------------------


@pytest.fixture
def admin_in(admin):
    """The clinic admin's client in a language kept on the account, from a browser that asks
    for English: the account's choice wins."""

    def signed_in(language: str) -> Client:
        admin.language = language
        admin.save(update_fields=["language"])
        client = Client(headers={"accept-language": "en"})
        client.force_login(admin)
        return client

    return signed_in


@pytest.fixture
def clinic_state(admin, auditor, settings):
    """GIVEN a clinic with staff and patients, a checked audit chain, workers, a scan past its
    retention and an AI endpoint."""
    settings.HEARTBEAT_INTERVAL_SECONDS = 60
    now = timezone.now()
    patient = make_user("jane.patient@example.org")
    stored_scan(patient, uploaded_days_ago=15, status=Status.FAILED)
    Scan.objects.create(owner=patient, status=Status.QUARANTINED)
    append(AuditAction.SIGN_IN, actor=patient.pseudonym)
    sign_head()
    append(AuditAction.SIGN_IN, actor=admin.pseudonym)
    health.verify_audit_chain()
    health.record_heartbeat("deid", "celery@worker-1", now - timedelta(seconds=30))
    health.record_heartbeat("send", "celery@worker-2", now - timedelta(seconds=900))
    return {"patient": patient, "auditor": auditor}


ENDPOINT = {
    "name": "Vision model",
    "protocol": "anthropic",
    "base_url": "https://api.example.org",
    "model": "vision-1",
    "api_key": "sk-0123456789abcdef",
    "timeout_seconds": 60,
    "max_images": 4,
    "max_image_side": 1568,
    "max_image_mib": 4,
    "system_prompt": "Describe carefully.",
    "data_use_note": "Kept for 30 days, never trained on.",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_clinic_admin_reads_overview_health_and_retention_in_their_language(
    admin_in, clinic_state, language
):
    client = admin_in(language)

    assert_in_language(client.get("/clinic/"), language)
    health_page = assert_in_language(client.get("/clinic/health/"), language)
    assert "celery@worker-1" in health_page
    retention = assert_in_language(client.get("/clinic/retention/"), language)
    assert '<td data-label="' in retention
    refused = client.post(
        "/clinic/retention/",
        {
            "originals_days": 0,
            "sanitized_days": 30,
            "answers_days": 365,
            "unconsented_days": 14,
        },
    )
    assert_in_language(refused, language)
    saved = client.post(
        "/clinic/retention/",
        {
            "originals_days": 5,
            "sanitized_days": 30,
            "answers_days": 365,
            "unconsented_days": 14,
        },
        follow=True,
    )
    assert_in_language(saved, language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_clinic_admin_manages_people_in_their_language(
    admin_in, admin, clinic_state, language, mailoutbox
):
    client = admin_in(language)
    auditor = clinic_state["auditor"]
    patient = clinic_state["patient"]

    assert_in_language(client.get("/clinic/users/"), language)
    assert_in_language(client.get("/clinic/users/", {"role": Role.AUDITOR}), language)
    assert_in_language(client.get(f"/clinic/users/{auditor.pseudonym}/"), language)
    assert_in_language(client.get(f"/clinic/users/{patient.pseudonym}/"), language)
    assert_in_language(client.get(f"/clinic/users/{admin.pseudonym}/"), language)
    erased = make_user("former.patient@example.org")
    erase_account(erased)
    assert_in_language(client.get(f"/clinic/users/{erased.pseudonym}/"), language)
    not_found = client.post("/clinic/users/", {"email": "nobody@example.org"}, follow=True)
    assert_in_language(not_found, language)

    # Each step that signs someone out or locks them out asks once more, in the same language.
    assert_in_language(client.get(f"/clinic/users/{auditor.pseudonym}/disable/"), language)
    assert_in_language(client.get(f"/clinic/users/{auditor.pseudonym}/reset-mfa/"), language)
    change = client.post(f"/clinic/users/{auditor.pseudonym}/role/", {"role": Role.CLINICIAN})
    assert_in_language(change, language)
    disabled = client.post(f"/clinic/users/{auditor.pseudonym}/disable/", follow=True)
    assert_in_language(disabled, language)
    refused = client.post(f"/clinic/users/{admin.pseudonym}/reset-mfa/", follow=True)
    assert_in_language(refused, language)

    assert_in_language(client.get("/clinic/users/invite/"), language)
    taken = client.post("/clinic/users/invite/", {"email": auditor.email, "role": Role.AUDITOR})
    assert_in_language(taken, language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_invitation_goes_out_in_the_sending_admin_s_language(
    admin_in, language, mailoutbox, django_capture_on_commit_callbacks
):
    client = admin_in(language)

    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(
            "/clinic/users/invite/",
            {"email": "new.doctor@example.org", "role": Role.CLINICIAN},
            follow=True,
        )

    assert_in_language(sent, language)
    (mail,) = mailoutbox
    assert english_leftovers(mail.subject) == []
    assert english_leftovers(mail.body.replace("\n", "<br>")) == []
    assert "new.doctor@example.org" in mail.to


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_invited_person_accepts_in_their_browser_s_language(client, language):
    speaking(client, language)

    assert_in_language(client.get("/clinic/invitation/"), language)
    wrong = client.post(
        "/clinic/invitation/",
        {
            "email": "new.doctor@example.org",
            "code": "not-a-code",
            "password1": "a long pass phrase 42",
            "password2": "a long pass phrase 42",
        },
    )
    assert_in_language(wrong, language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_clinic_admin_manages_ai_endpoints_in_their_language(admin_in, clinic_state, language):
    client = admin_in(language)

    assert_in_language(client.get("/clinic/endpoints/"), language)
    assert_in_language(client.get("/clinic/endpoints/new/"), language)
    plain_http = client.post("/clinic/endpoints/new/", ENDPOINT | {"base_url": "http://10.0.0.5"})
    assert_in_language(plain_http, language)
    added = client.post("/clinic/endpoints/new/", ENDPOINT, follow=True)
    listed = assert_in_language(added, language)
    assert "Vision model" in listed

    endpoint = Endpoint.objects.get(name="Vision model")
    edit = f"/clinic/endpoints/{endpoint.pk}/"
    assert_in_language(client.get(edit), language)
    with_password = ENDPOINT | {"base_url": "https://user:secret@api.example.org"}
    assert_in_language(client.post(edit, with_password), language)
    both = ENDPOINT | {"remove_api_key": "on", "enabled": "on"}
    assert_in_language(client.post(edit, both), language)
    saved = client.post(edit, ENDPOINT | {"model": "vision-2", "enabled": "on"}, follow=True)
    assert_in_language(saved, language)
    stopped = client.post(f"{edit}disable/", follow=True)
    assert_in_language(stopped, language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_refused_test_connection_is_explained_in_the_admin_s_language(
    admin_in, clinic_state, language
):
    client = admin_in(language)
    client.post(
        "/clinic/endpoints/new/", ENDPOINT | {"base_url": "https://127.0.0.1:8443"}, follow=True
    )
    endpoint = Endpoint.objects.get(name="Vision model")

    tested = client.post(f"/clinic/endpoints/{endpoint.pk}/test/", follow=True)

    assert_in_language(tested, language)
    (result,) = [str(message) for message in tested.context["messages"]]
    assert "127.0.0.1" in result  # the refused address is named, in the admin's words
    assert english_leftovers(f"<p>{result}</p>") == []


def test_the_staff_pages_stay_in_english_for_an_english_reader(admin_in, clinic_state):
    client = admin_in("en")

    page = client.get("/clinic/health/").content.decode()

    assert page_language(page) == "en"
    assert "Queues and workers" in page
