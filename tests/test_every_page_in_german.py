"""A probe from outside: every page each role can open is in German when the account reads German.

GIVEN each kind of reader -- a patient, a clinician, a clinic admin, an auditor (their account
set to German) and someone signed out (their browser asking for German) -- and a world of
realistic objects (a scan with its consent and answer, a study from the PACS handed over with an
image held back, a shared answer, an endpoint, API tokens, two-factor authentication with
recovery codes), WHEN they open every GET URL the URL resolver knows and the access matrix
(``tests/support/access_matrix.py``) lets them open, THEN every HTML page they end up on
(redirects followed) holds no English word: our pages, allauth's pages (sign in, sign up,
password reset, e-mail addresses, two-factor authentication, recovery codes) and the error
pages alike. Test data avoids English words (see ``tests/support/languages.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import pytest
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.tokens import issue_token
from scans.models import Answer, Consent, ConsentRequest
from tests.support.access_matrix import OK, World
from tests.support.accounts import PASSWORD
from tests.support.languages import english_leftovers
from tests.test_access_matrix import Route, django_routes
from vault import get_vault

pytestmark = [pytest.mark.slow, pytest.mark.django_db, pytest.mark.usefixtures("blob_dir")]

READERS = ("anonymous", "owner", "clinician", "clinic_admin", "auditor")
STAFF = ("clinician", "clinic_admin", "auditor")
# Not pages for people: a health check, script catalogue, a key file, the API's machine schema,
# its interactive documentation (Swagger UI, written for developers in English) and a style sheet.
NOT_PAGES = {
    "healthz",
    "javascript-catalog",
    "audit:public_key",
    "api-1:openapi-json",
    "api-1:openapi-view",
    "api-1:api-root",
    "/static/css/gateway.css",
}
# The matrix's world has no recovery codes; here staff have them, so they may open their page.
OWN_FACTOR_PAGES = {"mfa_view_recovery_codes": STAFF}
QUESTION = "Was bedeutet dieser Schatten?"
ANSWER = "Keine Auffälligkeiten."


class GermanWorld(World):
    """The matrix's world, with its patient's words (question, answer, consent text) in German
    and every account reading German."""

    def reader(self, name: str) -> User | None:
        user = self.subject(name)
        if user is not None:
            User.objects.filter(pk=user.pk).update(language="de")
            user.language = "de"
            if name in STAFF:
                RecoveryCodes.activate(user)
        return user

    @cached_property
    def scan(self):
        scan = super().scan
        vault = get_vault()
        question = vault.put_bytes(QUESTION.encode()).object_id
        consent = scan.consents.get()
        ConsentRequest.objects.filter(pk=consent.request_id).update(question_object=question)
        Consent.objects.filter(pk=consent.pk).update(question_object=question)
        answer = vault.put_bytes(ANSWER.encode()).object_id
        Answer.objects.filter(scan=scan).update(answer_object=answer)
        return scan

    def _in_german(self, request: ConsentRequest) -> ConsentRequest:
        question = get_vault().put_bytes(QUESTION.encode()).object_id
        ConsentRequest.objects.filter(pk=request.pk).update(
            question_object=question, consent_text="Ich stimme zu."
        )
        request.refresh_from_db()
        return request

    @cached_property
    def open_request(self) -> ConsentRequest:
        return self._in_german(super().open_request)

    @cached_property
    def active_consent(self) -> Consent:
        consent = super().active_consent
        self._in_german(consent.request)
        question = ConsentRequest.objects.get(pk=consent.request_id).question_object
        Consent.objects.filter(pk=consent.pk).update(
            question_object=question, consent_text="Ich stimme zu."
        )
        return consent


@dataclass(frozen=True)
class Visit:
    route: Route
    reader: str

    def __str__(self) -> str:
        return f"{self.route.key} as {self.reader}"


def visits() -> list[Visit]:
    found = []
    for route in django_routes():
        expect = route.expect
        if route.key in NOT_PAGES or expect is None or "get" not in expect.methods:
            continue
        for reader in READERS:
            if expect.outcomes[reader] == OK or reader in OWN_FACTOR_PAGES.get(route.key, ()):
                found.append(Visit(route, reader))
    return found


def open_as(world: GermanWorld, reader: str) -> Client:
    user = world.reader(reader)
    if user is None:
        return Client(headers={"Accept-Language": "de"})
    issue_token(user, "Laptop")  # the account page lists it
    client = Client()
    client.force_login(user)
    return client


def test_the_probe_visits_the_pages_of_every_reader():
    readers = {visit.reader for visit in visits()}
    keys = {visit.route.key for visit in visits()}

    assert readers == set(READERS)
    assert {"account_login", "account_signup", "account_reset_password", "mfa_index"} <= keys
    assert {"scans:detail", "pacs:study", "audit:trail", "clinic:endpoint_edit"} <= keys


@pytest.mark.parametrize("visit", visits(), ids=str)
def test_every_page_is_in_german(visit: Visit):
    world = GermanWorld()
    # Realistic detail pages: the study was handed over (an image held back), an answer shared.
    world.pacs_held_back_image  # noqa: B018
    world.share  # noqa: B018
    client = open_as(world, visit.reader)
    url = visit.route.url(world, visit.route.expect)

    response = client.get(url, follow=True)

    if response.streaming or not response.get("Content-Type", "").startswith("text/html"):
        return
    html = response.content.decode()
    assert re.search(r'<html[^>]* lang="de"', html), f"{visit}: {url} is not declared German"
    leftovers = english_leftovers(html)
    assert leftovers == [], f"{visit}: {url} shows English: {leftovers}"


@pytest.mark.parametrize("reader", READERS)
def test_a_page_that_does_not_exist_says_so_in_german(reader: str):
    client = open_as(GermanWorld(), reader)

    response = client.get("/gibt-es-nicht/")

    assert response.status_code == 404
    html = response.content.decode()
    assert re.search(r'<html[^>]* lang="de"', html)
    assert english_leftovers(html) == []


def test_sign_in_steps_and_a_password_reset_are_explained_in_german():
    world = GermanWorld()
    user = world.reader("owner")
    staff = world.reader("clinician")

    refused = open_as(world, "anonymous").post(
        "/accounts/login/", {"login": user.email, "password": "falsch-falsch"}, follow=True
    )
    reset = open_as(world, "anonymous").post(
        "/accounts/password/reset/", {"email": user.email}, follow=True
    )
    second_factor = open_as(world, "anonymous").post(
        "/accounts/login/", {"login": staff.email, "password": PASSWORD}, follow=True
    )

    assert second_factor.redirect_chain[-1][0] == reverse("mfa_authenticate")
    for response in (refused, reset, second_factor):
        html = response.content.decode()
        assert re.search(r'<html[^>]* lang="de"', html)
        assert english_leftovers(html) == [], response.redirect_chain
