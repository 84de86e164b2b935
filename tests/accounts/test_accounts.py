"""Accounts: sign-up with email verification, roles, MFA for staff roles, rate limits, bootstrap."""

import re

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.core import mail
from django.core.management import CommandError, call_command

from accounts.models import Role, User
from tests.support.accounts import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def totp_now(secret: str) -> str:
    counter = next(iter(yield_hotp_counters_from_time()))
    return format_hotp_value(hotp_value(secret, counter))


def mailed_code() -> str:
    """The code in the last mail (allauth's codes: letters and digits, shown on a line alone)."""
    code = re.search(r"^\s*([A-Z0-9]{4}-?[A-Z0-9]{2,4})\s*$", mail.outbox[-1].body, re.MULTILINE)
    return code.group(1)


def sign_up(client, email: str = "new@example.org"):
    return client.post(
        "/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    )


def test_a_new_account_is_a_patient_that_must_verify_its_email_before_signing_in(client):
    response = sign_up(client)
    assert response.status_code == 302
    user = User.objects.get(email="new@example.org")
    assert user.role == Role.PATIENT
    assert user.groups.filter(name="role:patient").exists()
    assert user.has_perm("accounts.upload_scans")
    # Not signed in until the address is confirmed.
    assert client.get("/scans/").status_code == 302

    # A code to type in, not a link: nothing secret ever sits in a URL (or an access log).
    assert "/accounts/confirm-email/" not in mail.outbox[-1].body
    client.post("/accounts/confirm-email/", {"code": mailed_code()})
    assert client.get("/scans/").status_code == 200


def test_an_unverified_account_cannot_sign_in(client):
    sign_up(client)
    client.logout()
    response = client.post("/accounts/login/", {"login": "new@example.org", "password": PASSWORD})
    assert "/accounts/confirm-email/" in response.headers.get("Location", "")
    assert client.get("/scans/").status_code == 302


def test_password_reset_sends_a_code_that_sets_a_new_password_once(client):
    make_user("forgot@example.org")
    client.post("/accounts/password/reset/", {"email": "forgot@example.org"})
    assert "/password/reset/key/" not in mail.outbox[-1].body
    response = client.post("/accounts/password/reset/confirm/", {"code": mailed_code()})
    assert response.status_code == 302
    new = "an entirely new passphrase 77"
    response = client.post(response.headers["Location"], {"password1": new, "password2": new})
    assert response.status_code == 302
    assert User.objects.get(email="forgot@example.org").check_password(new)
    # Used once: the same code does not open the form again.
    again = client.post("/accounts/password/reset/confirm/", {"code": "anything"})
    assert again.status_code != 302 or "complete" not in again.headers.get("Location", "")


@pytest.mark.parametrize(
    "role,page",
    [(Role.CLINICIAN, "/clinician/"), (Role.AUDITOR, "/audit/"), (Role.CLINIC_ADMIN, "/clinic/")],
)
def test_staff_roles_must_set_up_totp_before_opening_their_pages(client, role, page):
    make_user("staff@example.org", role)
    client.post("/accounts/login/", {"login": "staff@example.org", "password": PASSWORD})
    response = client.get(page)
    assert response.status_code == 302
    assert response.headers["Location"] == "/accounts/2fa/totp/activate/"

    # Seconds after signing in with the password, the set-up does not ask for it again.
    activate = client.get("/accounts/2fa/totp/activate/")
    assert activate.status_code == 200
    secret = client.session["mfa.totp.secret"]
    done = client.post("/accounts/2fa/totp/activate/", {"code": totp_now(secret)})
    assert Authenticator.objects.filter(type=Authenticator.Type.TOTP).exists()
    # The recovery codes come next, with advice and a way on.
    assert done.headers["Location"] == "/accounts/2fa/recovery-codes/"
    codes = client.get("/accounts/2fa/recovery-codes/").content.decode()
    assert "I have stored these codes — continue" in codes
    assert client.get(page).status_code == 200


def test_a_sign_in_older_than_the_reauthentication_window_is_asked_for_the_password(client):
    from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY

    make_user("staff@example.org", Role.AUDITOR)
    client.post("/accounts/login/", {"login": "staff@example.org", "password": PASSWORD})
    session = client.session
    records = session[AUTHENTICATION_METHODS_SESSION_KEY]
    for record in records:
        record["at"] -= 3600
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session.save()

    response = client.get("/accounts/2fa/totp/activate/")

    assert response.headers["Location"].startswith("/accounts/reauthenticate/")


def test_a_patient_cannot_open_staff_pages_and_staff_cannot_open_patient_pages(client):
    patient = make_user("p@example.org")
    client.force_login(patient)
    for page in ["/clinician/", "/audit/", "/clinic/"]:
        assert client.get(page).status_code == 403


def test_signing_in_with_totp_asks_for_the_code(client):
    user = make_user("mfa@example.org", Role.AUDITOR)
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    response = client.post("/accounts/login/", {"login": "mfa@example.org", "password": PASSWORD})
    assert response.headers["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/audit/").status_code == 302  # not signed in yet
    client.post("/accounts/2fa/authenticate/", {"code": totp_now(secret)})
    assert client.get("/audit/").status_code == 200


def test_repeated_failed_sign_ins_are_rate_limited(client):
    make_user("target@example.org")
    pages = [
        client.post(
            "/accounts/login/", {"login": "target@example.org", "password": "wrong guess 123"}
        )
        for _ in range(6)
    ]
    assert "Too many failed login attempts" not in pages[0].content.decode()
    assert "Too many failed login attempts" in pages[-1].content.decode()
    # Even the right password is refused while the limit holds.
    response = client.post(
        "/accounts/login/", {"login": "target@example.org", "password": PASSWORD}
    )
    assert "Too many failed login attempts" in response.content.decode()
    assert client.get("/scans/").status_code == 302


def test_create_account_bootstraps_a_verified_account_with_a_role(tmp_path, capsys):
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD + "\n")
    call_command(
        "create_account",
        "Admin@Example.org",
        "--role",
        "clinic_admin",
        "--password-file",
        str(password_file),
    )
    user = User.objects.get(email="admin@example.org")
    assert user.role == Role.CLINIC_ADMIN
    assert user.check_password(PASSWORD)
    assert user.emailaddress_set.get().verified
    assert user.has_perm("accounts.manage_clinic")
    assert PASSWORD not in capsys.readouterr().out


def test_create_account_refuses_a_weak_password_and_a_duplicate(tmp_path):
    weak = tmp_path / "weak"
    weak.write_text("123\n")
    with pytest.raises(CommandError):
        call_command(
            "create_account", "x@example.org", "--role", "patient", "--password-file", str(weak)
        )
    assert not User.objects.filter(email="x@example.org").exists()
    make_user("dup@example.org")
    strong = tmp_path / "strong"
    strong.write_text(PASSWORD)
    with pytest.raises(CommandError, match="already exists"):
        call_command(
            "create_account", "dup@example.org", "--role", "patient", "--password-file", str(strong)
        )


def test_api_tokens_are_stored_only_as_hashes(client, capsys):
    user = make_user("api@example.org")
    call_command("create_api_token", "api@example.org")
    token = capsys.readouterr().out.strip()
    stored = user.api_tokens.get()
    assert token.startswith("sgw_")
    assert token not in (stored.token_hash, stored.hint)
    assert (
        client.get("/api/v1/scans", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )
    assert (
        client.get("/api/v1/scans", headers={"Authorization": "Bearer sgw_wrong"}).status_code
        == 401
    )
