"""Every state of the patient's pages in a real Chromium, at a laptop's and a phone's size:
axe-core finds no violation of moderate impact or above and nothing is wider than the screen."""

from __future__ import annotations

import re

import pytest
from django.conf import settings as django_settings
from django.test import Client, RequestFactory

from gateway.errors import server_error
from scans.models import Outcome, ScanFile, ScanImage, Status
from tests.support import builders
from tests.support.accessibility import VIEWPORTS, assert_accessible
from tests.support.accounts import make_user
from tests.support.stored import endpoint, stored_scan
from tests.support.studies import processed_ct

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=list(VIEWPORTS), ids=list(VIEWPORTS))
def patient(request, page, live_server):
    """A signed-in patient's browser at a laptop's or a phone's size."""
    width, height = VIEWPORTS[request.param]
    page.set_viewport_size({"width": width, "height": height})
    user = make_user("axe@example.org")
    client = Client()
    client.force_login(user)
    page.context.add_cookies([{
        "name": django_settings.SESSION_COOKIE_NAME,
        "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
        "url": live_server.url,
    }])
    page.user = user
    return page


def visit(page, url: str, state: str) -> None:
    page.goto(url)
    assert_accessible(page, state)


def test_upload_states_are_accessible(patient, live_server, tmp_path):
    page, base = patient, live_server.url
    visit(page, f"{base}/scans/", "no scans yet, the upload form idle")

    bad = tmp_path / "bad.zip"
    bad.write_bytes(builders.make_zip_with_member_name("../x.dcm"))
    page.set_input_files("#id_files", [str(bad)])
    page.click("text=Upload and encrypt")
    page.wait_for_selector("[data-upload-error]:not([hidden])")
    assert_accessible(page, "an upload refused")

    good = tmp_path / "study.zip"
    good.write_bytes(builders.make_zip({f"IM{n}": builders.make_dicom_bytes() for n in range(3)}))
    page.evaluate("document.getElementById('upload-form').dataset.chunkSize = '1024'")
    page.route(
        re.compile(r"/scans/tus/[0-9a-f-]{36}/$"),
        lambda route: None if route.request.method == "PATCH" else route.continue_(),
    )
    page.set_input_files("#id_files", [str(good)])
    page.click("text=Upload and encrypt")
    page.wait_for_selector("[data-progress]:not([hidden])")
    assert_accessible(page, "an upload under way")


def test_the_scan_pages_are_accessible_in_every_state(patient, live_server):
    page, base, user = patient, live_server.url, patient.user
    ready = stored_scan(user).scan
    cleaning = stored_scan(user, status=Status.DEIDENTIFYING).scan
    quarantined = stored_scan(user, status=Status.QUARANTINED).scan
    ScanImage.objects.filter(scan=quarantined).update(
        outcome=Outcome.QUARANTINED, reason="Text was found burnt into the image."
    )
    flagged = stored_scan(user).scan
    ScanImage.objects.filter(scan=flagged).update(
        needs_check=True,
        report={"pixels": {"review": {"reasons": ["A mark was left near the edge."]}}},
    )
    no_images = stored_scan(user, status=Status.NO_IMAGES).scan
    ScanImage.objects.filter(scan=no_images).update(
        outcome=Outcome.NOT_IMAGE, reason="A PDF report", sanitized_object=None,
        preview_object=None, original_preview_object=None,
    )
    report = ScanFile.objects.create(scan=no_images, position=2, kind="pdf", size=10)
    ScanImage.objects.create(scan=no_images, source=report, position=2,
                             outcome=Outcome.NOT_IMAGE, kind="pdf", reason="A PDF document")

    visit(page, f"{base}/scans/", "several scans")
    for state, scan in [("cleaning", cleaning), ("ready for review", ready),
                        ("quarantined", quarantined), ("flagged images", flagged),
                        ("no images, only documents", no_images)]:
        visit(page, f"{base}/scans/{scan.pk}/", f"scan page, {state}")
    visit(page, f"{base}/scans/{ready.pk}/delete/", "confirm deleting a scan")
    visit(page, f"{base}/account/delete/", "confirm deleting the account")


def test_asking_consenting_and_the_answer_are_accessible(patient, live_server, settings):
    page, base, user = patient, live_server.url, patient.user
    settings.DEID_CHUNK_IMAGES = 100
    endpoint()
    scan = processed_ct(user, slices=3)
    visit(page, f"{base}/scans/{scan.pk}/consent/", "ask")
    visit(page, f"{base}/scans/{scan.pk}/removed/", "the original values that were removed")
    visit(page, f"{base}/scans/{scan.pk}/consent/", "ask again")
    page.fill("#question", "What is this shadow?")
    for box in page.locator("input[name=images]").all():
        box.uncheck()
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.click("text=Review what would be sent")
    assert refused.value.status == 400
    assert page.is_visible("#images-error")
    assert_accessible(page, "ask, refused without images")

    page.locator("input[name=images]").first.check()
    page.click("text=Review what would be sent")
    page.wait_for_url(re.compile(r"/consent/[0-9a-f-]{36}/$"))
    assert_accessible(page, "consent review")

    answered = stored_scan(user, answered_days_ago=0)
    visit(page, f"{base}/scans/{answered.scan.pk}/", "scan page, answered")
    visit(page, f"{base}/answers/{answered.answer.pk}/", "answer")
    visit(page, f"{base}/answers/{answered.answer.pk}/delete/", "confirm deleting an answer")
    consent = answered.scan.consents.get()
    visit(page, f"{base}/consents/{consent.pk}/receipt/", "receipts")
    sent = stored_scan(
        user, status=Status.CONSENTED, consent_state="active", consent_expires_in_days=7
    ).scan
    visit(page, f"{base}/scans/{sent.pk}/", "scan page, waiting to be sent")


def test_the_error_pages_are_accessible(patient, live_server):
    page, base = patient, live_server.url
    response = page.goto(f"{base}/scans/00000000-0000-0000-0000-000000000000/")
    assert response.status == 404
    assert_accessible(page, "404")
    response = page.goto(f"{base}/audit/")
    assert response.status == 403
    assert_accessible(page, "403")
    # A real fault cannot be provoked on purpose: the 500 page is served as the handler makes it.
    body = server_error(RequestFactory().get("/")).content
    page.route(f"{base}/broken/", lambda route: route.fulfill(
        status=500, body=body, content_type="text/html; charset=utf-8"))
    page.goto(f"{base}/broken/")
    assert_accessible(page, "500")
