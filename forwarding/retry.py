"""When to try sending again, and how long to wait first.

Retried: 429, 5xx, and TransportError (timeouts, refused or broken connections). Not retried:
any other status (a 400 or 401 will not fix itself), refused destinations, unreadable answers.
Waits use exponential backoff with full jitter, so many gateways failing at once do not retry in
step; a server's Retry-After is honoured instead when it gives one.

At-most-once delivery is the caller's job: ``on_attempt(n)`` runs before attempt ``n`` so the
caller can record the attempt (and refuse it) in the database first. Plain library: no Django.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from forwarding.egress import Response, TransportError
from forwarding.errors import ForwardingError, gettext_noop

BUSY_MESSAGE = gettext_noop(
    "The AI service is busy right now and asked the gateway to wait. Please try again later."
)
FAILING_MESSAGE = gettext_noop(
    "The AI service had a problem on its side and could not answer. Please try again later."
)
CREDENTIALS_MESSAGE = gettext_noop(
    "The AI service did not accept the gateway's credentials, so it could not answer. "
    "An administrator needs to check this AI endpoint."
)
REJECTED_MESSAGE = gettext_noop(
    "The AI service could not accept this request, so it could not answer. "
    "An administrator may need to check this AI endpoint's settings."
)


class SendFailed(ForwardingError):
    """No usable answer after the allowed attempts. ``last_status`` is the last HTTP status,
    or None when the last attempt got no response at all."""

    def __init__(self, reason: str, patient_message: str, last_status: int | None) -> None:
        super().__init__(reason, patient_message)
        self.last_status = last_status


def is_retryable(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header (delay in seconds, or an HTTP-date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(
    attempt: int, *, base_delay: float, max_delay: float, rng: Callable[[], float]
) -> float:
    """Full jitter: a uniform wait between 0 and the capped exponential step for ``attempt``."""
    return rng() * min(max_delay, base_delay * 2 ** (attempt - 1))


def send_with_retries(
    do_send: Callable[[], Response],
    *,
    max_attempts: int = 4,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    max_retry_after: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    on_attempt: Callable[[int], None] = lambda attempt: None,
) -> Response:
    """Call ``do_send`` until it returns a 2xx response, and return that response.

    Raises SendFailed when a status is not worth retrying, when ``max_attempts`` are used up,
    or when the server's Retry-After asks for longer than ``max_retry_after`` seconds (waiting
    less than asked would only earn another 429, and a worker should not sleep for minutes).
    EgressRefused and ProviderError from ``do_send`` pass through unretried. Anything
    ``on_attempt`` raises stops the loop before that attempt is made.
    """
    for attempt in range(1, max_attempts + 1):
        on_attempt(attempt)
        try:
            response = do_send()
        except TransportError as exc:
            last_status, reason, patient_message = None, exc.reason, exc.patient_message
            retry_after = None
        else:
            if 200 <= response.status < 300:
                return response
            last_status = response.status
            if not is_retryable(response.status):
                message = CREDENTIALS_MESSAGE if response.status in (401, 403) else REJECTED_MESSAGE
                raise SendFailed(f"the endpoint answered HTTP {last_status}", message, last_status)
            reason = f"the endpoint answered HTTP {last_status}"
            patient_message = BUSY_MESSAGE if last_status == 429 else FAILING_MESSAGE
            retry_after = retry_after_seconds(response.headers.get("retry-after"))

        if attempt == max_attempts:
            break
        if retry_after is not None and retry_after > max_retry_after:
            raise SendFailed(
                f"{reason}; Retry-After of {retry_after:.0f}s is too long to wait",
                patient_message,
                last_status,
            )
        if retry_after is not None:
            delay = retry_after
        else:
            delay = backoff_delay(attempt, base_delay=base_delay, max_delay=max_delay, rng=rng)
        sleep(delay)

    reason = f"{reason}; gave up after {max_attempts} attempts"
    raise SendFailed(reason, patient_message, last_status)
