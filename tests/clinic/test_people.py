"""Clinic admins manage accounts from the pages; every action lands in the audit log."""

from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator
from django.core import mail

from accounts.models import ApiToken, Role, User
from audit.models import AuditEntry
from tests.support.accounts import PASSWORD, bearer, make_user, with_totp

pytestmark = pytest.mark.django_db

PAGES = ["/clinic/", "/clinic/users/", "/clinic/users/invite/", "/clinic/endpoints/",
         "/clinic/endpoints/new/", "/clinic/retention/", "/clinic/health/"]


def audit(action: str) -> AuditEntry:
    return AuditEntry.objects.filter(action=action).order_by("-seq").first()


@pytest.fixture
def clinician(db) -> User:
    return with_totp(make_user("doc@example.org", Role.CLINICIAN))


def test_every_clinic_page_opens_for_an_admin(admin_client):
    for page in PAGES:
        assert admin_client.get(page).status_code == 200, page


@pytest.mark.parametrize("role", [Role.PATIENT, Role.CLINICIAN, Role.AUDITOR])
def test_anyone_but_a_clinic_admin_gets_403_and_changes_nothing(client, role, clinician):
    someone = with_totp(make_user(f"{role}@example.org", role))
    client.force_login(someone)
    for page in PAGES:
        assert client.get(page).status_code == 403, page
    target = clinician.pseudonym
    for action in ("role", "disable", "reset-mfa"):
        response = client.post(f"/clinic/users/{target}/{action}/", {"role": Role.PATIENT})
        assert response.status_code == 403
    clinician.refresh_from_db()
    assert clinician.role == Role.CLINICIAN and clinician.is_active
    assert Authenticator.objects.filter(user=clinician).exists()


def test_signed_out_visitors_are_sent_to_sign_in(client, db):
    response = client.get("/clinic/users/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login/")


def test_the_user_list_shows_pseudonym_role_and_mfa_but_no_email_address(
    admin_client, clinician, patient
):
    page = admin_client.get("/clinic/users/").content.decode()

    assert clinician.pseudonym in page and patient.pseudonym in page
    assert "Clinician" in page and "Patient" in page
    assert "doc@example.org" not in page and "pat@example.org" not in page


def test_a_staff_accounts_page_shows_its_email_address_but_a_patients_does_not(
    admin_client, clinician, patient
):
    assert b"doc@example.org" in admin_client.get(f"/clinic/users/{clinician.pseudonym}/").content
    assert b"pat@example.org" not in admin_client.get(f"/clinic/users/{patient.pseudonym}/").content


def test_an_account_is_found_by_its_exact_email_address(admin_client, patient):
    response = admin_client.post("/clinic/users/", {"email": "PAT@example.org"})
    assert response.headers["Location"] == f"/clinic/users/{patient.pseudonym}/"


def test_an_email_address_in_the_query_string_is_never_used_for_a_lookup(admin_client, patient):
    response = admin_client.get("/clinic/users/", {"email": "pat@example.org"})
    assert response.status_code == 200  # the list, not a redirect to the patient


def test_an_invited_user_sets_a_password_with_the_emailed_code_once_then_enrols_totp(
    admin_client, admin, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/clinic/users/invite/", {"email": "New.Doc@example.org", "role": Role.CLINICIAN}
        )

    invited = User.objects.get(email="new.doc@example.org")
    assert response.headers["Location"] == f"/clinic/users/{invited.pseudonym}/"
    assert invited.role == Role.CLINICIAN and not invited.has_usable_password()
    entry = audit("user.invited")
    assert (entry.actor, entry.object_id, entry.details) == (
        admin.pseudonym, invited.pseudonym, {"role": "clinician"}
    )
    assert audit("role.changed").actor == admin.pseudonym
    body = mail.outbox[-1].body
    assert mail.outbox[-1].to == ["new.doc@example.org"]
    # The link names no secret: the code is typed in, so it never reaches an access log.
    assert re.search(r"https?://\S+/clinic/invitation/\s", body)
    code = body.split("Your code:")[1].split()[0]
    assert code not in re.findall(r"https?://\S+", body)[0]

    new = "a brand new passphrase 9"
    form = {"email": "new.doc@example.org", "code": code, "password1": new, "password2": new}
    response = client.post("/clinic/invitation/", form)
    assert response.headers["Location"] == "/accounts/2fa/totp/activate/"
    assert User.objects.get(pk=invited.pk).check_password(new)
    # Signed in, and held at the authenticator set-up until TOTP is enrolled.
    assert client.get("/clinician/").headers["Location"] == "/accounts/2fa/totp/activate/"
    # Single use: the same code does nothing a second time.
    again = client.__class__().post(
        "/clinic/invitation/", {**form, "password1": "x" * 20 + "9a", "password2": "x" * 20 + "9a"}
    )
    assert again.status_code == 200
    assert b"already used" in again.content
    assert User.objects.get(pk=invited.pk).check_password(new)


def test_inviting_an_address_that_already_has_an_account_is_refused(admin_client, patient):
    response = admin_client.post("/clinic/users/invite/",
                                 {"email": "pat@example.org", "role": Role.AUDITOR})
    assert response.status_code == 200
    assert b"already exists" in response.content
    assert audit("user.invited") is None


def test_changing_a_role_is_asked_again_then_audited_with_the_admin_as_actor(
    admin_client, admin, patient
):
    asked = admin_client.post(f"/clinic/users/{patient.pseudonym}/role/", {"role": Role.AUDITOR})
    assert asked.status_code == 200
    assert b"Yes, make them Auditor" in asked.content
    assert User.objects.get(pk=patient.pk).role == Role.PATIENT

    admin_client.post(
        f"/clinic/users/{patient.pseudonym}/role/", {"role": Role.AUDITOR, "confirmed": "yes"}
    )

    patient.refresh_from_db()
    assert patient.role == Role.AUDITOR
    assert patient.groups.filter(name="role:auditor").exists()
    entry = audit("role.changed")
    assert (entry.actor, entry.object_id, entry.details) == (
        admin.pseudonym, patient.pseudonym, {"from": "patient", "to": "auditor"}
    )


def test_an_admin_cannot_demote_disable_or_reset_themselves(admin_client, admin):
    admin_client.post(
        f"/clinic/users/{admin.pseudonym}/role/", {"role": Role.PATIENT, "confirmed": "yes"}
    )
    admin_client.post(f"/clinic/users/{admin.pseudonym}/disable/")
    admin_client.post(f"/clinic/users/{admin.pseudonym}/reset-mfa/")

    admin.refresh_from_db()
    assert admin.role == Role.CLINIC_ADMIN and admin.is_active
    assert Authenticator.objects.filter(user=admin).exists()


def test_a_disabled_user_loses_sessions_and_api_tokens_and_enabling_is_audited(
    admin_client, admin, patient, client
):
    headers = bearer(patient)
    client.force_login(patient)
    assert client.get("/api/v1/scans", headers=headers).status_code == 200
    assert client.get("/scans/").status_code == 200

    admin_client.post(f"/clinic/users/{patient.pseudonym}/disable/")

    assert client.get("/api/v1/scans", headers=headers).status_code == 401
    assert client.get("/scans/").status_code == 302  # the session is gone
    assert not ApiToken.objects.filter(user=patient).exists()
    entry = audit("user.disabled")
    assert (entry.actor, entry.object_id) == (admin.pseudonym, patient.pseudonym)
    assert entry.details == {"sessions": 1, "tokens": 1}
    assert not client.login(email="pat@example.org", password=PASSWORD)

    admin_client.post(f"/clinic/users/{patient.pseudonym}/enable/")

    assert User.objects.get(pk=patient.pk).is_active
    assert audit("user.enabled").object_id == patient.pseudonym


def test_resetting_mfa_forces_the_user_to_set_it_up_again(admin_client, admin, clinician, client):
    client.force_login(clinician)
    assert client.get("/clinician/").status_code == 200

    admin_client.post(f"/clinic/users/{clinician.pseudonym}/reset-mfa/")

    assert not Authenticator.objects.filter(user=clinician).exists()
    assert client.get("/clinician/").status_code == 302  # signed out
    client.force_login(clinician)
    response = client.get("/clinician/")
    assert response.headers["Location"] == "/accounts/2fa/totp/activate/"
    entry = audit("mfa.reset")
    assert (entry.actor, entry.object_id) == (admin.pseudonym, clinician.pseudonym)
    assert entry.details["authenticators"] == 1


@pytest.mark.parametrize(
    ("action", "button"),
    [("disable", "Yes, disable the account"), ("reset-mfa", "Yes, reset two-factor")],
)
def test_disabling_and_resetting_two_factor_ask_first_and_change_nothing_until_confirmed(
    admin_client, clinician, action, button
):
    detail = admin_client.get(f"/clinic/users/{clinician.pseudonym}/").content.decode()
    assert f'href="/clinic/users/{clinician.pseudonym}/{action}/"' in detail

    page = admin_client.get(f"/clinic/users/{clinician.pseudonym}/{action}/")

    assert page.status_code == 200
    assert button in page.content.decode()
    assert 'class="button secondary"' in page.content.decode()  # Cancel is not the primary
    clinician.refresh_from_db()
    assert clinician.is_active and Authenticator.objects.filter(user=clinician).exists()
    assert audit("user.disabled") is None and audit("mfa.reset") is None


def test_an_erased_account_is_shown_as_erased_and_is_never_enabled_again(
    admin_client, patient, blob_dir
):
    from clinic.erasure import erase_account

    erase_account(patient)

    listing = admin_client.get("/clinic/users/").content.decode()
    assert "<strong>erased</strong>" in listing
    detail = admin_client.get(f"/clinic/users/{patient.pseudonym}/").content.decode()
    assert "erased" in detail
    assert "Enable account" not in detail and "Disable account" not in detail

    response = admin_client.post(f"/clinic/users/{patient.pseudonym}/enable/", follow=True)

    assert not User.objects.get(pk=patient.pk).is_active
    assert "cannot be enabled" in response.content.decode()
    assert audit("user.enabled") is None
