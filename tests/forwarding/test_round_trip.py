"""Each protocol, end to end through a real HTTP server: what the provider receives, and the
answer the gateway reads back."""

import pytest

from forwarding.egress import send
from forwarding.protocols import build_request, parse_answer
from tests.support.fakes import FakeProvider, images_in, make_image, question_in

PROTOCOLS = ["openai", "anthropic", "gemini"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_images_arrive_byte_identical_and_the_answer_is_read_back(protocol):
    images = [(make_image(8, 6, "PNG"), "image/png"), (make_image(5, 9, "JPEG"), "image/jpeg")]
    with FakeProvider(protocol, answer="Looks unremarkable.") as provider:
        prepared = build_request(
            protocol,
            base_url=provider.base_url,
            model="vision-1",
            api_key="sk-secret",
            system_prompt="Be careful.",
            question="Is this normal?",
            images=images,
        )
        response = send(prepared, allow_local=True, timeout=5)
        (request,) = provider.wait_for_requests(1)

    assert images_in(protocol, request) == images
    assert question_in(protocol, request) == "Is this normal?"
    assert request.body == prepared.body
    assert parse_answer(protocol, response.status, response.body) == "Looks unremarkable."


@pytest.mark.parametrize(
    ("protocol", "path", "key_header", "key_value"),
    [
        ("openai", "/v1/chat/completions", "authorization", "Bearer sk-secret"),
        ("anthropic", "/v1/messages", "x-api-key", "sk-secret"),
        ("gemini", "/v1beta/models/vision-1:generateContent", "x-goog-api-key", "sk-secret"),
    ],
)
def test_each_protocol_calls_its_path_with_its_key_header(protocol, path, key_header, key_value):
    with FakeProvider(protocol) as provider:
        prepared = build_request(
            protocol, base_url=provider.base_url, model="vision-1", api_key="sk-secret",
            system_prompt="Be careful.", question="?", images=[(make_image(), "image/png")],
        )
        send(prepared, allow_local=True, timeout=5)
        (request,) = provider.wait_for_requests(1)
    assert request.path == path
    assert request.headers[key_header] == key_value
    assert request.headers["content-type"] == "application/json"
    if protocol == "anthropic":
        assert request.headers["anthropic-version"] == "2023-06-01"
