"""A patient's journey in a real headless Chromium: sign up, verify, TOTP, upload, watch, delete.

Every request the pages make must go to the gateway itself, and the Content-Security-Policy must
not have to block anything (a violation means a page tried to load something it should not).
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from allauth.mfa.totp.internal.auth import (
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.core import mail

from scans.models import Scan, Status
from tests.support import builders
from tests.support.accounts import PASSWORD
from tests.support.screens import shot
from vault.models import VaultKey

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def totp_now(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, next(iter(yield_hotp_counters_from_time()))))


def test_a_patient_signs_up_enables_totp_uploads_a_study_and_deletes_it(
    watched_page, live_server, tmp_path, settings
):
    page = watched_page
    base = live_server.url
    email = "journey@example.org"

    page.goto(f"{base}/accounts/signup/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    shot(page, "01-signup")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/accounts/confirm-email/"))

    # The address is confirmed with a mailed code typed into the page (no key in any URL).
    code = re.search(r"^\s*([A-Z0-9]{4}-?[A-Z0-9]{2,4})\s*$", mail.outbox[-1].body, re.M).group(1)
    page.fill("input[name=code]", code)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/scans/")
    shot(page, "02-my-scans")

    page.goto(f"{base}/accounts/2fa/totp/activate/")
    page.wait_for_url(re.compile(r"/accounts/reauthenticate/"))
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector("#authenticator_secret")
    secret = page.input_value("#authenticator_secret")
    page.fill("input[name=code]", totp_now(secret))
    shot(page, "03-totp")
    with page.expect_navigation():
        page.click("main button[type=submit]")
    page.goto(f"{base}/account/")
    assert "Two-factor authentication: on" in page.inner_text("main")

    study = tmp_path / "study.zip"
    study.write_bytes(
        builders.make_zip(
            {
                "DICOM/S1/IM1": builders.make_dicom_bytes(),
                "DICOM/S1/IM2": builders.make_dicom_bytes(),
            }
        )
    )
    photo = tmp_path / "film.jpg"
    photo.write_bytes(builders.make_jpeg(120, 90))
    page.goto(f"{base}/scans/")
    page.set_input_files("#id_files", [str(study), str(photo)])
    page.click("text=Upload and encrypt")
    page.wait_for_url(re.compile(r"/scans/[0-9a-f-]{36}/$"))
    scan = Scan.objects.get()
    assert scan.status in {Status.QUEUED, Status.DEIDENTIFYING, Status.READY_FOR_REVIEW}
    status_text = page.inner_text("[data-field=status_label]")
    assert status_text in {
        "Waiting for de-identification",
        "De-identifying",
        "Ready for your review",
    }
    shot(page, "04-scan-detail")

    page.click("text=Delete scan…")
    page.wait_for_url(re.compile(r"/delete/$"))
    assert VaultKey.objects.count() > 0, "the click alone deletes nothing"
    page.click("main button.danger")
    page.wait_for_url(f"{base}/scans/")
    assert "deleted" in page.inner_text(".messages")
    scan.refresh_from_db()
    assert scan.status == Status.DELETED
    assert VaultKey.objects.count() == 0
    shot(page, "05-deleted")

    origins, violations = page.watched
    assert origins == {urlparse(base).netloc}
    assert violations == []


def test_a_hostile_zip_is_refused_in_the_browser_with_a_clear_message(
    watched_page, live_server, tmp_path
):
    from tests.support.accounts import make_user

    make_user("hostile@example.org")
    page = watched_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "hostile@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/scans/")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(builders.make_zip_with_member_name("../x.dcm"))
    page.set_input_files("#id_files", [str(bad)])
    page.click("text=Upload and encrypt")
    refusal = page.wait_for_selector("[data-upload-error]:not([hidden])")
    assert "File 1" in refusal.inner_text()
    shot(page, "06-refused")
    assert Scan.objects.count() == 0
    assert VaultKey.objects.count() == 0
