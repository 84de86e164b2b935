"""Every page speaks the reader's language: the browser's (Accept-Language) until they choose one
with the switcher, and then the one kept on their account, on every device they sign in from."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import User
from tests.support.accounts import PASSWORD

pytestmark = pytest.mark.django_db


def page_language(page: str) -> str:
    return re.search(r'<html lang="([^"]+)"', page).group(1)


def test_a_german_browser_gets_german_pages(client):
    response = client.get("/accounts/login/", headers={"accept-language": "de-DE,de;q=0.9"})
    assert page_language(response.content.decode()) == "de"
    assert response["Content-Language"] == "de"


def test_an_unsupported_browser_language_falls_back_to_english(client):
    response = client.get("/accounts/login/", headers={"accept-language": "ja"})
    assert page_language(response.content.decode()) == "en"


def test_every_page_offers_the_four_languages_in_a_post_form_with_csrf(client):
    page = client.get("/accounts/login/").content.decode()
    switcher = re.search(r'<form[^>]+action="/i18n/setlang/".*?</form>', page, re.S).group(0)
    assert 'method="post"' in switcher and "csrfmiddlewaretoken" in switcher
    assert re.findall(r'<option value="(\w+)"', switcher) == ["en", "de", "fr", "es"]


def test_the_choice_is_kept_on_the_account_and_applied_at_the_next_sign_in(patient_client):
    patient_client.post("/i18n/setlang/", {"language": "fr", "next": "/scans/"})
    assert User.objects.get(email="pat@example.org").language == "fr"

    elsewhere = Client(headers={"accept-language": "en"})
    elsewhere.post("/accounts/login/", {"login": "pat@example.org", "password": PASSWORD})
    assert page_language(elsewhere.get("/account/").content.decode()) == "fr"


def test_a_visitor_s_choice_is_a_cookie_only(client):
    response = client.post("/i18n/setlang/", {"language": "es", "next": "/"})
    assert response.status_code == 302
    assert page_language(client.get("/accounts/login/").content.decode()) == "es"


def test_an_unknown_language_changes_nothing_on_the_account(patient_client):
    patient_client.post("/i18n/setlang/", {"language": "xx", "next": "/"})
    assert User.objects.get(email="pat@example.org").language == ""


def test_a_german_sign_up_gets_its_confirmation_mail_in_german(client, mailoutbox):
    client.post(
        "/accounts/signup/",
        {"email": "neu@example.org", "password1": PASSWORD, "password2": PASSWORD},
        headers={"accept-language": "de"},
    )
    assert "Jemand (vermutlich Sie) hat mit dieser Adresse ein Konto" in mailoutbox[-1].body
