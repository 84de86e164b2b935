"""Error pages are the site's own: its layout, a plain explanation, a way back."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from gateway.errors import server_error
from tests.support.accounts import make_user, with_totp

pytestmark = pytest.mark.django_db


def test_a_missing_page_is_explained_in_the_site_layout(patient_client):
    response = patient_client.get("/scans/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "This page does not exist" in page
    assert 'class="top"' in page and "My scans" in page
    assert "Go to the start page" in page


def test_a_page_of_another_role_is_refused_in_the_site_layout(client):
    client.force_login(with_totp(make_user("doc@example.org", role="clinician")))
    response = client.get("/scans/")
    assert response.status_code == 403
    assert "This page is not open to you" in response.content.decode()


def test_a_server_error_page_needs_no_request_context():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


def test_an_expired_form_says_what_to_do():
    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"login": "x"})
    assert response.status_code == 403
    assert "reload the page" in response.content.decode()
