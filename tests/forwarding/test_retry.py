"""When sending is retried, how long it waits, and when it gives up."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from forwarding.egress import EgressRefused, Response, TransportError, send
from forwarding.protocols import PreparedRequest
from forwarding.retry import SendFailed, retry_after_seconds, send_with_retries
from tests.support.fakes import FakeProvider, success_body


class Recorder:
    """Collects the waits and attempt numbers instead of sleeping."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.attempts: list[int] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def on_attempt(self, attempt: int) -> None:
        self.attempts.append(attempt)


def _sender(provider: FakeProvider):
    prepared = PreparedRequest("POST", f"{provider.base_url}/chat/completions", {}, b"{}")
    return lambda: send(prepared, allow_local=True, timeout=5)


def test_a_429_with_retry_after_waits_as_asked_then_succeeds():
    recorder = Recorder()
    with FakeProvider() as provider:
        provider.respond((429, {"Retry-After": "2"}, b"{}"))
        response = send_with_retries(
            _sender(provider), sleep=recorder.sleep, on_attempt=recorder.on_attempt
        )
        assert len(provider.requests) == 2
    assert response.body == success_body("openai")
    assert recorder.sleeps == [2.0]
    assert recorder.attempts == [1, 2]


def test_server_errors_back_off_exponentially_with_full_jitter():
    recorder = Recorder()
    with FakeProvider() as provider:
        provider.respond((500, {}, b""), (502, {}, b""), (503, {}, b""))
        send_with_retries(
            _sender(provider), base_delay=1.0, max_delay=30.0, rng=lambda: 0.5,
            sleep=recorder.sleep,
        )
        assert len(provider.requests) == 4
    assert recorder.sleeps == [0.5, 1.0, 2.0]


def test_backoff_never_exceeds_the_maximum_delay():
    recorder = Recorder()
    responses = iter([Response(503, {}, b"")] * 5 + [Response(200, {}, b"ok")])
    send_with_retries(
        lambda: next(responses), max_attempts=6, base_delay=10.0, max_delay=15.0,
        rng=lambda: 1.0, sleep=recorder.sleep,
    )
    assert recorder.sleeps == [10.0, 15.0, 15.0, 15.0, 15.0]


def test_it_gives_up_after_the_last_attempt_with_the_last_status():
    recorder = Recorder()
    with FakeProvider() as provider:
        provider.respond(*[(503, {}, b"")] * 4)
        with pytest.raises(SendFailed) as caught:
            send_with_retries(
                _sender(provider), max_attempts=4, sleep=recorder.sleep,
                on_attempt=recorder.on_attempt,
            )
        assert len(provider.requests) == 4
    assert caught.value.last_status == 503
    assert "try again later" in caught.value.patient_message
    assert recorder.attempts == [1, 2, 3, 4]
    assert len(recorder.sleeps) == 3  # no pointless wait after the last attempt


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_other_than_429_are_not_retried(status):
    recorder = Recorder()
    with FakeProvider() as provider:
        provider.respond((status, {}, b"{}"))
        with pytest.raises(SendFailed) as caught:
            send_with_retries(_sender(provider), sleep=recorder.sleep)
        assert len(provider.requests) == 1
    assert caught.value.last_status == status
    assert recorder.sleeps == []


def test_a_rejected_key_asks_for_an_administrator():
    with pytest.raises(SendFailed) as caught:
        send_with_retries(lambda: Response(401, {}, b""), sleep=Recorder().sleep)
    assert "credentials" in caught.value.patient_message


def test_transport_errors_are_retried_and_reported_without_a_status():
    recorder = Recorder()

    def unreachable() -> Response:
        raise TransportError("connection refused")

    with pytest.raises(SendFailed) as caught:
        send_with_retries(unreachable, max_attempts=3, rng=lambda: 1.0, sleep=recorder.sleep)
    assert caught.value.last_status is None
    assert recorder.sleeps == [1.0, 2.0]


def test_a_refused_destination_is_never_retried():
    attempts = Recorder()

    def refused() -> Response:
        raise EgressRefused("loopback")

    with pytest.raises(EgressRefused):
        send_with_retries(refused, on_attempt=attempts.on_attempt, sleep=attempts.sleep)
    assert attempts.attempts == [1]


def test_a_retry_after_longer_than_the_cap_gives_up_instead_of_retrying_early():
    recorder = Recorder()
    with pytest.raises(SendFailed) as caught:
        send_with_retries(
            lambda: Response(429, {"retry-after": "3600"}, b""), max_retry_after=120,
            sleep=recorder.sleep,
        )
    assert caught.value.last_status == 429
    assert recorder.sleeps == []


def test_an_on_attempt_refusal_stops_before_the_request_is_made():
    calls = []

    def refuse_second(attempt: int) -> None:
        if attempt == 2:
            raise RuntimeError("already attempted")

    def flaky() -> Response:
        calls.append(1)
        return Response(500, {}, b"")

    with pytest.raises(RuntimeError):
        send_with_retries(flaky, on_attempt=refuse_second, sleep=Recorder().sleep)
    assert len(calls) == 1


def test_retry_after_is_read_as_seconds_or_as_an_http_date():
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(later, now=now) == 30.0
    assert retry_after_seconds(earlier, now=now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_an_http_date_retry_after_that_has_passed_retries_at_once():
    recorder = Recorder()
    when = format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)
    responses = iter([Response(503, {"retry-after": when}, b""), Response(200, {}, b"ok")])
    send_with_retries(lambda: next(responses), sleep=recorder.sleep)
    assert recorder.sleeps == [0.0]
