"""The whole product in a real headless Chromium: sign up, upload, review, consent, answer.

Real parts throughout: the live Django server, a real Celery worker process on Redis, the
de-identification engine with its text detector, and the built-in demo endpoint (a separate
process speaking the OpenAI-compatible protocol). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from django.core import mail

from scans.models import Scan, Status
from tests.support import builders
from tests.support.accounts import PASSWORD
from tests.support.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PLANTED = "Quillfeather^Ambrosine"


def test_from_sign_up_to_an_answer_from_the_demo_endpoint(
    watched_page, live_server, tmp_path, demo_endpoint, worker
):
    page = watched_page
    base = live_server.url

    page.goto(f"{base}/accounts/signup/")
    page.fill("input[name=email]", "second.opinion@example.org")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/accounts/confirm-email/"))
    # The address is confirmed with a mailed code typed into the page (no key in any URL).
    code = re.search(r"^\s*([A-Z0-9]{4}-?[A-Z0-9]{2,4})\s*$", mail.outbox[-1].body, re.M).group(1)
    page.fill("input[name=code]", code)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/scans/")

    study = tmp_path / "study.zip"
    study.write_bytes(
        builders.make_zip(
            {
                f"CD/DICOM/IM{i}": builders.make_dicom_bytes(
                    PatientName=PLANTED, InstitutionName="Marker Hospital"
                )
                for i in range(3)
            }
        )
    )
    photo = tmp_path / "film.png"
    photo.write_bytes(builders.make_png(320, 200, text="QUILLFEATHER AMBROSINE"))
    page.set_input_files("#id_files", [str(study), str(photo)])
    page.click("text=Upload and encrypt")
    page.wait_for_url(re.compile(r"/scans/[0-9a-f-]{36}/$"))
    # The page polls and reloads itself when the status changes.
    page.wait_for_selector("text=Ready for your review", timeout=180_000)
    assert "were removed or replaced" in page.inner_text(".summary")
    assert PLANTED not in page.content()
    shot(page, "10-review")

    page.click("a.button:has-text('Ask an AI about this scan')")
    page.check("input[name=endpoint]")
    page.fill("#question", "What does this image show?")
    shot(page, "11-ask")
    page.click("text=Review what would be sent")
    page.wait_for_selector("text=Send to Demo")
    shot(page, "12-consent")
    send = page.locator("main button[type=submit]:has-text('Send to')")
    assert not page.is_checked("input[name=agree]")  # consent is never pre-ticked
    page.check("input[name=agree]")
    send.click()
    page.wait_for_selector("text=Read the answer", timeout=120_000)
    shot(page, "13-sent")
    page.click("text=Read the answer")
    answer = page.inner_text("main")
    assert "Demo endpoint" in answer and "not a medical opinion" in answer
    assert (
        "not a diagnosis" in page.inner_text(".disclaimer").lower() or "diagnosis" in answer.lower()
    )
    shot(page, "14-answer")

    scan = Scan.objects.get()
    assert scan.status == Status.ANSWERED
    origins, violations = page.watched
    assert origins == {urlparse(base).netloc}
    assert violations == []
