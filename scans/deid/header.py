"""Header de-identification: PS3.15 Annex E applied as a keep-list, at every depth.

A new dataset is built from scratch: only attributes on the reviewed keep-list (keep_list.py)
are copied over, each treated by its handling; everything else is left behind. Sequences are
rebuilt item by item with the same rules, so a private tag or a name three levels down is
dropped exactly like one at the top.

Replacement values come from keyed HMAC-SHA256 so the same patient, study or image gets the same
pseudonym, UID and date shift across uploads without the gateway storing any mapping.

Raises ``HeaderError`` (a reason a person can read, never a patient value) when the object must
be quarantined instead.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pydicom import dcmwrite
from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import dictionary_has_tag, dictionary_keyword, dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    UID_dictionary,
)

from .identifiers import STANDARD_SCHEMES, Identifiers
from .keep_list import KEEP_LIST, KeepRule
from .memo import Memo
from .profile import first_action, profile_entry
from .reading import in_tag_order
from .text_values import dataset_encodings, plain_values
from .writing import encode_file

# Our Implementation Class UID (PS3.7 D.3.3.2): a fixed 2.25 UUID-derived UID, never pydicom's,
# so a file we wrote and uploaded again is not mistaken for one that kept its original UID.
IMPLEMENTATION_CLASS_UID = "2.25.147690556246780528118345774621484855140"
IMPLEMENTATION_VERSION_NAME = "SCANGW_DEID_1"
PSEUDONYM_PREFIX = "PSN-"
REDACTED = "***"

# PS3.16 CID 7050 De-identification Method.
CODE_BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
CODE_CLEAN_PIXEL_DATA = ("113101", "Clean Pixel Data Option")
CODE_CLEAN_DESCRIPTORS = ("113105", "Clean Descriptors Option")
CODE_MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
CODE_PATIENT_CHARACTERISTICS = ("113108", "Retain Patient Characteristics Option")

# Date shift magnitude: at least a year, so a shifted date never sits next to the real one.
_MIN_SHIFT_DAYS = 365
_MAX_SHIFT_DAYS = 3650
_CHARACTERISTICS = ("PatientSex", "PatientAge", "PatientSize", "PatientWeight")
_NOT_IMAGES = ("Hardcopy", "DICOS", "Eddy Current")
_CS_VALUE = re.compile(r"^[A-Z0-9 _]{0,16}$")
_MAX_LENGTH = {"SH": 16, "LO": 64, "CS": 16, "AE": 16}
_PIXEL_DATA = 0x7FE00010


class HeaderError(Exception):
    """The header cannot be de-identified safely; the message is the quarantine reason."""


@dataclass(frozen=True)
class DeidKeys:
    """One 32-byte secret; the sub-keys for pseudonyms, UIDs and date shifts derive from it."""

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != 32:
            raise ValueError("the de-identification key must be exactly 32 bytes")

    def __repr__(self) -> str:
        return "DeidKeys(<secret>)"

    def sub_key(self, label: str) -> bytes:
        """A per-purpose key, so a pseudonym never reveals anything about a UID or a shift."""
        return hmac.new(self.secret, b"scan-gateway/deid/v1/" + label.encode(), "sha256").digest()


@dataclass
class HeaderResult:
    """The cleaned dataset (file meta included) and what was done, without original values."""

    dataset: Dataset
    actions: Counter[tuple[int, str, str]] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    codes: list[tuple[str, str]] = field(default_factory=list)

    def attribute_report(self) -> list[dict[str, object]]:
        """One row per (tag, action): tag, keyword, action and how often; never a value."""
        return [
            {"tag": f"({tag >> 16:04X},{tag & 0xFFFF:04X})", "keyword": keyword,
             "action": action, "count": count}
            for (tag, keyword, action), count in sorted(self.actions.items())
        ]


@dataclass
class _Context:
    keys: DeidKeys
    identifiers: Identifiers
    retain_dates: bool
    clean_descriptors: bool
    date_shift: timedelta
    pseudonym: str
    redactor: re.Pattern[str] | None
    result: HeaderResult
    enhanced: bool = False
    # (implicit VR, little endian) of the output when it is that of the input's bytes: values
    # kept verbatim are then copied as read, never decoded and encoded again.
    verbatim_encoding: tuple[bool, bool] | None = None
    memo: Memo | None = None
    # Every _record call, in order (what an element recorded is replayed from here).
    records: list[tuple[int, str, str, str]] = field(default_factory=list)
    # Everything but an element's own bytes that its cleaning depends on (the memo's key).
    fingerprint: tuple[object, ...] = ()
    # Records replayed from the memo, not yet counted in ``result`` (_count_replayed).
    replayed_actions: list[tuple[int, str, str]] = field(default_factory=list)
    replayed_categories: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.fingerprint = (
            self.keys.sub_key("uid"), self.pseudonym, self.date_shift, self.retain_dates,
            self.clean_descriptors, self.enhanced, self.verbatim_encoding,
            self.redactor.pattern if self.redactor is not None else None,
        )


# --- keyed replacements -----------------------------------------------------------------------


def patient_key(ds: Dataset) -> str:
    """The value a pseudonym is derived from: PatientID, else name and birth date, else the
    study, else the series, else the image itself.

    A file that carries no patient, study or series still gets a pseudonym (its own): a
    missing identity is no risk, and the file is released like any other.
    """
    patient_id = str(ds.get("PatientID", "") or "").strip()
    if patient_id:
        return "id:" + patient_id
    name = str(ds.get("PatientName", "") or "").strip()
    birth = str(ds.get("PatientBirthDate", "") or "").strip()
    if name or birth:
        return f"name:{name}|{birth}"
    for keyword, label in (("StudyInstanceUID", "study"), ("SeriesInstanceUID", "series"),
                           ("SOPInstanceUID", "instance")):
        uid = str(ds.get(keyword, "") or "").strip()
        if uid:
            return f"{label}:{uid}"
    raise HeaderError("no patient id, name, study, series or instance UID to derive a "
                      "pseudonym from")


def pseudonym(keys: DeidKeys, key: str) -> str:
    """PatientID/PatientName replacement: "PSN-" and 16 hex digits of a keyed HMAC."""
    digest = hmac.new(keys.sub_key("pseudonym"), key.encode(), "sha256").hexdigest()
    return PSEUDONYM_PREFIX + digest[:16]


def remap_uid(keys: DeidKeys, uid: str) -> str:
    """A UID replaced consistently (PS3.15 E.1-1 U): 2.25 and the first 128 HMAC bits.

    Registered standard UIDs (SOP classes, transfer syntaxes, coding schemes) identify nobody
    and are needed to read the file, so they are kept.
    """
    uid = uid.strip().rstrip("\x00")
    if uid in UID_dictionary or uid == IMPLEMENTATION_CLASS_UID:
        return uid
    digest = hmac.new(keys.sub_key("uid"), uid.encode(), "sha256").digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def date_shift(keys: DeidKeys, key: str) -> timedelta:
    """One offset per patient (PS3.15 E.3.6, 113107): intervals between dates are preserved.

    Between one and ten years, earlier or later, never zero.
    """
    digest = hmac.new(keys.sub_key("date-shift"), key.encode(), "sha256").digest()
    number = int.from_bytes(digest[:8], "big")
    span = _MAX_SHIFT_DAYS - _MIN_SHIFT_DAYS + 1
    days = _MIN_SHIFT_DAYS + (number >> 1) % span
    return timedelta(days=-days if number & 1 else days)


def shift_date(value: str, shift: timedelta) -> str | None:
    """Shift a DA value; None when it is not a full date (it is then removed)."""
    value = value.strip()
    if not re.fullmatch(r"\d{8}", value):
        return None
    try:
        original = date(int(value[:4]), int(value[4:6]), int(value[6:8]))
        return (original + shift).strftime("%Y%m%d")
    except (ValueError, OverflowError):
        return None


def shift_datetime(value: str, shift: timedelta) -> str | None:
    """Shift the date part of a DT value, keep its time of day, drop any UTC offset.

    The UTC offset hints where the scan was made (Table E.1-1 removes Timezone Offset From UTC).
    """
    value = value.strip()
    match = re.fullmatch(r"(\d{8})(\d{0,6}(?:\.\d{1,6})?)([+-]\d{4})?", value)
    if match is None:
        return None
    shifted = shift_date(match.group(1), shift)
    return None if shifted is None else shifted + match.group(2)


def cap_age(value: str) -> str | None:
    """PatientAge with ages over 89 written as 090Y (HIPAA safe harbor); None if malformed."""
    match = re.fullmatch(r"(\d{3})([DWMY])", value.strip())
    if match is None:
        return None
    number, unit = int(match.group(1)), match.group(2)
    years = {"D": number / 365.25, "W": number / 52.18, "M": number / 12, "Y": number}[unit]
    return "090Y" if years > 89 else value.strip()


def build_redactor(identifiers: Identifiers) -> re.Pattern[str]:
    """One pattern for everything descriptor cleaning removes from free text (113105).

    Known values from the original header (names, ids, dates in several spellings, address
    and institution words) plus generic shapes: e-mail addresses, UIDs, dates, phone numbers,
    runs of five or more digits, and a word following a title such as "Dr".
    """
    known = sorted(identifiers.for_matching(), key=len, reverse=True)
    generic = [
        r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
        r"\d+(?:\.\d+){3,}",
        r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}",
        r"\+?\(?\d[\d ()-]{6,}\d",
        r"\d{5,}",
        r"\b(?:Dr|Mr|Mrs|Ms|Miss|Prof)\.?\s+[^\W\d_][\w'-]*",
    ]
    alternatives = generic + [re.escape(value) for value in known]
    return re.compile("|".join(alternatives), re.IGNORECASE)


def redact_text(text: str, redactor: re.Pattern[str]) -> str:
    """Free text with every identifying span replaced by ``***``."""
    return redactor.sub(REDACTED, text)


# --- support checks -----------------------------------------------------------------------------


def unsupported_reason(ds: Dataset) -> str | None:
    """Why this object is refused before cleaning, or None for an image we can handle.

    Only image storage SOP classes pass. Structured reports, encapsulated documents and other
    free-text objects are refused outright: they are free text by nature, and fail-closed is
    the rule. An overlay stored in the pixel data bits above High Bit is no reason: those bits
    are cleared when the file is written. One declared inside the stored bits cannot be told
    apart from the image and is refused.
    """
    sop_class = str(ds.get("SOPClassUID", "") or "").strip()
    if not sop_class:
        return "no SOP Class UID"
    entry = UID_dictionary.get(sop_class)
    if entry is None or entry[1] != "SOP Class":
        return "unknown SOP class (private or not in our dictionary)"
    name = entry[0]
    if "Image Storage" not in name or any(word in name for word in _NOT_IMAGES):
        if "SR" in name.split() or "Report" in name:
            return f"free-text report not supported: {name}"
        return f"not an image: {name}"
    if "PixelData" not in ds:
        return "image without pixel data"
    if not str(ds.get("SOPInstanceUID", "") or "").strip():
        return "no SOP Instance UID"
    # Overlay Bit Position (60xx,0102) other than 0 with Overlay Bits Allocated (60xx,0100)
    # other than 1: the overlay lives in the pixel data bits (retired usage, PS3.3 C.9.2).
    try:
        high_bit = int(ds.get("HighBit", 0) or 0)
    except (TypeError, ValueError):
        return "malformed High Bit"
    for tag in ds.keys():  # noqa: SIM118 (iterating a Dataset yields elements)
        if 0x6000 <= tag.group <= 0x60FF and not tag.group & 1 and tag.element == 0x0102:
            allocated = ds.get((tag.group, 0x0100))
            if allocated is not None and (allocated.value or 1) == 1:
                continue  # a separate 1-bit Overlay Data element: dropped with the group
            position = ds[tag].value or 0
            if not isinstance(position, int) or position <= high_bit:
                return "overlay stored inside the image's own pixel bits"
    return None


# --- the cleaner ---------------------------------------------------------------------------------


def clean_header(
    ds: Dataset,
    *,
    keys: DeidKeys,
    identifiers: Identifiers,
    retain_dates: bool = False,
    clean_descriptors: bool = False,
    pixels_cleaned: bool = False,
    transfer_syntax: str | None = None,
    memo: Memo | None = None,
) -> HeaderResult:
    """Build the de-identified dataset (file meta included) from the original ``ds``.

    ``transfer_syntax`` is the pixel engine's new syntax when it re-encoded the pixels;
    otherwise the original is kept, except that deflated files are written inflated so the
    independent byte search in verify.py can see every value. ``memo``: see memo.py.
    """
    key = patient_key(ds)
    result = HeaderResult(dataset=_NOT_YET)
    syntax: str = transfer_syntax or str(ds.file_meta.get("TransferSyntaxUID", "") or "")
    if syntax == DeflatedExplicitVRLittleEndian:
        syntax = ExplicitVRLittleEndian
    context = _Context(
        keys=keys,
        identifiers=identifiers,
        retain_dates=retain_dates,
        clean_descriptors=clean_descriptors,
        date_shift=date_shift(keys, key),
        pseudonym=pseudonym(keys, key),
        redactor=build_redactor(identifiers) if clean_descriptors else None,
        result=result,
        enhanced=_is_enhanced(ds),
        verbatim_encoding=_verbatim_encoding(ds, syntax),
        memo=memo,
    )
    out = _clean_dataset(ds, context)
    _count_replayed(context)
    _write_declarations(out, context, pixels_cleaned=pixels_cleaned)
    if getattr(ds, "file_meta", None) is not None:
        for elem in ds.file_meta:
            _record(context, int(elem.tag), elem.keyword, "rebuilt", "file meta rebuilt")
    if not syntax:
        raise HeaderError("no transfer syntax in the file meta information")
    out.file_meta = _file_meta(out, syntax)
    result.dataset = out
    return result


_NOT_YET = Dataset()  # HeaderResult's data set until the cleaned one is built; never changed


def _verbatim_encoding(ds: Dataset, syntax: str) -> tuple[bool, bool] | None:
    """The output's (implicit VR, little endian) when kept values may be copied as read.

    Only explicit VR input (each element states its VR, so no value is decoded to learn it)
    written in the encoding it was read in.
    """
    uid = UID(syntax)
    if not syntax or not uid.is_transfer_syntax:
        return None
    encoding = (uid.is_implicit_VR, uid.is_little_endian)
    if encoding[0] or tuple(ds.original_encoding) != encoding:
        return None
    return encoding


def _is_enhanced(ds: Dataset) -> bool:
    """Whether the IOD includes the Multi-frame Functional Groups module (Content Date Type 1)."""
    if "SharedFunctionalGroupsSequence" in ds or "PerFrameFunctionalGroupsSequence" in ds:
        return True
    entry = UID_dictionary.get(str(ds.get("SOPClassUID", "") or "").strip())
    return entry is not None and any(word in entry[0] for word in _ENHANCED_CLASSES)


_ENHANCED_CLASSES = ("Enhanced", "Breast Tomosynthesis", "X-Ray 3D", "Ophthalmic Tomography",
                     "Whole Slide", "Intravascular Optical Coherence", "Parametric Map")


def write_dataset(
    ds: Dataset, *, edit_pixels: Callable[[memoryview], None] | None = None
) -> bytes:
    """Serialise a cleaned dataset as a DICOM Part 10 file with an all-zero preamble.

    ``edit_pixels`` receives a writable view of the Pixel Data value inside the written file
    and may change it in place (pending redactions): the pixels then exist once, in the output,
    instead of once in a writable copy and again in the output.
    """
    ds.preamble = b"\x00" * 128
    buffer = io.BytesIO()
    pixels = ds.get(_PIXEL_DATA)  # a tag gives the element, not its value
    streamed = pixels is not None and not pixels.is_undefined_length and isinstance(
        pixels.value, bytes | bytearray | memoryview
    )
    if not (streamed and _append_pixels(buffer, ds, pixels)):
        if streamed:
            # pydicom encodes each value into a scratch buffer before copying it to the file;
            # a buffered value is copied in chunks instead, so the pixels are not held twice.
            reader = io.BufferedReader(_ViewStream(memoryview(pixels.value)))
            ds[_PIXEL_DATA] = DataElement(_PIXEL_DATA, pixels.VR, reader)
        try:
            dcmwrite(buffer, ds, enforce_file_format=True)
        finally:
            if streamed:
                ds[_PIXEL_DATA] = pixels
    if edit_pixels is not None:
        _edit_written_pixels(buffer, ds, edit_pixels)
    # No copy: the buffer is not shared, so BytesIO hands over its own bytes.
    return buffer.getvalue()


def _append_pixels(buffer: io.BytesIO, ds: Dataset, pixels: DataElement) -> bool:
    """Write ``ds`` up to its Pixel Data (writing.py, else pydicom), then the Pixel Data element
    in one copy.

    The bytes are those pydicom writes (tag, VR, two reserved bytes and the 32-bit length in
    explicit VR; tag and length in implicit VR; in the output's byte order), without copying
    the pixels through a buffered reader in small pieces. Returns False, having written
    nothing, where pydicom must write the element itself: an attribute after Pixel Data, an
    odd length (padded by pydicom), or a VR that is not plainly OB or OW.
    """
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    value = memoryview(pixels.value)
    if not value.contiguous:
        return False
    value = value.cast("B") if value.format != "B" or value.ndim != 1 else value
    if (
        syntax is None
        or not syntax.is_transfer_syntax
        or pixels.VR not in ("OB", "OW")
        or len(value) & 1
        or max(ds.keys()) != _PIXEL_DATA
    ):
        return False
    order = "<" if syntax.is_little_endian else ">"
    if syntax.is_implicit_VR:
        header = struct.pack(order + "HHI", 0x7FE0, 0x0010, len(value))
    else:
        header = struct.pack(order + "HH2sHI", 0x7FE0, 0x0010, pixels.VR.encode(), 0,
                             len(value))
    del ds[_PIXEL_DATA]
    try:
        encoded = encode_file(ds, ds.preamble)
        if encoded is None:
            dcmwrite(buffer, ds, enforce_file_format=True)
        else:
            buffer.write(encoded)
    finally:
        ds[_PIXEL_DATA] = pixels
    buffer.write(header)
    buffer.write(value)
    return True


class _ViewStream(io.RawIOBase):
    """A read-only, seekable stream over a memoryview that never copies it whole."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        size = min(len(target), len(self._view) - self._position)
        target[:size] = self._view[self._position : self._position + size]
        self._position += size
        return size

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}
        self._position = max(0, base[whence] + offset)
        return self._position

    def tell(self) -> int:
        return self._position


def _edit_written_pixels(
    buffer: io.BytesIO, ds: Dataset, edit: Callable[[memoryview], None]
) -> None:
    """Find the Pixel Data value at the end of the written file and let ``edit`` change it."""
    length = len(ds.PixelData)
    padded = length + (length & 1)
    with buffer.getbuffer() as view:
        start = len(view) - padded
        # Pixel Data is the last element we write; its 32-bit length sits just before it.
        if start < 8 or int.from_bytes(view[start - 4 : start], "little") != padded:
            raise HeaderError("the written pixel data could not be located")
        if bytes(view[start - 12 : start - 8]) != b"\xe0\x7f\x10\x00" and bytes(
            view[start - 8 : start - 4]
        ) != b"\xe0\x7f\x10\x00":
            raise HeaderError("the written pixel data could not be located")
        with view[start : start + length] as value:
            edit(value)


def _file_meta(out: Dataset, syntax: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = out.SOPClassUID
    meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    meta.TransferSyntaxUID = UID(syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    # PS3.10 7.1: always explicit VR little endian; every VR here is final, so pydicom need
    # not copy the group to look for ambiguous ones.
    meta.set_original_encoding(False, True, default_encoding)
    return meta


def _clean_dataset(src: Dataset, context: _Context) -> Dataset:
    """The keep-list applied to one data set; an attribute left behind is never converted
    from the bytes it was read as (nothing reads its value).

    With a memo, an element whose bytes were cleaned before in the same context (the same
    keys, pseudonym, date shift, options and redactions) gets that result again, and what was
    recorded for it is recorded again: the output is the same, the work is done once.
    """
    # Elements cleaned before are placed straight into the new data set's elements; the
    # others are cleaned into ``fresh`` the pydicom way, and join them at the end.
    elements: dict[BaseTag, DataElement | RawDataElement] = {}
    fresh = Dataset()
    encodings = dataset_encodings(src)
    memo_context = None
    if context.memo is not None:
        memo_context = context.memo.context((context.fingerprint, *encodings))
    for tag_of, raw in in_tag_order(src):  # the elements as read: nothing converted yet
        key = None
        if context.memo is not None and memo_context is not None:
            key = context.memo.key("clean", raw, memo_context)
            seen = context.memo.get(key) if key is not None else None
            if isinstance(seen, _Cleaned):
                if seen.element is not None:
                    elements[tag_of] = seen.element
                _replay(context, seen)
                continue
        first_record = len(context.records)
        _clean_element(fresh, src, tag_of, raw, encodings, context)
        if key is not None:
            assert context.memo is not None
            records = context.records[first_record:]
            context.memo.put(key, _Cleaned(
                fresh.get_item(tag_of) if tag_of in fresh else None, records,
                [(tag, keyword, action) for tag, keyword, action, _ in records],
                [category for *_, category in records],
            ))
    elements.update(fresh.items())
    out = Dataset(elements)
    if context.verbatim_encoding is not None:
        _declare_encoding(out, context.verbatim_encoding)
    return out


@dataclass(frozen=True)
class _Cleaned:
    """One element's cleaning: what it became (None: left behind) and what was recorded (as
    records, and as the actions and categories counted)."""

    element: DataElement | RawDataElement | None
    records: list[tuple[int, str, str, str]]
    actions: list[tuple[int, str, str]]
    categories: list[str]


def _clean_element(
    out: Dataset,
    src: Dataset,
    tag_of: BaseTag,
    raw: DataElement | RawDataElement,
    encodings: list[str],
    context: _Context,
) -> None:
    """Add ``raw`` to ``out`` as its keep-list rule says, or leave it behind; record which."""
    tag = int(tag_of)
    rule = KEEP_LIST.get(tag)
    if rule is None:
        keyword, category = _removal(tag)
        _record(context, tag, keyword, "removed", category)
        return
    if (
        rule.handling in ("keep", "uid")
        and context.verbatim_encoding is not None
        and isinstance(raw, RawDataElement)
        and _vr_matches(raw, rule)
    ):
        plain = (plain_values(raw.value, raw.VR or "", encodings)
                 if isinstance(raw.value, bytes) else None)
        if rule.handling == "uid" and plain is not None:
            _apply_uid(out, tag, rule.keyword, plain, context)
            return
        if rule.handling == "keep" and _verbatim(raw, plain):
            out[tag_of] = raw  # written as read
            _record(context, tag, rule.keyword, "kept", "kept")
            return
    elem = src[tag_of]
    if not _vr_matches(elem, rule):
        _record(context, tag, rule.keyword, "removed", "removed: unexpected VR or value")
        return
    _apply_rule(out, elem, rule, context)


def _declare_encoding(ds: Dataset, encoding: tuple[bool, bool]) -> None:
    """Tell pydicom that ``ds`` is in the output's encoding, so it writes the values copied as
    read (``_verbatim``) as they are, and checks no VR it need not (every VR here is final).

    Those values are numbers, binary or in decimal digits of the default repertoire: the same
    bytes under any character set, so the data set's own is declared as the original one.
    """
    if any(" or " in (elem.VR or "") for elem in ds.values()):
        return  # a VR left open ("US or SS"): pydicom settles it as it writes
    declared = ds.get("SpecificCharacterSet")  # the value
    try:
        charset = convert_encodings(declared) if declared else default_encoding
    except Exception:  # an unknown character set: pydicom decodes and encodes every value
        return
    ds.set_original_encoding(*encoding, charset)


def _verbatim(raw: RawDataElement, plain: tuple[str, ...] | None) -> bool:
    """Whether a value kept as it is may be copied as read: what decoding, checking it
    (``_plausible_value``) and encoding it again would write is these same bytes.

    Binary numbers and data are; decimal and integer strings only in their plain form (no
    leading or inner spaces, no empty values, one trailing space only as padding); text only
    when ``plain`` (its values read from the bytes, text_values.py) is plausible and written
    again gives these bytes.
    """
    value = raw.value
    if not isinstance(value, bytes) or raw.length == 0xFFFFFFFF or len(value) & 1:
        return False
    size = _BINARY_VRS.get(raw.VR or "")
    if size is not None:
        return len(value) % size == 0  # else pydicom refuses to read it: so do we
    if plain is not None:
        return _plausible_values(raw.VR or "", plain) and _written(raw.VR or "", plain) == value
    pattern = _PLAIN_NUMBERS.get(raw.VR or "")
    if pattern is None:
        return False
    padded = value.endswith(b" ")
    text = value[:-1] if padded else value
    if padded and not len(text) & 1:
        return False  # a space beyond the one that pads an odd length: pydicom drops it
    return pattern.fullmatch(text) is not None and all(
        len(number) <= 16 for number in text.split(b"\\")
    )


# Binary VRs and the size of one value (PS3.5 6.2).
_BINARY_VRS = {
    "AT": 4, "FD": 8, "FL": 4, "OB": 1, "OD": 8, "OF": 4, "OL": 4, "OV": 8, "OW": 2, "SL": 4,
    "SS": 2, "SV": 8, "UL": 4, "US": 2, "UV": 8,
}
_DS_NUMBER = rb"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,2})?"
_IS_NUMBER = rb"[+-]?\d{1,9}"
_PLAIN_NUMBERS = {
    "DS": re.compile(rb"(?:%s)(?:\\(?:%s))*" % (_DS_NUMBER, _DS_NUMBER)),
    "IS": re.compile(rb"(?:%s)(?:\\(?:%s))*" % (_IS_NUMBER, _IS_NUMBER)),
}


def _apply_rule(out: Dataset, elem: DataElement, rule: KeepRule, context: _Context) -> None:
    tag, keyword, handling = int(elem.tag), rule.keyword, rule.handling
    if handling == "keep":
        if _plausible_value(elem):
            out.add(elem)
            _record(context, tag, keyword, "kept", "kept")
        elif elem.VR in _TEXT_OR_NUMBER:
            # Emptied, not dropped: a Type 2 attribute must stay present (PS3.15 E.1.1).
            out.add(DataElement(tag, elem.VR, ""))
            _record(context, tag, keyword, "emptied", "emptied: unexpected value")
        else:
            _record(context, tag, keyword, "removed", "removed: unexpected VR or value")
    elif handling == "sequence":
        if tag == _PROCEDURE_CODE_SEQUENCE and not context.clean_descriptors:
            # PS3.15 E.1-1: X, or C with the Clean Descriptors Option.
            _record(context, tag, keyword, "removed", "removed: Table E.1-1")
            return
        items = []
        for item in elem.value:
            if _local_code(item):
                # A coded entry of a local scheme: its meaning is someone's free text and its
                # value a site's own code (PS3.16 8.2), so the item does not leave.
                _record(context, tag, keyword, "removed", "coded entry of a local scheme removed")
                continue
            items.append(_clean_dataset(item, context))
        out.add(DataElement(tag, "SQ", Sequence(items)))
        _record(context, tag, keyword, "cleaned", "sequence cleaned")
    elif handling == "uid":
        _apply_uid(out, tag, keyword, [str(v) for v in _as_list(elem.value)], context)
    elif handling == "pseudonym":
        out.add(DataElement(tag, elem.VR, context.pseudonym))
        _record(context, tag, keyword, "replaced", "replaced by pseudonym")
    elif handling == "empty":
        out.add(DataElement(tag, elem.VR, Sequence() if elem.VR == "SQ" else ""))
        _record(context, tag, keyword, "emptied", "emptied")
    elif handling == "dummy":
        out.add(DataElement(tag, elem.VR, _dummy_value(elem.VR)))
        _record(context, tag, keyword, "replaced", "replaced by a dummy value")
    elif handling == "age":
        capped = cap_age(str(elem.value or ""))
        if capped is None:
            _record(context, tag, keyword, "removed", "removed: unexpected VR or value")
        else:
            out.add(DataElement(tag, "AS", capped))
            action = "capped" if capped != str(elem.value).strip() else "kept"
            _record(context, tag, keyword, action, "age capped" if action == "capped" else "kept")
    elif handling == "date":
        _apply_date(out, elem, rule, context)
    elif handling == "descriptor":
        _apply_descriptor(out, elem, rule, context)
    else:  # "generated": written by _write_declarations, never copied from the input
        _record(context, tag, keyword, "removed", "removed: rewritten by the gateway")


def _apply_uid(
    out: Dataset, tag: int, keyword: str, uids: list[str] | tuple[str, ...], context: _Context
) -> None:
    values = [remap_uid(context.keys, uid) for uid in uids if uid.strip()]
    out.add(DataElement(tag, "UI", _one_or_many(values)))
    changed = any(uid.strip() not in UID_dictionary for uid in uids)
    action = "remapped" if changed else "kept"
    _record(context, tag, keyword, action, "UID remapped" if changed else "kept")


def _written(vr: str, values: tuple[str, ...]) -> bytes:
    """The bytes pydicom writes for plain text ``values``: joined, padded to even length."""
    text = "\\".join(values)
    if len(text) & 1:
        text += "\x00" if vr == "UI" else " "
    return text.encode("ascii")


def _apply_date(out: Dataset, elem: DataElement, rule: KeepRule, context: _Context) -> None:
    tag = int(elem.tag)
    if not context.retain_dates:
        if context.enhanced and tag in _TYPE1_IN_ENHANCED:
            # Type 1 in the Multi-frame Functional Groups module (and 1C in the MR/CT image
            # macros): a dummy date (E.1-1 action D), never the real one.
            out.add(DataElement(tag, elem.VR, _dummy_value(elem.VR)))
            _record(context, tag, rule.keyword, "replaced", "date replaced by a dummy value")
            return
        _by_profile(out, elem, rule, context, "date removed")
        return
    if elem.VR == "TM":
        # Time of day is kept with shifted dates: intervals inside a study (contrast phases,
        # PET decay) depend on it, and a time without its real date identifies no one.
        out.add(elem)
        _record(context, tag, rule.keyword, "kept", "time kept with shifted dates")
        return
    shift = shift_date if elem.VR == "DA" else shift_datetime
    shifted = [shift(str(v), context.date_shift) for v in _as_list(elem.value)]
    if not shifted or any(v is None for v in shifted):
        _record(context, tag, rule.keyword, "removed", "date removed: not a full date")
        return
    out.add(DataElement(tag, elem.VR, _one_or_many([v for v in shifted if v is not None])))
    _record(context, tag, rule.keyword, "shifted", "date shifted")


def _apply_descriptor(out: Dataset, elem: DataElement, rule: KeepRule, context: _Context) -> None:
    if context.redactor is None:
        _by_profile(out, elem, rule, context, "free text removed")
        return
    cleaned = [redact_text(str(v), context.redactor) for v in _as_list(elem.value)]
    out.add(DataElement(int(elem.tag), elem.VR, _one_or_many(cleaned)))
    _record(context, int(elem.tag), rule.keyword, "cleaned", "free text cleaned")


def _by_profile(
    out: Dataset, elem: DataElement, rule: KeepRule, context: _Context, category: str
) -> None:
    """PS3.15 E.1-1: Z keeps the attribute with no value; X (and D, never faked) drops it."""
    entry = profile_entry(int(elem.tag))
    if entry is not None and first_action(entry.action) == "Z":
        out.add(DataElement(int(elem.tag), elem.VR, ""))
        _record(context, int(elem.tag), rule.keyword, "emptied", category)
    else:
        _record(context, int(elem.tag), rule.keyword, "removed", category)


def _write_declarations(out: Dataset, context: _Context, *, pixels_cleaned: bool) -> None:
    """PatientIdentityRemoved, the method codes (PS3.16 CID 7050) and the option flags."""
    out.PatientName = context.pseudonym
    out.PatientID = context.pseudonym
    out.PatientIdentityRemoved = "YES"
    # PS3.15 E.2: REMOVED unless a Retain Longitudinal Temporal Information option applies.
    out.LongitudinalTemporalInformationModified = "MODIFIED" if context.retain_dates else "REMOVED"
    codes = [CODE_BASIC_PROFILE]
    if pixels_cleaned:
        codes.append(CODE_CLEAN_PIXEL_DATA)
        out.BurnedInAnnotation = "NO"  # PS3.15 E.3.1
    if context.clean_descriptors:
        codes.append(CODE_CLEAN_DESCRIPTORS)
    if context.retain_dates:
        codes.append(CODE_MODIFIED_DATES)
    if any(str(out.get(keyword, "") or "").strip() for keyword in _CHARACTERISTICS):
        codes.append(CODE_PATIENT_CHARACTERISTICS)
    out.DeidentificationMethod = [meaning for _, meaning in codes]
    key = ("declared codes", tuple(codes), context.verbatim_encoding)
    sequence = context.memo.get(key) if context.memo is not None else None
    if not isinstance(sequence, DataElement):
        sequence = DataElement(_METHOD_CODES, "SQ", Sequence(
            [_code_item(value, meaning, context.verbatim_encoding) for value, meaning in codes]))
        if context.memo is not None:
            context.memo.put(key, sequence)  # the same items for every file of the run
    out[_METHOD_CODES] = sequence
    context.result.codes = codes
    for keyword in ("PatientName", "PatientID"):
        tag = int(out[keyword].tag)
        if (tag, keyword, "replaced") not in context.result.actions:
            _record(context, tag, keyword, "replaced", "replaced by pseudonym")


def _code_item(value: str, meaning: str, encoding: tuple[bool, bool] | None) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    if encoding is not None:
        _declare_encoding(item, encoding)
    return item


_METHOD_CODES = 0x00120064  # De-identification Method Code Sequence


def _record(context: _Context, tag: int, keyword: str, action: str, category: str) -> None:
    context.result.actions[(tag, keyword, action)] += 1
    context.result.categories[category] += 1
    context.records.append((tag, keyword, action, category))


def _replay(context: _Context, cleaned: _Cleaned) -> None:
    """``_record`` for each of an element's records; they are counted together by
    ``_count_replayed`` once the data set is cleaned."""
    context.replayed_actions += cleaned.actions
    context.replayed_categories += cleaned.categories
    context.records += cleaned.records


def _count_replayed(context: _Context) -> None:
    context.result.actions.update(context.replayed_actions)
    context.result.categories.update(context.replayed_categories)
    context.replayed_actions, context.replayed_categories = [], []


def _removal(tag: int) -> tuple[str, str]:
    """(keyword, category) reported for an attribute left behind; decided once per tag."""
    found = _REMOVALS.get(tag)
    if found is None:
        keyword = "" if tag >> 16 & 1 else (
            dictionary_keyword(tag) if dictionary_has_tag(tag) else "")
        found = (keyword, _removal_category(tag))
        if len(_REMOVALS) < _DECISIONS_KEPT:  # bounded: a file may carry any private tags
            _REMOVALS[tag] = found
    return found


_REMOVALS: dict[int, tuple[str, str]] = {}
_DECISIONS_KEPT = 20_000


def _removal_category(tag: int) -> str:
    group, element = tag >> 16, tag & 0xFFFF
    if group & 1:
        return "removed: private attribute"
    if 0x5000 <= group <= 0x50FF:
        return "removed: curve"
    if 0x6000 <= group <= 0x60FF:
        return "removed: overlay"
    if element == 0:
        return "removed: group length"
    if profile_entry(tag) is not None:
        return "removed: Table E.1-1"
    return "removed: not on the keep-list"


_PROCEDURE_CODE_SEQUENCE = 0x00081032


def _local_code(item: Dataset) -> bool:
    """Whether ``item`` is a coded entry whose coding scheme is not a standard one."""
    if not any(keyword in item for keyword in _CODE_KEYWORDS):
        return False
    scheme = str(item.get("CodingSchemeDesignator", "") or "").strip().upper()
    return scheme not in STANDARD_SCHEMES


_CODE_KEYWORDS = ("CodeValue", "CodeMeaning", "LongCodeValue", "URNCodeValue",
                  "CodingSchemeDesignator")


def _vr_matches(elem: DataElement | RawDataElement, rule: KeepRule) -> bool:
    """A kept attribute must carry the VR the data dictionary gives it (no smuggled free text)."""
    expected = dictionary_VR(int(elem.tag))
    vr = elem.VR or ""
    if rule.handling == "sequence" or expected == "SQ":
        return vr == "SQ"
    if vr == "SQ":
        return False
    return vr in expected.split(" or ") or (expected == "OB or OW" and vr in ("OB", "OW"))


def _plausible_value(elem: DataElement) -> bool:
    """Coded and short-string values kept verbatim must look like what the VR allows."""
    if elem.VR in ("DS", "IS"):
        try:
            [float(str(value)) for value in _as_list(elem.value)]
        except ValueError:
            return False
        return True
    return _plausible_values(elem.VR, [str(value) for value in _as_list(elem.value)])


def _plausible_values(vr: str, values: list[str] | tuple[str, ...]) -> bool:
    """Short strings within their VR's length; coded strings in upper case, digits, space and
    underscore. Other text is not judged here."""
    if vr not in _MAX_LENGTH:
        return True
    for value in values:
        text = value.strip()
        if len(text) > _MAX_LENGTH[vr]:
            return False
        if vr == "CS" and not _CS_VALUE.match(text):
            return False
    return True


# ContentDate, ContentTime, AcquisitionDateTime: Type 1 (1C) in enhanced multi-frame images.
_TYPE1_IN_ENHANCED = frozenset({0x00080023, 0x00080033, 0x0008002A})
_TEXT_OR_NUMBER = frozenset({"CS", "SH", "LO", "AE", "DS", "IS"})
# PS3.15 E.1-1 action D: a dummy value of the attribute's VR, the same for every file.
DUMMY_TEXT = "REMOVED"
DUMMY_DATE, DUMMY_TIME, DUMMY_DATETIME = "19000101", "000000", "19000101000000"


def _dummy_value(vr: str) -> str:
    return {"DA": DUMMY_DATE, "TM": DUMMY_TIME, "DT": DUMMY_DATETIME}.get(vr, DUMMY_TEXT)


def _as_list(value: object) -> list[object]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return list(value)
    return [value]


def _one_or_many(values: list[str]) -> str | list[str]:
    if len(values) == 1:
        return values[0]
    return values if values else ""


def uid_digest(uid: str) -> str:
    """A short name-safe digest of an already remapped UID (for output folder names)."""
    return hashlib.sha256(uid.encode()).hexdigest()[:8]
