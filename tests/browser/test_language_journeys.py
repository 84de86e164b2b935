"""A German (and a Spanish) patient's browser: the pages, the scripts' words and the consent text
are in their language from the first request (Accept-Language), and the consent records it.

Real parts: the live server, a real Celery worker, the de-identification engine and the demo
endpoint (fixtures shared with test_second_opinion)."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest

from scans.consent.text import CONSENT_WORDINGS
from scans.models import Consent
from tests.support import builders
from tests.support.accounts import PASSWORD, make_user
from tests.support.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# What the patient reads at each step, in each language.
WORDS = {
    "de": {"locale": "de-DE", "sign_in": "Anmelden", "upload": "Hochladen und verschlüsseln",
           "ready": "Bereit zur Prüfung durch Sie", "ask": "Eine KI zu dieser Aufnahme befragen",
           "review": "Prüfen, was gesendet würde", "send": "senden",
           "consent": "Einwilligung, einen KI-Dienst"},
    "es": {"locale": "es-ES", "sign_in": "Iniciar sesión", "upload": "Subir y cifrar",
           "ready": "Listo para su revisión", "ask": "Consultar a una IA sobre este estudio",
           "review": "Revisar lo que se enviaría", "send": "Enviar a",
           "consent": "Consentimiento para consultar"},
}


@pytest.fixture
def browser_context_args(browser_context_args, request):
    """The browser's language (Accept-Language and navigator.language) for this journey."""
    language = request.node.callspec.params["language"]
    return {**browser_context_args, "locale": WORDS[language]["locale"]}


@pytest.mark.parametrize("language", ["de", "es"])
def test_a_patient_reads_and_consents_in_their_browser_s_language(
    watched_page, live_server, tmp_path, demo_endpoint, worker, language
):
    words = WORDS[language]
    page = watched_page
    base = live_server.url
    make_user("patient@example.org")

    page.goto(f"{base}/accounts/login/")
    assert page.get_attribute("html", "lang") == language
    page.fill("input[name=login]", "patient@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/scans/")
    assert words["upload"] in page.inner_text("main")

    study = tmp_path / "study.zip"
    study.write_bytes(builders.make_zip(
        {f"DICOM/IM{i}": builders.make_dicom_bytes(PatientName="Quillfeather^Ambrosine")
         for i in range(2)}
    ))
    page.set_input_files("#id_files", [str(study)])
    page.click(f"text={words['upload']}")
    page.wait_for_url(re.compile(r"/scans/[0-9a-f-]{36}/$"))
    page.wait_for_selector(f"text={words['ready']}", timeout=180_000)
    shot(page, f"i18n-{language}-review")

    page.click(f"a.button:has-text('{words['ask']}')")
    page.check("input[name=endpoint]")
    page.fill("#question", "?")
    page.click(f"text={words['review']}")
    page.wait_for_selector("pre.consent-text")
    assert page.inner_text("pre.consent-text").startswith(words["consent"])
    shot(page, f"i18n-{language}-consent")
    page.check("input[name=agree]")
    page.click(f"main button[type=submit]:has-text('{words['send']}')")
    page.wait_for_url(re.compile(r"/scans/[0-9a-f-]{36}/"))

    consent = Consent.objects.get()
    assert consent.consent_language == language
    assert consent.consent_text_version == CONSENT_WORDINGS[language].version
    assert consent.consent_text.startswith(words["consent"])
    origins, violations = page.watched
    assert origins == {urlparse(base).netloc}
    assert violations == []
