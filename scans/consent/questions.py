"""Checking a question for identifying details: a pure function of the question, the values
found in the scan's headers (``scans.consent.headers``) and the account's email address.

The patient is told which kinds were found (never the values) and must edit the question or
confirm it. No database, no vault: testable on its own. The kinds are English
sentences marked for the catalogues; pages translate them where they show them.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext_noop
from pydicom.datadict import dictionary_VR, tag_for_keyword

from scans.deid.identifiers import Identifiers

NAME = gettext_noop("a name from your scan")
SCAN_ID = gettext_noop("a patient or record number from your scan")
SCAN_DETAIL = gettext_noop("a detail from your scan's header (such as a hospital or address)")
SCAN_DATE = gettext_noop("a date from your scan")
DATE = gettext_noop("a date")
PHONE = gettext_noop("a phone number")
EMAIL = gettext_noop("an email address")
LONG_NUMBER = gettext_noop("a long number (it may be an id)")
ACCOUNT = gettext_noop("your account's email address or user name")

_DATE_PATTERNS = (
    re.compile(r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b"),
    re.compile(r"\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b"),
    re.compile(
        r"\b\d{1,2}(st|nd|rd|th)?\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
        r"\.?(\s+\d{2,4})?\b|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
        r"\s+\d{1,2}(st|nd|rd|th)?,?\s+\d{4}\b",
        re.IGNORECASE,
    ),
)
_PHONE = re.compile(r"(?<![\w])(\+|00)?\d[\d\s().-]{7,}\d(?![\w])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_LONG_DIGITS = re.compile(r"\d{6,}")
_ID_KEYWORDS = re.compile(r"ID|Number|Identifier", re.IGNORECASE)


def _contains(text: str, value: str) -> bool:
    """``value`` occurs in ``text`` as a whole word (case-insensitive)."""
    pattern = r"(?<![^\W_])" + re.escape(value) + r"(?![^\W_])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def _category_of(source: str) -> str:
    """Which kind of detail a header value is, from the attribute it came from."""
    tag = tag_for_keyword(source)
    if tag is not None and dictionary_VR(tag) == "PN":
        return NAME
    if _ID_KEYWORDS.search(source):
        return SCAN_ID
    return SCAN_DETAIL


def question_warnings(question: str, *, identifiers: Identifiers, email: str) -> list[str]:
    """The kinds of identifying detail found in ``question``, in a stable order, no values."""
    found: set[str] = set()
    for value in identifiers.values:
        if _contains(question, value):
            found.add(_category_of(identifiers.sources.get(value, "")))
    for value in identifiers.dates:
        if _contains(question, value):
            found.add(SCAN_DATE)
    if any(pattern.search(question) for pattern in _DATE_PATTERNS):
        found.add(DATE)
    if _EMAIL.search(question):
        found.add(EMAIL)
    without_emails = _EMAIL.sub(" ", question)
    if _LONG_DIGITS.search(without_emails):
        found.add(LONG_NUMBER)
    if any(
        sum(c.isdigit() for c in match.group()) >= 8 for match in _PHONE.finditer(without_emails)
    ):
        found.add(PHONE)
    local_part = email.split("@", 1)[0]
    if email and (
        _contains(question, email) or (len(local_part) >= 3 and _contains(question, local_part))
    ):
        found.add(ACCOUNT)
    order = [NAME, SCAN_ID, SCAN_DATE, SCAN_DETAIL, ACCOUNT, EMAIL, PHONE, DATE, LONG_NUMBER]
    return [category for category in order if category in found]
