"""The auditor's, the clinic admin's and the account pages in a real Chromium, at a laptop's and
a phone's size: axe-core finds no violation of moderate impact or above, nothing is wider than
the screen, and the keyboard alone reaches the content."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import Role, User
from audit.actions import AuditAction
from audit.log import append
from clinic.erasure import erase_account
from forwarding.endpoints import create_endpoint
from scans.models import Scan, Status
from tests.accounts.test_accounts import totp_now
from tests.support.accessibility import VIEWPORTS, assert_accessible
from tests.support.accounts import PASSWORD, make_user, with_totp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, user: User) -> None:
    """A signed-in session for ``user`` (who has TOTP where the role needs it)."""
    client = Client()
    client.force_login(user)
    page.context.add_cookies([{
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": live_server.url,
    }])


def a_case() -> str:
    """One scan's journey as the code logs it, with a patient paging through its previews."""
    patient = make_user("pat@example.org")
    scan = Scan.objects.create(owner=patient, status=Status.ANSWERED)
    me, sid = patient.pseudonym, str(scan.id)
    request, consent, answer = (str(uuid.uuid4()) for _ in range(3))
    append(AuditAction.SCAN_UPLOADED, actor=me, object_type="scan", object_id=sid,
           details={"files": 3})
    append(AuditAction.SCAN_DEIDENTIFIED, actor="worker", object_type="scan", object_id=sid,
           details={"outcome": "clean", "images": 3})
    for _ in range(4):
        append(AuditAction.PREVIEW_VIEWED, actor=me, object_type="image",
               object_id=str(uuid.uuid4()), details={"scan": sid, "original": False})
    append(AuditAction.CONSENT_REQUESTED, actor=me, object_type="consent_request",
           object_id=request, details={"scan_id": sid, "image_count": 2,
                                       "manifest_sha256": "ab" * 32})
    append(AuditAction.CONSENT_GIVEN, actor=me, object_type="consent", object_id=consent,
           details={"scan_id": sid, "request_id": request, "consent_text_sha256": "cd" * 32})
    append(AuditAction.SEND_OUTCOME, actor="worker", object_type="consent", object_id=consent,
           details={"outcome": "sent", "scan_id": sid, "answer_id": answer, "status": 200})
    append(AuditAction.ANSWER_VIEWED, actor=me, object_type="answer", object_id=answer,
           details={"scan_id": sid, "consent_id": consent})
    return sid


@pytest.fixture(params=list(VIEWPORTS), ids=list(VIEWPORTS))
def sized_page(request, page):
    width, height = VIEWPORTS[request.param]
    page.set_viewport_size({"width": width, "height": height})
    return page


def test_the_auditor_pages_are_accessible_and_fit_a_phone(sized_page, live_server):
    page, base = sized_page, live_server.url
    sign_in(page, live_server, with_totp(make_user("auditor@example.org", Role.AUDITOR)))
    scan_id = a_case()

    for state, path in [
        ("events", "/audit/"),
        ("events of one family", "/audit/?action=consent."),
        ("a refused filter", "/audit/?actor=Jane+Doe&since=yesterday"),
        ("the case trail form", "/audit/trail/"),
        ("a case trail", f"/audit/trail/?id={scan_id}"),
        ("chain verification", "/audit/verify/"),
    ]:
        page.goto(base + path)
        assert_accessible(page, state)
    page.get_by_role("button", name="Verify the whole chain again").click()
    page.wait_for_url(base + "/audit/verify/")
    assert page.locator(".messages li").count() == 1
    assert_accessible(page, "verification with a status message")


def test_the_clinic_admin_pages_are_accessible_and_fit_a_phone(sized_page, live_server):
    page, base = sized_page, live_server.url
    sign_in(page, live_server, with_totp(make_user("admin@example.org", Role.CLINIC_ADMIN)))
    colleague = with_totp(make_user("doctor@example.org", Role.CLINICIAN))
    erased = make_user("gone@example.org")
    erase_account(erased)
    endpoint = create_endpoint(name="Vision model", protocol="openai",
                               base_url="https://ai.example.org/v1", model="vision-1")

    for state, path in [
        ("overview", "/clinic/"),
        ("users", "/clinic/users/"),
        ("a colleague", f"/clinic/users/{colleague.pseudonym}/"),
        ("an erased account", f"/clinic/users/{erased.pseudonym}/"),
        ("confirm disabling", f"/clinic/users/{colleague.pseudonym}/disable/"),
        ("confirm resetting two-factor", f"/clinic/users/{colleague.pseudonym}/reset-mfa/"),
        ("invite", "/clinic/users/invite/"),
        ("endpoints", "/clinic/endpoints/"),
        ("a new endpoint", "/clinic/endpoints/new/"),
        ("an endpoint", f"/clinic/endpoints/{endpoint.pk}/"),
        ("retention", "/clinic/retention/"),
        ("health", "/clinic/health/"),
    ]:
        page.goto(base + path)
        assert_accessible(page, state)

    page.goto(base + "/clinic/endpoints/new/")
    page.fill("#id_name", "Plain")
    page.fill("#id_base_url", "http://plain.example.org")
    page.fill("#id_model", "m")
    page.get_by_role("button", name="Save").click()
    assert page.locator("#id_base_url").get_attribute("aria-invalid") == "true"
    assert_accessible(page, "the endpoint form with an error")

    page.goto(f"{base}/clinic/users/{colleague.pseudonym}/")
    page.select_option("#id_role", Role.AUDITOR)
    page.get_by_role("button", name="Change role…").click()
    assert_accessible(page, "confirm a role change")


def test_the_account_pages_are_accessible_and_fit_a_phone(sized_page, live_server):
    page, base = sized_page, live_server.url
    for state, path in [
        ("sign in", "/accounts/login/"),
        ("sign up", "/accounts/signup/"),
        ("password reset", "/accounts/password/reset/"),
    ]:
        page.goto(base + path)
        assert_accessible(page, state)
    make_user("pat@example.org")
    page.goto(base + "/accounts/login/")
    page.fill("input[name=login]", "pat@example.org")
    page.fill("input[name=password]", "not the password")
    page.locator("form.card button[type=submit], main form button[type=submit]").last.click()
    assert_accessible(page, "a refused sign-in")

    staff = make_user("staff@example.org", Role.AUDITOR)
    page.goto(base + "/accounts/login/")
    page.fill("input[name=login]", staff.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.goto(base + "/accounts/2fa/totp/activate/")
    assert page.url == base + "/accounts/2fa/totp/activate/"  # no second password prompt
    assert_accessible(page, "two-factor set-up")
    secret = page.locator("#authenticator_secret").input_value()
    page.fill("input[name=code]", totp_now(secret))
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(base + "/accounts/2fa/recovery-codes/")
    assert_accessible(page, "recovery codes")
    with page.expect_navigation():
        page.get_by_role("link", name="I have stored these codes — continue").click()
    assert "/accounts/" not in page.url  # on to the role's own pages
    page.goto(base + "/accounts/2fa/")
    assert_accessible(page, "two-factor overview")


def test_an_admin_disables_an_account_with_the_keyboard_alone(page, live_server):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server, with_totp(make_user("admin@example.org", Role.CLINIC_ADMIN)))
    colleague = with_totp(make_user("doctor@example.org", Role.CLINICIAN))
    page.goto(f"{live_server.url}/clinic/users/{colleague.pseudonym}/")

    def press_tab_until(name: str) -> None:
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.locator(":focus").inner_text().strip() == name:
                return
        raise AssertionError(f"{name!r} is not reachable with Tab")

    press_tab_until("Disable account…")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/clinic/users/{colleague.pseudonym}/disable/")
    press_tab_until("Yes, disable the account")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/clinic/users/{colleague.pseudonym}/")
    assert "disabled" in page.inner_text("[data-field=status]")
    assert not User.objects.get(pk=colleague.pk).is_active


def test_the_keyboard_reaches_the_content_first_through_the_skip_link(page, live_server):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server, with_totp(make_user("auditor@example.org", Role.AUDITOR)))
    page.goto(live_server.url + "/audit/")

    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    assert skip.inner_text() == "Skip to main content"
    outline = skip.evaluate("e => getComputedStyle(e).outlineWidth")
    assert float(outline.removesuffix("px")) >= 2
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.locator(":focus").evaluate("e => e.closest('main') !== null")
