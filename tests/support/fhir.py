"""Checks that an exported resource is valid FHIR R4 (the invariants our exports rely on)."""

from __future__ import annotations

import re

FHIR_INSTANT = re.compile(
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)"
    r"(\.\d+)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))"
)


def assert_coding(concept: dict) -> None:
    assert concept["coding"] and all(c["system"] and c["code"] for c in concept["coding"])


def assert_valid_audit_event(event: dict) -> None:
    """The R4 AuditEvent elements with minimum cardinality 1."""
    assert event["type"]["system"] and event["type"]["code"]  # type 1..1 Coding
    assert FHIR_INSTANT.fullmatch(event["recorded"])  # recorded 1..1 instant
    assert len(event["agent"]) >= 1  # agent 1..*
    for agent in event["agent"]:
        assert isinstance(agent["requestor"], bool)  # agent.requestor 1..1
        assert agent["who"]["identifier"]["value"]
    assert event["source"]["observer"]  # source 1..1, source.observer 1..1
    assert event["outcome"] in {"0", "4", "8", "12"}
    assert event["action"] in {"C", "R", "U", "D", "E"}
    for entity in event.get("entity", []):
        assert entity["what"]["identifier"]["value"]


def assert_valid_consent(consent: dict) -> None:
    """The R4 Consent elements with minimum cardinality 1, and invariants ppc-1 and ppc-2."""
    assert consent["status"] in {
        "draft", "proposed", "active", "rejected", "inactive", "entered-in-error",
    }  # fmt: skip
    assert_coding(consent["scope"])
    assert len(consent["category"]) >= 1
    for category in consent["category"]:
        assert_coding(category)
    assert consent.get("policy") or consent.get("policyRule")  # ppc-1
    assert consent["patient"]["identifier"]["value"]  # ppc-2: privacy consent names a patient
    assert FHIR_INSTANT.fullmatch(consent["dateTime"])
