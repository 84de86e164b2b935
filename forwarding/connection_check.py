"""The clinic admin's "Test connection": one harmless question to an endpoint, through the same
egress guard as every real send, and an answer an admin can act on.

The request holds no patient data: a fixed text question and no image. It uses the endpoint's
protocol, address, model and key exactly as a real send would, so a passing test means the
address is allowed, the service answers, the key is accepted and the answer can be read. The
outcome is audited (admin, endpoint, outcome, HTTP status, time taken; never the answer).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from accounts.models import User
from audit.actions import AuditAction
from audit.log import append as audit
from forwarding import egress, endpoints, protocols
from forwarding.models import Endpoint

TEST_QUESTION = "This is a connection test from a scan gateway. Please reply with the word OK."
TEST_SYSTEM_PROMPT = "Reply briefly."
# An admin waits for the page: a dead endpoint should not hold it for the full send timeout.
MAX_TEST_SECONDS = 20

MESSAGES = {
    "ok": _("The endpoint answered and its answer could be read."),
    "refused": _("The gateway's egress guard refused this address"),
    "unreachable": _("The endpoint could not be reached"),
    "key_refused": _("The endpoint refused the API key"),
    "http_error": _("The endpoint answered with an error"),
    "unreadable": _("The endpoint answered, but not in the shape its protocol promises"),
}


@dataclass(frozen=True)
class ConnectionResult:
    outcome: str  # a key of MESSAGES
    status: int | None
    elapsed_ms: int
    reason: str  # for the admin: written by the forwarding code, never the provider's text

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def message(self) -> str:
        text = str(MESSAGES[self.outcome])
        if self.status is not None and self.outcome != "ok":
            text += f" (HTTP {self.status})"
        if self.reason and self.outcome != "ok":
            text += f": {self.reason}"
        return text.rstrip(".") + "."


def _attempt(endpoint: Endpoint) -> tuple[str, int | None, str]:
    prepared = protocols.build_request(
        endpoint.protocol,
        base_url=endpoint.base_url,
        model=endpoint.model,
        api_key=endpoints.read_api_key(endpoint),
        system_prompt=TEST_SYSTEM_PROMPT,
        question=TEST_QUESTION,
        images=[],
    )
    try:
        response = egress.send(
            prepared,
            allow_local=endpoint.is_local,
            timeout=min(endpoint.timeout_seconds, MAX_TEST_SECONDS),
        )
    except egress.EgressRefused as exc:
        return "refused", None, exc.reason
    except egress.TransportError as exc:
        return "unreachable", None, exc.reason
    except protocols.ProviderError as exc:
        return "unreadable", None, exc.reason
    if response.status in (401, 403):
        return "key_refused", response.status, ""
    if not 200 <= response.status < 300:
        return "http_error", response.status, ""
    try:
        protocols.parse_answer(endpoint.protocol, response.status, response.body)
    except protocols.ProviderError as exc:
        return "unreadable", response.status, exc.reason
    return "ok", response.status, ""


def check_connection(endpoint: Endpoint, *, admin: User) -> ConnectionResult:
    """Ask ``endpoint`` the test question once (no retries) and record the outcome."""
    started = time.monotonic()
    outcome, status, reason = _attempt(endpoint)
    elapsed_ms = int((time.monotonic() - started) * 1000)
    details: dict[str, object] = {
        "outcome": outcome,
        "config_version": endpoint.config_version,
        "elapsed_ms": elapsed_ms,
    }
    if status is not None:
        details["status"] = status
    audit(
        AuditAction.ENDPOINT_TESTED,
        actor=admin.pseudonym,
        object_type="endpoint",
        object_id=str(endpoint.pk),
        details=details,
    )
    return ConnectionResult(outcome, status, elapsed_ms, reason)
