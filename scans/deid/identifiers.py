"""Every identifying value found in an ORIGINAL dataset, for checks that run after cleaning.

Verification searches the cleaned bytes for these values; descriptor cleaning redacts them from
free text; the pixel engine matches recognised text against them. They are held in memory only:
never persisted, never logged (the repr hides them).

Two tiers, because a check is only as good as its false-positive rate:

* ``values``: whole identifying values (names and name components, ids, addresses,
  institution/station names, private text values) and dates in several spellings. None of
  these may occur in a cleaned file; a hit quarantines it.
* ``tokens``: words taken from inside addresses and institution names ("MERCY", "ELM").
  Good for redacting free text and matching burned-in text, too common to forbid outright
  (a hospital named "... Medical Center" must not quarantine every GE MEDICAL SYSTEMS image).

``benign`` holds the text the original carries in attributes that identify no one and are kept
verbatim (Manufacturer, model name, ImageType, coded values of standard schemes, registered
UIDs). A value found in the original is not forbidden when it is one of those, or a whole word
of one: InstitutionName "TOSHIBA" beside Manufacturer "TOSHIBA_MEC", a private tag repeating
the model name or the SOP Class UID, a patient called "Perfusion" on a perfusion series. The
output can only carry such a value where the original already did in a non-identifying place.
Values given by the uploader are never exempted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydicom.datadict import dictionary_has_tag, dictionary_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.uid import UID_dictionary

from .keep_list import KEEP_LIST
from .memo import Memo
from .profile import BASIC_PROFILE
from .reading import in_tag_order
from .text_values import dataset_encodings, plain_values

# Shorter values match by chance ("M", "F", "DOE" occurs in random pixel bytes);
# PS3.15 leaves that trade-off to us: 4 characters, and 8 inside pixel data (see verify.py).
MIN_LENGTH = 4
_GENERIC = frozenset(
    {
        "YES", "NONE", "NULL", "UNKNOWN", "ANONYMOUS", "ANON", "REMOVED", "ORIGINAL", "PRIMARY",
        "SECONDARY", "DERIVED", "AXIAL", "OTHER", "TRUE", "FALSE", "TEST", "DEFAULT", "NORMAL",
        "HEAD", "BODY", "CHEST",
    }
)
_TEXT_VRS = frozenset({"AE", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "CS", "AS"})
_BULK_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "UN", "FL", "FD", "SL", "SS", "UL", "US"}
)
_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]")
_WORD = re.compile(r"[^\W_]{5,}", re.UNICODE)
_DS_LIKE = re.compile(r"^[+-]?\d{0,5}(\.\d*)?([eE][+-]?\d+)?$")
# Attributes that hold the values of our own gateway or of the software, not of a person.
_NOT_IDENTIFYING = frozenset({0x00020012, 0x00020013, 0x00020010, 0x00020002})


@dataclass(frozen=True)
class Identifiers:
    """Identifying values of one original dataset (plus any given by the uploader)."""

    values: frozenset[str] = field(default_factory=frozenset)
    tokens: frozenset[str] = field(default_factory=frozenset)
    dates: frozenset[str] = field(default_factory=frozenset)
    uids: frozenset[str] = field(default_factory=frozenset)
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    benign: frozenset[str] = field(default_factory=frozenset)

    def __repr__(self) -> str:  # never show the values themselves
        return (
            f"Identifiers(<{len(self.values)} values, {len(self.tokens)} tokens, "
            f"{len(self.dates)} dates, {len(self.uids)} uids>)"
        )

    def forbidden(self) -> frozenset[str]:
        """Values that must never occur in a cleaned file (dates in every spelling included).

        A value the original also carries in a non-identifying attribute (``benign``) is left
        out, unless the uploader gave it.
        """
        # Computed once per instance (several checks ask): the fields never change.
        cached: frozenset[str] | None = self.__dict__.get("_forbidden")
        if cached is None:
            cached = frozenset(v for v in self.values if not self.is_benign(v)) | self.dates
            object.__setattr__(self, "_forbidden", cached)
        return cached

    def is_benign(self, value: str) -> bool:
        """Whether ``value`` is, as whole words, text of a non-identifying original attribute."""
        if self.sources.get(value) == "given by uploader" or not self.benign:
            return False
        folded = value.casefold()
        # A whole-word match is a substring first: most values occur in no benign text at all.
        candidates = [text for text in self.benign if folded in text]
        if not candidates:
            return False
        pattern = whole_token_pattern(folded)
        return any(pattern.search(text) for text in candidates)

    def for_matching(self) -> frozenset[str]:
        """Everything useful to redact free text or match recognised burned-in text."""
        return self.values | self.tokens | self.dates

    def with_extra(self, extra: Iterable[str]) -> Identifiers:
        """Add values the uploader told us about (e.g. the name typed in the consent form)."""
        values = set(self.values)
        sources = dict(self.sources)
        for raw in extra:
            for value in _name_variants(str(raw)) | {str(raw).strip()}:
                if _usable(value):
                    values.add(value)
                    sources.setdefault(value, "given by uploader")
        return Identifiers(frozenset(values), self.tokens, self.dates, self.uids, sources,
                           self.benign)


def collect_identifiers(ds: Dataset, memo: Memo | None = None) -> Identifiers:
    """Gather identifying values from the original dataset at any depth, file meta included.

    One walk, in file order. Only the values something here reads are converted from the
    file's bytes (``_value_needed``): numbers, times and bulk data of public attributes are
    judged by their tag and VR and left as read. With a ``memo`` (one per run over a series),
    an element whose bytes were seen before, in the same place, contributes what it did then
    without being read again: a sequence repeated on every slice is parsed once.
    """
    found = _Found()
    _walk(ds, True, found, memo)
    if getattr(ds, "file_meta", None) is not None:
        _walk(ds.file_meta, True, found, memo)
    values: dict[str, str] = {}
    for value, source in found.values:
        values.setdefault(value, source)
    dates: dict[str, str] = {}
    for spelling, source in found.dates:
        dates.setdefault(spelling, source)
    tokens = set(found.tokens) - set(values)
    return Identifiers(
        values=frozenset(values),
        tokens=frozenset(t for t in tokens if _usable(t)),
        dates=frozenset(dates),
        uids=frozenset(found.uids),
        sources={**dates, **values},
        benign=frozenset(found.benign),
    )


@dataclass
class _Found:
    """What elements contribute, in file order: the first source of a value is the one kept."""

    values: list[tuple[str, str]] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    dates: list[tuple[str, str]] = field(default_factory=list)
    uids: list[str] = field(default_factory=list)
    benign: list[str] = field(default_factory=list)

    def extend(self, other: _Found) -> None:
        self.values += other.values
        self.tokens += other.tokens
        self.dates += other.dates
        self.uids += other.uids
        self.benign += other.benign

    def add(self, value: str, source: str) -> None:
        value = value.strip().strip("\x00").strip()
        if _usable(value):
            self.values.append((value, source))


def _walk(dataset: Dataset, benign_here: bool, found: _Found, memo: Memo | None) -> None:
    """Collect from every element of ``dataset``; ``benign_here``: not inside a private
    sequence (its text is nobody's published term)."""
    scheme = ""
    if benign_here:
        scheme = str(dataset.get("CodingSchemeDesignator", "") or "").strip().upper()
    encodings = dataset_encodings(dataset)
    memo_context = memo.context((benign_here, scheme, *encodings)) if memo is not None else None
    for tag, raw in in_tag_order(dataset):  # the elements as read: nothing converted yet
        if not _value_needed(int(tag), raw.VR, benign_here):
            continue
        key = None
        if memo is not None and memo_context is not None:
            key = memo.key("identifiers", raw, memo_context)
            seen = memo.get(key) if key is not None else None
            if isinstance(seen, _Found):
                found.extend(seen)
                continue
        own = _Found() if key is not None else found
        _element(dataset, tag, raw, benign_here, scheme, encodings, own, memo)
        if key is not None:
            assert memo is not None
            memo.put(key, own)
            found.extend(own)


def _element(
    dataset: Dataset,
    tag: BaseTag,
    raw: DataElement | RawDataElement,
    benign_here: bool,
    scheme: str,
    encodings: list[str],
    found: _Found,
    memo: Memo | None,
) -> None:
    """What one element contributes (a sequence: with everything in its items)."""
    # Plain text is read from its bytes (text_values.py); the rest by pydicom.
    vr = raw.VR or ""
    plain = (plain_values(raw.value, vr, encodings)
             if isinstance(raw, RawDataElement) and isinstance(raw.value, bytes)
             and tag != _SPECIFIC_CHARACTER_SET else None)
    if plain is not None:
        _collect(found, tag, vr, plain)
        if benign_here:
            found.benign += _benign_texts(tag, vr, plain, scheme)
        return
    elem = dataset[tag]
    _collect(found, elem.tag, elem.VR, elem.value)
    if benign_here:
        found.benign += _benign_texts(elem.tag, elem.VR, elem.value, scheme)
    if elem.VR == "SQ":
        for item in elem.value or []:
            _walk(item, benign_here and not elem.tag.is_private, found, memo)


def _collect(found: _Found, tag: BaseTag, vr: str, value: object) -> None:
    if int(tag) in _NOT_IDENTIFYING or vr == "SQ":
        return
    if vr in _BULK_VRS and not tag.is_private:
        return  # pixel data, LUTs and other bulk data hold no text we could match
    keyword = _keyword(int(tag)) or f"({tag.group:04X},{tag.element:04X})"
    for text in _strings(value):
        if vr == "UI":
            if text and text not in UID_dictionary:
                found.uids.append(text)
        elif vr in ("DA", "DT"):
            found.dates += [(spelling, keyword) for spelling in _date_spellings(text)]
        elif vr == "PN":
            found.add(text, keyword)
            for variant in _name_variants(text):
                found.add(variant, keyword)
        elif tag.is_private:
            if tag.element >= 0x0100 and vr in _TEXT_VRS | {"UN", "OB"}:
                for part in text.split("\\"):
                    if not _DS_LIKE.match(part.strip()):
                        found.add(part, "private attribute")
        elif _is_identifying_attribute(int(tag)) and vr in _TEXT_VRS:
            found.add(text, keyword)
            found.tokens += [w for w in _WORD.findall(text) if w.upper() not in _GENERIC]


def whole_token_pattern(needle: str) -> re.Pattern[str]:
    """``needle`` as whole words: no letter or digit right before or after it.

    "TOSHIBA" is found in "TOSHIBA MEC" and "TOSHIBA_MEC", not in "TOSHIBAX"; "00000" is not
    found in "350.000000".
    """
    before = r"(?<![^\W_])" if needle[:1].isalnum() else ""
    after = r"(?![^\W_])" if needle[-1:].isalnum() else ""
    return re.compile(before + re.escape(needle) + after)


# Coding schemes whose code meanings are published terms, not local free text (PS3.16 8).
STANDARD_SCHEMES = frozenset(
    {
        "DCM", "SCT", "SRT", "LN", "RADLEX", "UCUM", "FMA", "NCIT", "UMLS", "SNM3", "99SDM",
        "ACR", "I10", "I9C", "ICD10", "MDC", "NEU", "BI", "CD2", "C4", "ISO639_1", "ISO639_2",
        "ISO3166_1", "NCDR", "UBERON", "MA", "MGI", "NCBITaxon", "PUBCHEM_CID", "RXNORM",
        "DC", "HL7", "IBSI", "ITIS_TSN", "CTV3", "ICD10PCS", "LOINC", "SNOMED", "CAS",
    }
)


def _benign_texts(tag: BaseTag, vr: str, value: object, scheme: str) -> list[str]:
    """Case-folded text of an element if it is a non-identifying attribute kept verbatim.

    Code meanings and values count only under a standard coding scheme (``scheme``, that of
    the data set holding the element): a local scheme's text is free text written by someone
    at the site. Registered UIDs count too.
    """
    if tag.is_private or vr == "SQ":
        return []
    if vr == "UI":
        return [t.casefold() for t in _strings(value) if t in UID_dictionary]
    rule = KEEP_LIST.get(int(tag))
    if rule is None or rule.handling != "keep" or vr not in _TEXT_VRS:
        return []
    if int(tag) in _CODE_TEXT and scheme not in STANDARD_SCHEMES:
        return []
    return [t.casefold() for t in _strings(value) if t.strip()]


def _keyword(tag: int) -> str:
    """DataElement.keyword: the dictionary keyword, "" for private and unknown tags."""
    return dictionary_keyword(tag) if dictionary_has_tag(tag) else ""


_SPECIFIC_CHARACTER_SET = 0x00080005


def _value_needed(tag: int, vr: str | None, benign_here: bool) -> bool:
    """Whether ``collect_identifiers`` reads the value of an element with this tag and VR.

    ``vr`` is the VR as read: None (implicit VR) or UN until the value is converted, and
    then it may become any VR, so those are always converted. Decided once per (tag, VR).
    """
    key = (tag, vr, benign_here)
    needed = _NEEDED.get(key)
    if needed is None:
        needed = _decide_value_needed(tag, vr, benign_here)
        if len(_NEEDED) < 20_000:  # bounded: a file may carry any private tags
            _NEEDED[key] = needed
    return needed


def _decide_value_needed(tag: int, vr: str | None, benign_here: bool) -> bool:
    if vr is None or vr not in _KNOWN_VRS or vr in ("UN", "SQ", "UI", "DA", "DT", "PN"):
        return True
    if tag >> 16 & 1:  # private: its text is collected, its numbers are not
        return tag & 0xFFFF >= 0x0100 and vr in _TEXT_VRS | {"OB"}
    if vr not in _TEXT_VRS:
        return False  # numbers, times, bulk data: neither identifying text nor benign text
    if _is_identifying_attribute(tag):
        return True
    rule = KEEP_LIST.get(tag)
    return benign_here and rule is not None and rule.handling == "keep"


_NEEDED: dict[tuple[int, str | None, bool], bool] = {}
_KNOWN_VRS = frozenset(
    {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF",
     "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN",
     "UR", "US", "UT", "UV"}
)


# CodeValue, CodeMeaning, LongCodeValue, URNCodeValue.
_CODE_TEXT = frozenset({0x00080100, 0x00080104, 0x00080119, 0x00080120})


def _is_identifying_attribute(tag: int) -> bool:
    """Table E.1-1 attributes other than those we keep verbatim or treat as descriptors.

    Descriptors are excluded on purpose: with the Clean Descriptors option their cleaned text is
    kept, and their identifying parts are the names, ids and dates collected elsewhere.
    """
    entry = BASIC_PROFILE.get(tag)
    if entry is None or entry.clean_descriptors:
        return False
    rule = KEEP_LIST.get(tag)
    return rule is None or rule.handling not in ("keep", "age")


def _usable(value: str) -> bool:
    return len(value) >= MIN_LENGTH and value.upper() not in _GENERIC and not value.isspace()


def _strings(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, bytes):
        text = value.decode("latin-1", errors="replace")
        printable = "".join(c if c.isprintable() else "\x00" for c in text)
        # Binary read as Latin-1 ("\xff\xff\xff\xff" is "ÿÿÿÿ") is no text: a part counts
        # only with an ASCII letter or digit in it.
        return [p for p in printable.split("\x00") if _ASCII_ALNUM.search(p)]
    return [str(value)]


def _name_variants(name: str) -> set[str]:
    """Components of a PN value and the common ways a name is written in free text."""
    variants: set[str] = set()
    for group in name.split("="):
        parts = [p.strip() for p in group.split("^")]
        words = [w for p in parts for w in re.split(r"[\s,]+", p) if w]
        variants.update(words)
        family, given = [*parts, "", ""][:2]
        if family and given:
            variants.update({f"{given} {family}", f"{family} {given}", f"{family}, {given}"})
    return variants


def _date_spellings(text: str) -> set[str]:
    """A DA (or the date part of a DT) in the spellings people and burned-in text use."""
    digits = text.strip()[:8]
    if not re.fullmatch(r"\d{8}", digits):
        return set()
    y, m, d = digits[:4], digits[4:6], digits[6:8]
    return {
        digits,
        f"{y}-{m}-{d}",
        f"{y}/{m}/{d}",
        f"{y}.{m}.{d}",
        f"{d}/{m}/{y}",
        f"{m}/{d}/{y}",
        f"{d}.{m}.{y}",
        f"{d}-{m}-{y}",
    }
