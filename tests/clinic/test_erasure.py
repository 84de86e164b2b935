"""A patient erases their whole account: afterwards nothing of theirs can ever be decrypted.

The proof keeps copies of the ciphertext (as a backup would), erases the account through its
page, then puts the copies back: every read still fails, because the wrapped keys are gone.
"""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator

from accounts.erasure import erased_email
from accounts.models import ApiToken, Role, User
from audit.models import AuditEntry
from clinic.erasure import ErasureRefused, erase_account
from scans.models import ConsentState, Scan, Status
from tests.support.accounts import PASSWORD, bearer, make_user, with_totp
from tests.support.blobs import blob_of, replace_blob
from tests.support.stored import in_vault, stored_scan
from vault import UnknownObjectError, get_vault
from vault.models import VaultKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def patients_data(patient, blob_dir):
    """A patient with an answered scan, a fresh scan, and one whose send failed."""
    return [
        stored_scan(patient, uploaded_days_ago=40, status=Status.ANSWERED, answered_days_ago=2),
        stored_scan(patient),
        stored_scan(patient, status=Status.SEND_FAILED, consent_state=ConsentState.SEND_FAILED),
    ]


def erase_through_the_page(client, patient, django_capture_on_commit_callbacks, password=PASSWORD):
    client.force_login(patient)
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/account/delete/", {"password": password, "confirm": "on"})


def test_after_erasure_no_object_of_the_patient_can_be_decrypted_even_from_a_backup(
    client, patient, other_patient, patients_data, django_capture_on_commit_callbacks
):
    vault = get_vault()
    objects = [o for stored in patients_data for o in stored.everything]
    backup = {o: blob_of(vault, o) for o in objects}
    others = stored_scan(other_patient, status=Status.ANSWERED, answered_days_ago=1)

    response = erase_through_the_page(client, patient, django_capture_on_commit_callbacks)

    assert response.status_code == 302
    assert not VaultKey.objects.filter(object_id__in=objects).exists()
    for object_id, ciphertext in backup.items():
        assert not vault.store.exists(object_id.hex)
        replace_blob(vault, object_id, ciphertext)  # restored from a backup
        with pytest.raises(UnknownObjectError):
            vault.read_bytes(object_id)
    assert all(in_vault(o) for o in others.everything)
    assert vault.read_bytes(others.answer_object) == b"the model's answer"


def test_the_erased_account_keeps_only_its_pseudonym(
    client, patient, patients_data, django_capture_on_commit_callbacks
):
    bearer(patient)
    with_totp(patient)
    pseudonym = patient.pseudonym

    erase_through_the_page(client, patient, django_capture_on_commit_callbacks)

    erased = User.objects.get(pk=patient.pk)
    assert erased.pseudonym == pseudonym
    assert erased.email == erased_email(erased)
    assert not erased.is_active and not erased.has_usable_password()
    assert not erased.groups.exists()
    assert not ApiToken.objects.filter(user=erased).exists()
    assert not EmailAddress.objects.filter(user=erased).exists()
    assert not Authenticator.objects.filter(user=erased).exists()
    assert set(Scan.objects.filter(owner=erased).values_list("status", flat=True)) == {
        Status.DELETED
    }
    entry = AuditEntry.objects.get(action="account.erased")
    assert (entry.actor, entry.object_id) == (pseudonym, pseudonym)
    assert entry.details == {"scans": 3, "shredded": 17}
    # Signed out, and the old session does not come back.
    assert client.get("/scans/").status_code == 302


def test_a_wrong_password_erases_nothing(
    client, patient, patients_data, django_capture_on_commit_callbacks
):
    response = erase_through_the_page(
        client, patient, django_capture_on_commit_callbacks, password="not my password at all"
    )

    assert response.status_code == 200
    assert b"That is not your password." in response.content
    assert all(in_vault(o) for stored in patients_data for o in stored.everything)
    assert User.objects.get(pk=patient.pk).is_active


def test_an_account_cannot_be_erased_while_one_of_its_scans_is_being_sent(patient, blob_dir):
    sending = stored_scan(patient, status=Status.SENDING)

    with pytest.raises(ErasureRefused, match="being sent"):
        erase_account(patient)

    assert all(in_vault(o) for o in sending.everything)


def test_staff_accounts_have_no_erasure_page(client, db):
    clinician = with_totp(make_user("doc@example.org", Role.CLINICIAN))
    client.force_login(clinician)

    assert client.get("/account/delete/").status_code == 403
