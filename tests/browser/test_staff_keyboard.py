"""The auditor and the clinic admin with the keyboard alone, in a real Chromium: every control is
reached with Tab or Shift+Tab, used with Enter, Space or the arrow keys, and shows a focus ring
that can be seen; axe-core checks every new state of each page.

The auditor signs in with two-factor, filters the events by an action chosen from the list,
downloads an export, reads the trail of a scan that went the whole way (upload, de-identification,
consent, send, answer) and checks the chain. The clinic admin invites a colleague, changes a
role through its confirmation, adds an endpoint and tests its connection. Both journeys run on a
laptop's and on a phone's screen, where nothing may be wider than the screen.

Real parts: the live server, the de-identification pipeline, the sending code and a provider on
loopback (``FakeProvider``, as the forwarding tests use)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator

import pytest
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.core import mail
from django.test import Client

from accounts.models import Role, User
from audit.actions import AuditAction
from audit.models import AuditEntry
from forwarding.models import Endpoint
from scans import sending
from scans.models import Answer, Consent, Scan
from tests.support.accessibility import VIEWPORTS, assert_accessible
from tests.support.accounts import PASSWORD, bearer, make_user
from tests.support.consent import (
    accept_request,
    create_request,
    endpoint_for,
    no_sleep,
    upload_and_process,
)
from tests.support.fakes import FakeProvider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAX_KEYS = 80

# The focused element: whether it is the one sought (its text, spaces collapsed, as a screen
# reader would read it), and whether its focus can be seen: an outline or a box shadow, on an
# element that takes up room on the page and is (scrolled) on the screen.
FOCUSED = r"""([selector, text]) => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const name = (e.textContent || e.value || '').replace(/\s+/g, ' ').trim();
  const s = getComputedStyle(e);
  const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)
    || s.boxShadow !== 'none';
  const box = e.getBoundingClientRect();
  return {
    sought: e.matches(selector) && name.includes(text),
    shown: ring && box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0
      && box.top < innerHeight && box.left < innerWidth,
    what: `${e.tagName.toLowerCase()} ${e.getAttribute('name') || ''} "${name.slice(0, 40)}"`,
  };
}"""


def move_to(page, selector: str, text: str = "", key: str = "Tab") -> None:
    """Press ``key`` (Tab or Shift+Tab) until the focus is on ``selector`` (with ``text`` in it).
    The focus must be seen at every stop on the way, not only at the last."""
    for _ in range(MAX_KEYS):
        page.keyboard.press(key)
        focused = page.evaluate(FOCUSED, [selector, text])
        if focused is None:
            continue
        assert focused["shown"], f"the focus on {focused['what']} cannot be seen on {page.url}"
        if focused["sought"]:
            return
    raise AssertionError(f"{key} never reached {selector} {text!r} on {page.url}")


def choose(page, select: str, value: str) -> None:
    """On a focused list, press the arrow keys until ``value`` is chosen."""
    for key in ("ArrowDown", "ArrowUp"):
        for _ in range(MAX_KEYS):
            if page.locator(select).input_value() == value:
                return
            before = page.locator(select).input_value()
            page.keyboard.press(key)
            if page.locator(select).input_value() == before:
                break  # the end of the list
    raise AssertionError(f"the arrow keys never chose {value!r} in {select}")


def totp_code(secret: str) -> str:
    """The authenticator's code of this 30-second window, the middle of the ones the server
    takes, so a window that ends while the code is typed does not refuse it."""
    counters = list(yield_hotp_counters_from_time())
    return format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))


def staff(email: str, role: str) -> tuple[User, str]:
    """A staff account with an authenticator app, and the app's secret."""
    user = make_user(email, role)
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return user, secret


def sign_in_with_the_keyboard(page, base: str, email: str, secret: str) -> None:
    """Address, password, then the authenticator's code: typed, with Enter to send each form."""
    page.goto(f"{base}/accounts/login/")
    move_to(page, "input[name=login]")
    page.keyboard.type(email)
    move_to(page, "input[name=password]")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/accounts/2fa/authenticate/"))
    move_to(page, "input[name=code]")
    page.keyboard.type(totp_code(secret))
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/accounts/" not in url)


def follow(page, selector: str, text: str, url: str | re.Pattern[str]) -> None:
    """Tab to a link or button and press Enter; wait for the page it leads to."""
    move_to(page, selector, text)
    page.keyboard.press("Enter")
    page.wait_for_url(url)


def shown_actions(page) -> list[str]:
    """The action of each row of the audit table on the page, in the order shown."""
    return page.locator("table.audit-entries tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.action)"
    )


@pytest.fixture(params=list(VIEWPORTS), ids=list(VIEWPORTS))
def sized_page(request, page):
    """A page at a laptop's and at a phone's size."""
    width, height = VIEWPORTS[request.param]
    page.set_viewport_size({"width": width, "height": height})
    return page


# The auditor


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider("openai") as fake:
        yield fake


@pytest.fixture
def answered_scan(blob_dir, provider) -> Scan:
    """GIVEN a scan uploaded and de-identified by the real pipeline, then consented to, sent to
    a provider and answered by the real consent and sending code; the patient read the answer."""
    patient, client = make_user("pat@example.org"), Client()
    scan = upload_and_process(client, patient, count=2)
    consent_id = accept_request(
        client, patient, create_request(client, patient, scan, endpoint_for(provider))
    )
    sending.send_consent(consent_id, sleep=no_sleep)
    answer = Answer.objects.get(consent_id=consent_id)
    response = client.get(f"/api/v1/answers/{answer.id}", headers=bearer(patient))
    assert response.status_code == 200
    return scan


def test_an_auditor_filters_exports_follows_a_case_and_verifies_with_the_keyboard_alone(
    sized_page, live_server, answered_scan
):
    page, base = sized_page, live_server.url
    auditor, secret = staff("auditor@example.org", Role.AUDITOR)
    sign_in_with_the_keyboard(page, base, auditor.email, secret)
    assert page.url == f"{base}/audit/", "an auditor starts in the audit area"
    assert_accessible(page, "the events")

    # Filter by one action, chosen from the list with the arrow keys.
    move_to(page, "select[name=action]")
    choose(page, "select[name=action]", AuditAction.CONSENT_GIVEN)
    move_to(page, "button[type=submit]", "Show events")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/audit/\?.*action=consent\.given"))
    assert shown_actions(page) == [AuditAction.CONSENT_GIVEN]
    assert_accessible(page, "the events of one action")

    # What the exports hold opens with Enter; the export buttons are back before it.
    move_to(page, "summary", "What the exports hold")
    page.keyboard.press("Enter")
    assert page.locator("details.export-help").evaluate("d => d.open")
    assert_accessible(page, "the export help, open")
    move_to(page, "button[name=format]", "CSV (spreadsheet)", key="Shift+Tab")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename.endswith(".csv")
    with open(download.value.path(), encoding="utf-8", newline="") as file:
        exported = list(csv.DictReader(file))
    assert [row["action"] for row in exported] == [AuditAction.CONSENT_GIVEN]
    # The next format is one Tab on, and a button works with Space as well.
    move_to(page, "button[name=format]", "JSON Lines")
    with page.expect_download() as download:
        page.keyboard.press("Space")
    with open(download.value.path(), encoding="utf-8") as file:
        assert [json.loads(line)["action"] for line in file] == [AuditAction.CONSENT_GIVEN]
    exports = AuditEntry.objects.filter(action=AuditAction.AUDIT_EXPORTED, actor=auditor.pseudonym)
    assert exports.count() == 2, "each export is on the record"

    # The case trail of the scan, asked for by its id.
    follow(page, "nav.subnav a", "Case trail", f"{base}/audit/trail/")
    assert_accessible(page, "the case trail form")
    move_to(page, "input[name=id]")
    page.keyboard.type(str(answered_scan.id))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/audit/trail/?id={answered_scan.id}")
    from_scan = shown_actions(page)
    for action in (
        AuditAction.SCAN_UPLOADED,
        AuditAction.SCAN_DEIDENTIFIED,
        AuditAction.CONSENT_REQUESTED,
        AuditAction.CONSENT_GIVEN,
        AuditAction.SEND_OUTCOME,
        AuditAction.ANSWER_VIEWED,
    ):
        assert action in from_scan, f"{action} is missing from the case trail {from_scan}"
    assert_accessible(page, "a case trail")
    # The ids in the trail are links: the consent's leads to the same whole case.
    consent = Consent.objects.get(scan=answered_scan)
    follow(
        page,
        f"table.audit-entries a[href$='?id={consent.pk}']",
        str(consent.pk),
        f"{base}/audit/trail/?id={consent.pk}",
    )
    assert shown_actions(page) == from_scan

    # The chain, verified again.
    follow(page, "nav.subnav a", "Chain verification", f"{base}/audit/verify/")
    assert_accessible(page, "chain verification")
    move_to(page, "button[type=submit]", "Verify the whole chain again")
    page.keyboard.press("Enter")
    page.wait_for_selector(".messages li")
    assert page.inner_text("[data-field=ok]") == "ok"
    assert int(page.inner_text("[data-field=entries]")) == AuditEntry.objects.count()
    assert_accessible(page, "verification with a status message")


# The clinic admin


def test_a_clinic_admin_invites_changes_a_role_and_tests_an_endpoint_with_the_keyboard_alone(
    sized_page, live_server, provider
):
    page, base = sized_page, live_server.url
    admin, secret = staff("admin@example.org", Role.CLINIC_ADMIN)
    sign_in_with_the_keyboard(page, base, admin.email, secret)
    assert page.url == f"{base}/clinic/"
    assert_accessible(page, "the clinic overview")

    # Invite a clinician.
    follow(page, "nav.subnav a", "Users and roles", f"{base}/clinic/users/")
    assert_accessible(page, "the users")
    follow(page, "a", "Invite a user", f"{base}/clinic/users/invite/")
    assert_accessible(page, "the invitation form")
    move_to(page, "input[name=email]")
    page.keyboard.type("new.doctor@example.org")
    move_to(page, "select[name=role]")
    choose(page, "select[name=role]", Role.CLINICIAN)
    follow(page, "button[type=submit]", "Send invitation", re.compile(r"/clinic/users/u-"))
    invited = User.objects.get(email="new.doctor@example.org")
    assert invited.role == Role.CLINICIAN
    assert page.url == f"{base}/clinic/users/{invited.pseudonym}/"
    assert "Invitation sent" in page.inner_text(".messages")
    assert mail.outbox[-1].to == ["new.doctor@example.org"]
    assert_accessible(page, "the invited account")

    # Make them an auditor instead, through the confirmation.
    move_to(page, "select[name=role]")
    choose(page, "select[name=role]", Role.AUDITOR)
    follow(
        page, "button[type=submit]", "Change role", f"{base}/clinic/users/{invited.pseudonym}/role/"
    )
    assert_accessible(page, "confirm a role change")
    assert User.objects.get(pk=invited.pk).role == Role.CLINICIAN, "nothing changes unconfirmed"
    follow(
        page,
        "button[type=submit]",
        "Yes, make them Auditor",
        f"{base}/clinic/users/{invited.pseudonym}/",
    )
    assert "The role was changed." in page.inner_text(".messages")
    assert User.objects.get(pk=invited.pk).role == Role.AUDITOR
    assert_accessible(page, "the account with its new role")

    # Add an endpoint on the provider and test its connection.
    follow(page, "nav.subnav a", "AI endpoints", f"{base}/clinic/endpoints/")
    assert_accessible(page, "the endpoints")
    follow(page, "a", "Add an endpoint", f"{base}/clinic/endpoints/new/")
    assert_accessible(page, "a new endpoint")
    move_to(page, "input[name=name]")
    page.keyboard.type("Loopback vision")
    move_to(page, "select[name=protocol]")
    choose(page, "select[name=protocol]", provider.protocol)
    move_to(page, "input[name=base_url]")
    page.keyboard.type(provider.base_url)
    move_to(page, "input[name=model]")
    page.keyboard.type("fake-vision-1")
    # Plain http:// is refused until the endpoint is marked local: the summary of what needs
    # fixing links to the field, and following the link puts the focus in it.
    move_to(page, "button[type=submit]", "Save")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#id_base_url").get_attribute("aria-invalid") == "true"
    assert_accessible(page, "the endpoint form with an error")
    move_to(page, ".form-errors a", "Base URL")
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement.id === 'id_base_url'")
    assert page.locator("#id_base_url").input_value() == provider.base_url, "nothing is retyped"
    move_to(page, "input[name=is_local]")
    page.keyboard.press("Space")
    assert page.is_checked("input[name=is_local]")
    # (The browser keeps the field's #fragment through the redirect to the list.)
    follow(page, "button[type=submit]", "Save", re.compile(r"/clinic/endpoints/(#id_base_url)?$"))
    assert "The endpoint was added." in page.inner_text(".messages")
    endpoint = Endpoint.objects.get(name="Loopback vision")
    assert (endpoint.base_url, endpoint.is_local) == (provider.base_url, True)
    assert_accessible(page, "the endpoints with the new one")

    follow(
        page,
        "button[type=submit]",
        "Test connection to Loopback vision",
        f"{base}/clinic/endpoints/{endpoint.pk}/",
    )
    provider.wait_for_requests(1)
    assert "answered and its answer could be read" in page.inner_text(".messages")
    assert AuditEntry.objects.get(action=AuditAction.ENDPOINT_TESTED).details["outcome"] == "ok"
    assert_accessible(page, "the endpoint with the test's result")
