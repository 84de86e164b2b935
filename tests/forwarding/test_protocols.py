"""Each provider protocol: the request it builds, and how its answers are read."""

import json

import pytest

from forwarding.protocols import ProviderError, build_request, parse_answer
from tests.support.fakes import success_body


def _build(protocol: str, **overrides):
    arguments = {
        "base_url": "https://provider.example/",
        "model": "vision-1",
        "api_key": "sk-test",
        "system_prompt": "Be careful.",
        "question": "Is this normal?",
        "images": [(b"\x89PNG fake", "image/png")],
    } | overrides
    return build_request(protocol, **arguments)


def test_openai_posts_chat_completions_with_bearer_auth_and_a_data_url():
    request = _build("openai")
    assert (request.method, request.url) == ("POST", "https://provider.example/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"
    body = json.loads(request.body)
    assert body["messages"][0] == {"role": "system", "content": "Be careful."}
    parts = body["messages"][1]["content"]
    assert parts[0] == {"type": "text", "text": "Is this normal?"}
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_anthropic_posts_messages_with_key_and_version_headers():
    request = _build("anthropic")
    assert request.url == "https://provider.example/v1/messages"
    assert request.headers["x-api-key"] == "sk-test"
    assert request.headers["anthropic-version"] == "2023-06-01"
    body = json.loads(request.body)
    assert body["system"] == "Be careful."
    assert body["max_tokens"] > 0
    assert [block["type"] for block in body["messages"][0]["content"]] == ["image", "text"]


def test_gemini_posts_generate_content_for_the_model_with_the_goog_key_header():
    request = _build("gemini", model="gemini-2.5-flash")
    assert request.url == (
        "https://provider.example/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert request.headers["x-goog-api-key"] == "sk-test"
    body = json.loads(request.body)
    assert body["systemInstruction"] == {"parts": [{"text": "Be careful."}]}
    assert body["contents"][0]["parts"][-1] == {"text": "Is this normal?"}


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
def test_the_same_inputs_build_the_same_bytes(protocol):
    assert _build(protocol).body == _build(protocol).body


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
def test_no_credentials_are_sent_without_a_key(protocol):
    headers = _build(protocol, api_key="").headers
    assert not {"authorization", "x-api-key", "x-goog-api-key"} & set(headers)


def test_a_prepared_request_never_shows_its_key_or_images_in_repr():
    text = repr(_build("openai"))
    assert "sk-test" not in text and "base64" not in text


def test_an_unsupported_image_type_is_refused():
    with pytest.raises(ValueError, match="unsupported image type"):
        _build("openai", images=[(b"x", "application/dicom")])


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
def test_a_successful_answer_is_read_back(protocol):
    assert parse_answer(protocol, 200, success_body(protocol, "All fine.")) == "All fine."


@pytest.mark.parametrize(
    ("protocol", "body"),
    [
        ("openai", b"not json"),
        ("openai", b"[]"),
        ("openai", b'{"choices": []}'),
        ("openai", b'{"choices": [{"message": {"content": ""}}]}'),
        ("anthropic", b'{"type": "error", "error": {"type": "overloaded_error"}}'),
        ("anthropic", b'{"content": "text instead of blocks"}'),
        ("gemini", b'{"candidates": [{"content": {}}]}'),
        ("gemini", b"{}"),
    ],
)
def test_a_malformed_answer_raises_a_message_for_the_patient(protocol, body):
    with pytest.raises(ProviderError) as caught:
        parse_answer(protocol, 200, body)
    assert "could not read" in caught.value.patient_message


def test_an_error_status_is_not_read_as_an_answer():
    with pytest.raises(ProviderError, match="HTTP 500"):
        parse_answer("openai", 500, success_body("openai"))


@pytest.mark.parametrize(
    ("protocol", "body"),
    [
        ("gemini", b'{"promptFeedback": {"blockReason": "SAFETY"}}'),
        ("anthropic", b'{"content": [], "stop_reason": "refusal"}'),
        ("openai", b'{"choices": [{"message": {"content": null, "refusal": "No."}}]}'),
    ],
)
def test_a_declined_answer_tells_the_patient_the_service_declined(protocol, body):
    with pytest.raises(ProviderError) as caught:
        parse_answer(protocol, 200, body)
    assert "declined" in caught.value.patient_message
