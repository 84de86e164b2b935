"""The question check is a pure function: no database, no vault, no request."""

from __future__ import annotations

import pytest

from scans.consent import questions
from scans.deid.identifiers import Identifiers


@pytest.mark.parametrize(
    ("question", "category"),
    [
        ("Scanned on 2024-01-02, anything new?", questions.DATE),
        ("Taken 3 March 2023 after a fall", questions.DATE),
        ("Call me on +44 20 7946 0958 please", questions.PHONE),
        ("Write to someone@example.net", questions.EMAIL),
        ("My insurance number is 123456789", questions.LONG_NUMBER),
        ("I am pat, what does this show?", questions.ACCOUNT),
    ],
)
def test_dates_phone_numbers_emails_long_numbers_and_the_account_are_flagged(question, category):
    warnings = questions.question_warnings(
        question, identifiers=Identifiers(), email="pat@example.org"
    )
    assert category in warnings


def test_an_ordinary_question_is_not_flagged():
    warnings = questions.question_warnings(
        "Is the bone in image 2 broken, and how large is the shadow (about 12 mm)?",
        identifiers=Identifiers(), email="pat@example.org",
    )
    assert warnings == []


def test_a_value_from_the_scans_header_is_flagged_by_its_kind_never_quoted():
    """GIVEN a name and a record number found in the scan's header
    WHEN the question repeats them THEN the warnings name their kinds, not the values."""
    identifiers = Identifiers(
        values=frozenset({"Qortimer", "PID7731"}),
        sources={"Qortimer": "PatientName", "PID7731": "PatientID"},
    )
    warnings = questions.question_warnings(
        "Is Qortimer's record PID7731 fine?", identifiers=identifiers, email=""
    )
    assert warnings == [questions.NAME, questions.SCAN_ID]
    assert not any("Qortimer" in warning or "PID7731" in warning for warning in warnings)
