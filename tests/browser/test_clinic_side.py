"""The clinic's side in a real headless Chromium, from the PACS to the answer shared back.

A dcmtk `storescu` pushes a study to the clinic's DICOM node (C-STORE); a clinician finds it in
the inbox and hands it to a patient by e-mail; the invited patient sets a password, reviews the
de-identified scan, consents and reads the demo endpoint's answer, then shares it; the clinician
reads the shared question and answer. Real parts throughout: the node, the live server, a Celery
worker and the demo endpoint.
"""

from __future__ import annotations

import re
import subprocess
from urllib.parse import urlparse

import pytest
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.core import mail
from django.core.cache import cache

from accounts.models import Role
from clinic.pacs.models import Handoff, Share
from tests.support.accounts import PASSWORD, make_user
from tests.support.pacs import NODE_AE, PACS_AE, configure_node, dcmtk, running_node, write_study
from tests.support.screens import shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.dcmtk,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

PLANTED = "Quillfeather^Ambrosine"
QUESTION = "Is the shadow on slice two anything to worry about?"


def sign_in(page, base: str, email: str, totp_secret: str | None = None) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    if totp_secret:
        page.wait_for_url(re.compile(r"/accounts/2fa/authenticate/"))
        counter = next(iter(yield_hotp_counters_from_time()))
        page.fill("input[name=code]", format_hotp_value(hotp_value(totp_secret, counter)))
        page.click("main button[type=submit]")
    page.wait_for_load_state()


def sign_out(page, base: str) -> None:
    page.goto(f"{base}/accounts/logout/")
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def test_from_a_pacs_push_to_a_shared_answer(
    watched_page, live_server, tmp_path, demo_endpoint, worker, settings
):
    page = watched_page
    base = live_server.url
    secret = generate_totp_secret()
    TOTP.activate(make_user("doctor@example.org", Role.CLINICIAN), secret)

    # The PACS pushes a study over DICOM, as a clinic's PACS would.
    configure_node()
    with running_node() as node:
        files = write_study(tmp_path / "pacs", count=2, PatientName=PLANTED)
        push = subprocess.run(
            [dcmtk("storescu"), "-aet", PACS_AE, "-aec", NODE_AE, "127.0.0.1", str(node.port)]
            + [str(f) for f in files],
            capture_output=True,
            timeout=60,
        )
    assert push.returncode == 0, push.stderr

    # The clinician finds it (by the patient's name: the clinic's own record) and hands it over.
    sign_in(page, base, "doctor@example.org", secret)
    page.goto(f"{base}/clinician/")
    page.click("text=Studies from the PACS")
    page.click(f"text={PLANTED}")
    shot(page, "30-clinician-study")
    page.fill("#id_email", "handed.patient@example.org")
    page.click("button:has-text('Hand to the patient')")
    page.wait_for_selector("text=handed to the patient")
    sign_out(page, base)

    # The patient accepts the invitation and reviews the de-identified scan.
    # The invitation mails a code to type in (never a key in a link).
    code = mail.outbox[-1].body.split("Your code:")[1].split()[0]
    page.goto(f"{base}/clinic/invitation/")
    page.fill("input[name=email]", "handed.patient@example.org")
    page.fill("input[name=code]", code)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    sign_out(page, base)
    sign_in(page, base, "handed.patient@example.org")
    scan = Handoff.objects.get().scan
    page.goto(f"{base}/scans/{scan.pk}/")
    page.wait_for_selector("text=Ready for your review", timeout=180_000)
    assert PLANTED not in page.content()
    shot(page, "31-patient-review")

    page.click("a.button:has-text('Ask an AI about this scan')")
    page.check("input[name=endpoint]")
    page.fill("#question", QUESTION)
    page.click("text=Review what would be sent")
    page.wait_for_selector("text=Send to Demo")
    page.check("input[name=agree]")
    page.locator("main button[type=submit]:has-text('Send to')").click()
    page.wait_for_selector("text=Read the answer", timeout=120_000)
    page.click("text=Read the answer")
    page.click("button:has-text('Share with my clinic')")
    page.wait_for_selector("text=shared with your clinic")
    shot(page, "32-patient-shared")
    assert Share.objects.filter(revoked_at=None).count() == 1
    sign_out(page, base)

    # The clinician reads the question and the answer the patient chose to share. (allauth
    # refuses a TOTP code twice; forgetting the used one stands for the next 30 s window.)
    cache.clear()
    sign_in(page, base, "doctor@example.org", secret)
    page.goto(f"{base}/clinician/shared/")
    page.click("text=Read")
    text = page.inner_text("main")
    assert QUESTION in text and "Demo endpoint" in text
    shot(page, "33-clinician-shared-answer")

    origins, violations = page.watched
    assert origins == {urlparse(base).netloc}
    assert violations == []
