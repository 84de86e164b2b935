"""Every way an endpoint's answer can be unreadable is told to the clinic admin in their language.

GIVEN an answer shaped wrongly in each way the protocol parsers (forwarding.protocols) notice,
WHEN the "Test connection" result words the parser's reason for an admin reading German, French
or Spanish, THEN it is a sentence in that language: only the protocol's name and the JSON field
that was missing (data) are left as they are.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.utils import translation

from forwarding import protocols
from forwarding.connection_check import ConnectionResult, reason_in_words
from tests.support.languages import english_leftovers


def body(value: object) -> bytes:
    return json.dumps(value).encode()


# One answer per place a parser refuses an answer.
UNREADABLE = [
    ("openai", 500, body({})),
    ("openai", 200, b"<html>"),
    ("openai", 200, body([])),
    ("openai", 200, body({"choices": []})),
    ("openai", 200, body({"choices": [{"message": "text"}]})),
    ("openai", 200, body({"choices": [{"message": {"refusal": "no"}}]})),
    ("openai", 200, body({"choices": [{"message": {"content": 3}}]})),
    ("openai", 200, body({"choices": [{"message": {"content": ["part"]}}]})),
    ("openai", 200, body({"choices": [{"message": {"content": ""}}]})),
    ("anthropic", 200, body({"type": "error"})),
    ("anthropic", 200, body({"stop_reason": "refusal"})),
    ("anthropic", 200, body({"content": "text"})),
    ("gemini", 200, body({"promptFeedback": {"blockReason": "SAFETY"}})),
    ("gemini", 200, body({})),
    ("gemini", 200, body({"candidates": ["text"]})),
    ("gemini", 200, body({"candidates": [{"finishReason": "SAFETY"}]})),
    ("gemini", 200, body({"candidates": [{"finishReason": "STOP"}]})),
]


def parser_reason(protocol: str, status: int, answer: bytes) -> str:
    with pytest.raises(protocols.ProviderError) as refused:
        protocols.parse_answer(protocol, status, answer)
    return refused.value.reason


def test_the_answers_above_reach_every_refusal_of_the_parsers():
    source = Path(protocols.__file__).read_text()
    refusals = len(re.findall(r"raise ProviderError\(", source))
    reasons = {parser_reason(*answer) for answer in UNREADABLE}

    assert len(reasons) == refusals


@pytest.mark.parametrize("language", ["de", "fr", "es"])
@pytest.mark.parametrize(("protocol", "status", "answer"), UNREADABLE)
def test_a_parser_s_reason_is_a_sentence_in_the_admin_s_language(
    language, protocol, status, answer
):
    reason = parser_reason(protocol, status, answer)

    with translation.override(language):
        words = reason_in_words(reason)
        message = ConnectionResult("unreadable", status, 12, reason).message

    assert words != reason
    assert protocol in words
    assert english_leftovers(f"<p>{message}</p>") == []
