"""The clinic admin's "Test connection": one harmless question to an endpoint, through the same
egress guard as every real send, and an answer an admin can act on.

The request holds no patient data: a fixed text question and no image. It uses the endpoint's
protocol, address, model and key exactly as a real send would, so a passing test means the
address is allowed, the service answers, the key is accepted and the answer can be read. The
outcome is audited (admin, endpoint, outcome, HTTP status, time taken; never the answer).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext
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
            text += f": {reason_in_words(self.reason)}"
        return text.rstrip(".") + "."


# The kinds of address the egress guard refuses (forwarding.egress), as the admin reads them.
_ADDRESS_KINDS = {
    "link-local (cloud metadata)": _("link-local (cloud metadata)"),
    "cloud metadata": _("cloud metadata"),
    "site-local (deprecated)": _("site-local (deprecated)"),
    "unspecified": _("unspecified"),
    "multicast": _("multicast"),
    "reserved": _("reserved"),
    "loopback": _("loopback"),
    "private": _("private"),
    "private (unique local)": _("private (unique local)"),
    "shared address space (CGNAT)": _("shared address space (CGNAT)"),
}


def _refused_address(match: re.Match[str]) -> str:
    prefix, address, kind = match[1] or "", match[2], match[3]
    if kind == "not a public address":
        words = gettext("%(address)s is not a public address") % {"address": address}
    elif kind in _ADDRESS_KINDS:
        words = gettext("%(address)s is %(kind)s") % {
            "address": address,
            "kind": _ADDRESS_KINDS[kind],
        }
    else:
        return match[0]
    return gettext("the endpoint's address is refused: %(why)s") % {"why": prefix + words}


# How the egress guard and the protocol parsers word a failure (in English, for the logs too),
# and the same words for the admin who pressed "Test connection".
_REASONS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(r"could not resolve the endpoint's host name \((\w+)\)"),
        lambda m: (
            gettext("could not resolve the endpoint's host name (%(error)s)") % {"error": m[1]}
        ),
    ),
    (
        re.compile(r"the endpoint's host name resolved to no address"),
        lambda m: gettext("the endpoint's host name resolved to no address"),
    ),
    (
        re.compile(r"the endpoint's address is refused: (IPv4-mapped |6to4 )?(\S+) is (.+)"),
        _refused_address,
    ),
    (
        re.compile(r"a connection to another host than the endpoint was attempted"),
        lambda m: gettext("a connection to another host than the endpoint was attempted"),
    ),
    (
        re.compile(r"scheme (.+) is not http or https"),
        lambda m: gettext("scheme %(scheme)s is not http or https") % {"scheme": m[1]},
    ),
    (
        re.compile(r"the endpoint URL contains credentials"),
        lambda m: gettext("the endpoint URL contains credentials"),
    ),
    (
        re.compile(r"the endpoint URL has no host"),
        lambda m: gettext("the endpoint URL has no host"),
    ),
    (
        re.compile(r"the endpoint URL has an invalid port"),
        lambda m: gettext("the endpoint URL has an invalid port"),
    ),
    (
        re.compile(r"the endpoint tried to redirect \(HTTP (\d+)\)"),
        lambda m: gettext("the endpoint tried to redirect (HTTP %(status)s)") % {"status": m[1]},
    ),
    (
        re.compile(r"the answer was larger than (\d+) bytes"),
        lambda m: gettext("the answer was larger than %(size)s bytes") % {"size": m[1]},
    ),
    (
        re.compile(r"the answer took longer than the endpoint's timeout"),
        lambda m: gettext("the answer took longer than the endpoint's timeout"),
    ),
    (
        re.compile(r"the endpoint timed out \((\w+)\)"),
        lambda m: gettext("the endpoint timed out (%(error)s)") % {"error": m[1]},
    ),
    (
        re.compile(r"the endpoint's TLS certificate did not verify"),
        lambda m: gettext("the endpoint's TLS certificate did not verify"),
    ),
    (
        re.compile(r"the connection to the endpoint failed \((\w+)\)"),
        lambda m: gettext("the connection to the endpoint failed (%(error)s)") % {"error": m[1]},
    ),
    (
        re.compile(r"(\w+) answer is not JSON"),
        lambda m: gettext("the %(protocol)s answer is not JSON") % {"protocol": m[1]},
    ),
    (
        re.compile(r"(\w+) answer is not a JSON object"),
        lambda m: gettext("the %(protocol)s answer is not a JSON object") % {"protocol": m[1]},
    ),
    (
        re.compile(r"(\w+) answer is empty"),
        lambda m: gettext("the %(protocol)s answer is empty") % {"protocol": m[1]},
    ),
    # The protocol parsers' reasons (forwarding.protocols); a field's JSON path is data.
    (
        re.compile(r"(\w+) provider answered HTTP (\d+)"),
        lambda m: (
            gettext("the %(protocol)s service answered HTTP %(status)s")
            % {"protocol": m[1], "status": m[2]}
        ),
    ),
    (
        re.compile(r"(\w+) answer has no (choices\[0\]\.message|candidates)"),
        lambda m: (
            gettext("the %(protocol)s answer has no %(field)s field")
            % {"protocol": m[1], "field": m[2]}
        ),
    ),
    (
        re.compile(r"(\w+) answer has no (content) list"),
        lambda m: (
            gettext("the %(protocol)s answer has no %(field)s list")
            % {"protocol": m[1], "field": m[2]}
        ),
    ),
    (
        re.compile(r"(\w+) (choices\[0\]\.message|candidates\[0\]) is not an object"),
        lambda m: (
            gettext("in the %(protocol)s answer, %(field)s is not an object")
            % {"protocol": m[1], "field": m[2]}
        ),
    ),
    (
        re.compile(r"(\w+) answer part is not an object"),
        lambda m: (
            gettext("a part of the %(protocol)s answer is not an object") % {"protocol": m[1]}
        ),
    ),
    (
        re.compile(r"(\w+) message content is neither text nor a list of parts"),
        lambda m: (
            gettext("in the %(protocol)s answer, %(field)s is neither text nor a list of parts")
            % {"protocol": m[1], "field": "choices[0].message.content"}
        ),
    ),
    (
        re.compile(r"(\w+) (candidates\[0\]) has no content parts"),
        lambda m: (
            gettext("in the %(protocol)s answer, %(field)s has no parts")
            % {"protocol": m[1], "field": "candidates[0].content"}
        ),
    ),
    (
        re.compile(r"(\w+) model refused"),
        lambda m: gettext("the %(protocol)s model declined to answer") % {"protocol": m[1]},
    ),
    (
        re.compile(r"(\w+) answered an error object"),
        lambda m: (
            gettext("the %(protocol)s service answered with an error object") % {"protocol": m[1]}
        ),
    ),
    (
        re.compile(r"(\w+) blocked the prompt"),
        lambda m: gettext("the %(protocol)s service blocked the question") % {"protocol": m[1]},
    ),
    (
        re.compile(r"(\w+) stopped for safety"),
        lambda m: (
            gettext("the %(protocol)s service stopped its answer for safety reasons")
            % {"protocol": m[1]}
        ),
    ),
]


def reason_in_words(reason: str) -> str:
    """``reason`` in the admin's language; a wording not known here is shown as it is (it names
    the technical detail that failed, which is still worth reading)."""
    for pattern, words in _REASONS:
        if match := pattern.fullmatch(reason):
            return words(match)
    return reason


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
