"""Findings of the penetration test, each reproduced and now refused (issue: hardening)."""

from __future__ import annotations

import datetime

import pytest
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.sessions.backends.db import SessionStore as PlainSessionStore
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from accounts.models import ApiToken, Role, SealedSession
from accounts.tokens import issue_token
from tests.accounts.test_accounts import mailed_code
from tests.support.accounts import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def fail_sign_in(client, email: str, address: str):
    return client.post(
        "/accounts/login/",
        {"login": email, "password": "wrong guess 123"},
        headers={"X-Forwarded-For": address},
        REMOTE_ADDR="10.0.0.1",  # the proxy, for every user
    )


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_failed_sign_ins_from_one_address_behind_the_proxy_do_not_lock_out_another(client):
    """GIVEN every request arriving from the one TLS proxy
    WHEN one address fails to sign in to made-up accounts until it is limited
    THEN a patient at another address still signs in."""
    make_user("patient@example.org")
    for i in range(12):
        fail_sign_in(client, f"made-up-{i}@example.org", "203.0.113.7")
    limited = fail_sign_in(client, "made-up-x@example.org", "203.0.113.7")
    assert "Too many failed login attempts" in limited.content.decode()
    response = client.post(
        "/accounts/login/",
        {"login": "patient@example.org", "password": PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.20"},
        REMOTE_ADDR="10.0.0.1",
    )
    assert response.status_code == 302
    assert client.get("/scans/").status_code == 200


def test_the_database_holds_no_replayable_session(client):
    user = make_user("session@example.org")
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    row = SealedSession.objects.get()
    assert row.session_key != cookie
    assert cookie not in row.session_data
    # Not Django's signed (readable) encoding: it opens only with the cookie's key.
    assert PlainSessionStore().decode(row.session_data) == {}
    # The row's key, used as a cookie, opens nothing.
    client.cookies["sessionid"] = row.session_key
    assert client.get("/scans/").status_code == 302


def test_totp_secrets_are_stored_sealed():
    user = make_user("staff@example.org", Role.AUDITOR)
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    stored = Authenticator.objects.get(user=user).data["secret"]
    assert stored.startswith("sealed:v1:")
    assert secret not in stored
    assert get_mfa_adapter().decrypt(stored) == secret


def test_a_token_without_the_upload_scope_cannot_upload(client):
    user = make_user("reader@example.org")
    token = issue_token(user, "read only", ["read"])
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/scans", headers=headers).status_code == 200
    response = client.post("/api/v1/scans", headers=headers)
    assert response.status_code == 403
    assert response.json()["detail"].startswith("This token may not do this")


def test_a_patient_token_cannot_read_the_audit_log(client):
    user = make_user("patient2@example.org")
    with pytest.raises(ValueError):
        issue_token(user, "audit", ["audit"])
    token = issue_token(user, "all")
    response = client.get("/api/v1/audit/events", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in {401, 403}


def test_an_expired_token_is_refused(client):
    user = make_user("old@example.org")
    token = issue_token(user, "old")
    ApiToken.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert (
        client.get("/api/v1/scans", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )


def test_tokens_expire_after_90_days_by_default():
    user = make_user("new-token@example.org")
    issue_token(user, "t")
    lifetime = ApiToken.objects.get().expires_at - timezone.now()
    assert datetime.timedelta(days=89) < lifetime <= datetime.timedelta(days=90)


def test_a_password_reset_revokes_every_api_token_and_other_session(client):
    user = make_user("reset@example.org")
    issue_token(user, "phone")
    other = client.__class__()
    other.force_login(user)
    client.post("/accounts/password/reset/", {"email": "reset@example.org"})
    code = mailed_code()
    response = client.post("/accounts/password/reset/confirm/", {"code": code})
    new = "an entirely new passphrase 77"
    client.post(response.headers["Location"], {"password1": new, "password2": new})
    assert not ApiToken.objects.filter(user=user).exists()
    assert other.get("/scans/").status_code == 302


def test_creating_a_token_needs_re_authentication(client):
    user = make_user("reauth@example.org")
    client.force_login(user)
    response = client.post("/account/tokens/", {"name": "x", "scopes": ["read"]})
    assert response.status_code == 302
    assert "/accounts/reauthenticate/" in response.headers["Location"]
    assert not ApiToken.objects.exists()


def test_pages_and_api_answers_are_never_cached(client):
    user = make_user("cache@example.org")
    client.force_login(user)
    assert "no-store" in client.get("/scans/").headers["Cache-Control"]
    token = issue_token(user, "t")
    api = client.get("/api/v1/scans", headers={"Authorization": f"Bearer {token}"})
    assert "no-store" in api.headers["Cache-Control"]


@override_settings(PUBLIC_URL="https://gateway.clinic.example", ALLOWED_HOSTS=["*"])
def test_mail_never_takes_its_address_from_the_host_header(client):
    make_user("host@example.org")
    client.post(
        "/accounts/password/reset/", {"email": "host@example.org"}, HTTP_HOST="localhost:4444"
    )
    body = mail.outbox[-1].body
    assert "localhost:4444" not in body
    assert "gateway.clinic.example" in body


def test_changing_the_email_address_needs_re_authentication(client):
    user = make_user("owner@example.org")
    client.force_login(user)
    response = client.post("/accounts/email/", {"action_add": "", "email": "attacker@example.org"})
    assert response.status_code == 302
    assert "/accounts/reauthenticate/" in response.headers["Location"]
    assert not user.emailaddress_set.filter(email="attacker@example.org").exists()


def test_an_email_change_needs_the_password_a_code_from_the_new_address_and_tells_the_old(client):
    """GIVEN a signed-in session (stolen or not)
    WHEN it changes the account's address
    THEN it must give the password again, confirm the new address with its code, and the old
    address is told."""
    user = make_user("owner@example.org")
    client.post("/accounts/login/", {"login": "owner@example.org", "password": PASSWORD})
    add = {"action_add": "", "email": "new@example.org"}
    assert "/accounts/reauthenticate/" in client.post("/accounts/email/", add).headers["Location"]
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    client.post("/accounts/email/", add)
    assert mail.outbox[-1].to == ["new@example.org"]
    # Until the new address is confirmed, the owner's stays the account's.
    assert user.emailaddress_set.get(primary=True).email == "owner@example.org"
    client.post("/accounts/confirm-email/", {"code": mailed_code()})
    assert [m.to for m in mail.outbox if "Changed" in m.subject] == [["owner@example.org"]]
