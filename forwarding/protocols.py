"""How a question with de-identified images is put to each kind of AI provider, and how its
answer is read back.

Three wire protocols cover the providers a gateway is likely to use:

* ``openai``: OpenAI-compatible chat completions (OpenAI, xAI Grok, Ollama, vLLM, LM Studio,
  LiteLLM); ``base_url`` includes the version prefix, e.g. ``https://api.openai.com/v1``;
* ``anthropic``: the Anthropic Messages API; ``base_url`` is e.g. ``https://api.anthropic.com``;
* ``gemini``: Google Gemini ``generateContent``; ``base_url`` is e.g.
  ``https://generativelanguage.googleapis.com``.

Plain library: no Django, no network. Building a request is deterministic (same inputs, same
bytes), so a consent record can be checked against what was actually sent.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from forwarding.errors import ForwardingError, gettext_noop

PROTOCOLS = ("openai", "anthropic", "gemini")
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
ANTHROPIC_VERSION = "2023-06-01"
# Anthropic requires a limit; long enough for a careful explanation, short enough to bound cost.
ANSWER_MAX_TOKENS = 2048

UNREADABLE_ANSWER = gettext_noop(
    "The AI service sent back an answer the gateway could not read, so there is no answer to "
    "show. You can try again later; an administrator may need to check this AI endpoint."
)
DECLINED_ANSWER = gettext_noop(
    "The AI service declined to answer this question. Nothing is wrong with your scan; the "
    "service's own rules stopped it from replying."
)


class ProviderError(ForwardingError):
    """The provider's reply was an error, or not in the shape its protocol promises."""

    def __init__(self, reason: str, patient_message: str = UNREADABLE_ANSWER) -> None:
        super().__init__(reason, patient_message)


@dataclass(frozen=True)
class PreparedRequest:
    """One HTTP request, ready to send. Headers and body stay out of ``repr`` because they
    hold the API key and the patient's images and question."""

    method: str
    url: str
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)


def build_request(
    protocol: str,
    *,
    base_url: str,
    model: str,
    api_key: str,
    system_prompt: str,
    question: str,
    images: list[tuple[bytes, str]],
) -> PreparedRequest:
    """Return the request that asks ``model`` the patient's ``question`` about ``images``.

    ``images`` are ``(bytes, mime type)`` pairs, already de-identified and sized by the caller.
    An empty ``api_key`` sends no credentials (local servers such as Ollama need none).
    Raises ValueError for an unknown protocol or image type.
    """
    for _, mime in images:
        if mime not in IMAGE_TYPES:
            raise ValueError(f"unsupported image type {mime!r}")
    root = base_url.rstrip("/")
    headers = {"content-type": "application/json", "accept": "application/json"}
    encoded = [(base64.b64encode(data).decode("ascii"), mime) for data, mime in images]

    if protocol == "openai":
        url = f"{root}/chat/completions"
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        parts: list[dict[str, Any]] = [{"type": "text", "text": question}]
        parts += [
            {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}
            for data, mime in encoded
        ]
        payload: dict[str, Any] = {
            "model": model,
            "messages": [
                {"role": "system", "content": system_prompt},
                {"role": "user", "content": parts},
            ],
        }
    elif protocol == "anthropic":
        url = f"{root}/v1/messages"
        headers["anthropic-version"] = ANTHROPIC_VERSION
        if api_key:
            headers["x-api-key"] = api_key
        # Anthropic's guidance: images before the text that asks about them.
        blocks: list[dict[str, Any]] = [
            {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
            for data, mime in encoded
        ]
        blocks.append({"type": "text", "text": question})
        payload = {
            "model": model,
            "max_tokens": ANSWER_MAX_TOKENS,
            "system": system_prompt,
            "messages": [{"role": "user", "content": blocks}],
        }
    elif protocol == "gemini":
        url = f"{root}/v1beta/models/{quote(model, safe='')}:generateContent"
        if api_key:
            headers["x-goog-api-key"] = api_key
        gemini_parts: list[dict[str, Any]] = [
            {"inline_data": {"mime_type": mime, "data": data}} for data, mime in encoded
        ]
        gemini_parts.append({"text": question})
        payload = {
            "systemInstruction": {"parts": [{"text": system_prompt}]},
            "contents": [{"role": "user", "parts": gemini_parts}],
        }
    else:
        raise ValueError(f"unknown protocol {protocol!r}")

    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return PreparedRequest("POST", url, headers, body.encode("utf-8"))


def parse_answer(protocol: str, status: int, body: bytes) -> str:
    """Return the model's answer text from a provider response.

    Raises ProviderError (with a message the patient can understand) when the status is not
    2xx, the body is not the protocol's shape, the answer is empty, or the provider declined.
    The provider's own error text is never passed on: it is not written for patients.
    """
    if not 200 <= status < 300:
        raise ProviderError(f"{protocol} provider answered HTTP {status}")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProviderError(f"{protocol} answer is not JSON") from exc
    if not isinstance(data, dict):
        raise ProviderError(f"{protocol} answer is not a JSON object")

    if protocol == "openai":
        text = _openai_text(data)
    elif protocol == "anthropic":
        text = _anthropic_text(data)
    elif protocol == "gemini":
        text = _gemini_text(data)
    else:
        raise ValueError(f"unknown protocol {protocol!r}")
    if not text.strip():
        raise ProviderError(f"{protocol} answer is empty")
    return text


def _openai_text(data: dict[str, Any]) -> str:
    try:
        message = data["choices"][0]["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ProviderError("openai answer has no choices[0].message") from exc
    if not isinstance(message, dict):
        raise ProviderError("openai choices[0].message is not an object")
    if message.get("refusal"):
        raise ProviderError("openai model refused", DECLINED_ANSWER)
    content = message.get("content")
    if isinstance(content, str):
        return content
    # Some compatible servers return content as a list of typed parts.
    if isinstance(content, list):
        return _join_text(content, "openai")
    raise ProviderError("openai message content is neither text nor a list of parts")


def _anthropic_text(data: dict[str, Any]) -> str:
    if data.get("type") == "error":
        raise ProviderError("anthropic answered an error object")
    if data.get("stop_reason") == "refusal":
        raise ProviderError("anthropic model refused", DECLINED_ANSWER)
    content = data.get("content")
    if not isinstance(content, list):
        raise ProviderError("anthropic answer has no content list")
    return _join_text(content, "anthropic")


def _gemini_text(data: dict[str, Any]) -> str:
    candidates = data.get("candidates")
    if not candidates:
        feedback = data.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            raise ProviderError("gemini blocked the prompt", DECLINED_ANSWER)
        raise ProviderError("gemini answer has no candidates")
    first = candidates[0] if isinstance(candidates, list) else None
    if not isinstance(first, dict):
        raise ProviderError("gemini candidates[0] is not an object")
    content = first.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        if first.get("finishReason") in {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"}:
            raise ProviderError("gemini stopped for safety", DECLINED_ANSWER)
        raise ProviderError("gemini candidates[0] has no content parts")
    return _join_text(parts, "gemini")


def _join_text(parts: list[Any], protocol: str) -> str:
    """Concatenate the text parts of an answer; a part without text (e.g. thinking) is skipped."""
    texts: list[str] = []
    for part in parts:
        if not isinstance(part, dict):
            raise ProviderError(f"{protocol} answer part is not an object")
        text = part.get("text")
        if isinstance(text, str) and part.get("type", "text") == "text" and not part.get("thought"):
            texts.append(text)
    return "".join(texts)
