"""Times are shown in the reader's time zone, named next to them: detected once in the browser and
kept on the account, changeable on the account page. The audit area keeps UTC and says so."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client

from accounts.models import ApiToken, Role, User
from tests.support.accounts import make_user, with_totp

pytestmark = pytest.mark.django_db


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_account_without_a_zone_asks_the_browser_for_it_once(patient_client):
    page = patient_client.get("/account/").content.decode()
    assert 'id="time-zone-detect"' in page and "js/timezone.js" in page

    response = patient_client.post(
        "/account/time-zone/", {"time_zone": "Europe/Berlin", "detected": "1"}
    )

    assert response.status_code == 204
    assert User.objects.get(email="pat@example.org").time_zone == "Europe/Berlin"
    assert 'id="time-zone-detect"' not in patient_client.get("/account/").content.decode()


def test_a_zone_the_system_does_not_know_is_refused(patient_client):
    response = patient_client.post(
        "/account/time-zone/", {"time_zone": "Mars/Olympus", "detected": "1"}
    )
    assert response.status_code == 400
    assert User.objects.get(email="pat@example.org").time_zone == ""


def test_the_zone_can_be_changed_on_the_account_page(patient_client):
    response = patient_client.post("/account/time-zone/", {"time_zone": "America/Mexico_City"})

    assert response.status_code == 302
    page = patient_client.get("/account/").content.decode()
    assert "<option selected>America/Mexico_City</option>" in page
    assert "Times are now shown in America/Mexico_City." in page


def test_times_are_shown_in_the_account_s_zone_and_named(patient):
    token_made = datetime.datetime(2026, 12, 4, 20, 30, tzinfo=datetime.UTC)
    patient.time_zone = "Europe/Berlin"
    patient.save(update_fields=["time_zone"])
    token, _clear = ApiToken.issue(patient, "laptop", ["read"])
    ApiToken.objects.filter(pk=token.pk).update(created_at=token_made)

    page = signed_in(patient).get("/account/").content.decode()

    assert "2026-12-04 21:30 Europe/Berlin" in page
    assert 'data-time-zone="Europe/Berlin"' in page


def test_without_a_zone_times_are_in_utc_and_say_so(patient_client, patient):
    token, _clear = ApiToken.issue(patient, "laptop", ["read"])
    ApiToken.objects.filter(pk=token.pk).update(
        created_at=datetime.datetime(2026, 12, 4, 20, 30, tzinfo=datetime.UTC)
    )
    assert "2026-12-04 20:30 UTC" in patient_client.get("/account/").content.decode()


def test_the_audit_area_keeps_utc_whatever_the_reader_s_zone():
    auditor = with_totp(make_user("audit@example.org", Role.AUDITOR))
    auditor.time_zone = "Asia/Tokyo"
    auditor.save(update_fields=["time_zone"])
    page = signed_in(auditor).get("/audit/").content.decode()

    assert 'data-time-zone="UTC"' in page
    assert "in UTC" in page
