"""allauth's pages look and read like the rest of the gateway: sentence case, the same layout,
form errors tied to their fields, and only the step forward styled as the primary button."""

from __future__ import annotations

import re

import pytest

from accounts.models import Role
from tests.support.accounts import PASSWORD, make_user, with_totp

pytestmark = pytest.mark.django_db


def heading(page: str) -> str:
    return re.sub(r"\s+", " ", re.search(r"<h1>(.*?)</h1>", page, re.S).group(1)).strip()


@pytest.mark.parametrize(
    ("path", "title"),
    [("/accounts/login/", "Sign in"), ("/accounts/signup/", "Sign up"),
     ("/accounts/password/reset/", "Password reset")],
)
def test_the_entrance_pages_are_in_sentence_case_and_the_gateway_s_layout(client, path, title):
    page = client.get(path).content.decode()
    assert heading(page) == title
    assert 'class="skip-link"' in page and 'class="card"' in page


def test_a_refused_sign_in_is_announced_and_tied_to_the_form(client):
    make_user("pat@example.org")
    page = client.post(
        "/accounts/login/", {"login": "pat@example.org", "password": "wrong"}
    ).content.decode()
    assert 'role="alert"' in page


def test_cancel_is_never_the_primary_button(client):
    user = with_totp(make_user("staff@example.org", Role.AUDITOR))
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    page = client.get("/accounts/2fa/authenticate/").content.decode()
    cancel = re.search(r'<(a|button)[^>]*class="button([^"]*)"[^>]*>\s*Cancel', page)
    assert cancel is not None and "secondary" in cancel.group(2)
