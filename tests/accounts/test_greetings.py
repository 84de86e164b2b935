"""People are greeted by their address, never their pseudonym; e-mails name the site and point at
PUBLIC_URL, whatever host and port the request came in on (the confirmation itself is a code)."""

from __future__ import annotations

import pytest
from django.core import mail

from accounts.models import User
from tests.support.accounts import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_the_confirmation_email_names_the_site_and_its_public_url(client, settings):
    settings.PUBLIC_URL = "https://scans.example.org"
    settings.SITE_NAME = "Clinic scans"
    client.post(
        "/accounts/signup/",
        {"email": "new@example.org", "password1": PASSWORD, "password2": PASSWORD},
    )
    body = mail.outbox[-1].body
    pseudonym = User.objects.get(email="new@example.org").pseudonym

    assert body.startswith("Hello from Clinic scans")
    assert "https://scans.example.org" in body
    assert "testserver" not in body and pseudonym not in body


def test_signing_in_greets_by_address_not_pseudonym(client):
    user = make_user("pat@example.org")
    response = client.post(
        "/accounts/login/", {"login": "pat@example.org", "password": PASSWORD}, follow=True
    )
    page = response.content.decode()
    assert "Successfully signed in as pat@example.org" in page
    assert user.pseudonym not in page
