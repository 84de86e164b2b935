"""A patient who uses only the keyboard: upload, review, consent and the answer, every control
reached with Tab and shown with a visible focus ring.

Real parts: the live server, a Celery worker process and the demo endpoint (see
test_second_opinion.py for the same journey with a mouse)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from scans.models import Scan, Status
from tests.support import builders
from tests.support.accounts import make_user

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MAX_TABS = 80


def tab_to(page, selector: str, text: str = "") -> None:
    """Press Tab until the focused element matches ``selector`` (and contains ``text``), then
    check that the focus can be seen."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate(
            "([s, t]) => { const e = document.activeElement;"
            " return !!e && e.matches(s) && (e.innerText || '').includes(t); }",
            [selector, text],
        ):
            outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"the focus on {selector} cannot be seen"
            return
    raise AssertionError(f"Tab never reached {selector} {text!r} on {page.url}")


def choose_files_with_the_keyboard(page, path: str) -> None:
    """Tab to the file field and open the file chooser with Space. Under a loaded machine the
    first Space can land before the page is ready for it (seen once in 3 full runs): one more
    try, by the keyboard again, before the test fails."""
    for attempt in range(2):
        tab_to(page, "#id_files")
        try:
            with page.expect_file_chooser(timeout=15_000) as chooser:
                page.keyboard.press("Space")
        except PlaywrightTimeoutError:
            if attempt:
                raise
            page.keyboard.press("Shift+Tab")
            continue
        chooser.value.set_files(path)
        return


def test_a_patient_goes_from_upload_to_answer_with_the_keyboard_alone(
    page, live_server, tmp_path, demo_endpoint, worker
):
    base = live_server.url
    client = Client()
    client.force_login(make_user("keys@example.org"))
    page.context.add_cookies([{
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": base,
    }])
    study = tmp_path / "study.zip"
    study.write_bytes(builders.make_zip(
        {f"CD/DICOM/IM{i}": builders.make_dicom_bytes() for i in range(2)}
    ))

    page.goto(f"{base}/scans/")
    choose_files_with_the_keyboard(page, str(study))
    tab_to(page, "#upload-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/scans/[0-9a-f-]{36}/$"))
    # The status is announced as it changes; the page then reloads once with the review.
    page.wait_for_selector("#status a[href$='/consent/']", timeout=180_000)

    tab_to(page, "a[href$='/consent/']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/consent/$"))
    assert page.is_checked("input[name=endpoint]"), "the only service is chosen for you"
    tab_to(page, "#question")
    page.keyboard.type("What does this image show?")
    tab_to(page, "button[type=submit]", "Review what would be sent")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/consent/[0-9a-f-]{36}/$"))

    tab_to(page, "input[name=agree]")
    page.keyboard.press("Space")
    tab_to(page, "button[type=submit]", "Send to")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Read the answer", timeout=120_000)
    tab_to(page, "a[href*='/answers/']", "Read the answer")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/answers/[0-9a-f-]{36}/$"))

    assert page.locator("article.answer ol li").count() == 2, "the demo's list is a real list"
    assert Scan.objects.get().status == Status.ANSWERED
