"""Scans that went through the real de-identification pipeline, fake AI providers on loopback,
and the API steps of giving consent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from forwarding.models import Endpoint
from scans.models import Scan
from tests.support.consent import (  # noqa: F401
    API_KEY,
    MARKER_STRINGS,
    MARKERS,
    QUESTION,
    accept_request,
    create_request,
    endpoint_for,
    everything_in,
    give_consent,
    no_sleep,
    upload_and_process,
)
from tests.support.fakes import FakeProvider

# Planted in the original headers; none of these may ever reach a provider.


@pytest.fixture
def study(client, patient, blob_dir) -> Scan:
    return upload_and_process(client, patient, count=5)


@pytest.fixture
def openai_provider() -> Iterator[FakeProvider]:
    with FakeProvider("openai") as provider:
        yield provider


@pytest.fixture
def endpoint(openai_provider) -> Endpoint:
    return endpoint_for(openai_provider)


