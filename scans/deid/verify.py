"""Independent verification of a cleaned DICOM file: a second pair of eyes, not the same code.

Nothing here imports the header cleaner's logic. The output bytes are parsed again from scratch
and checked against the keep-list DATA and the identifiers of the ORIGINAL file:

* every attribute at every depth (file meta included) must be on the keep-list: no private
  tag, no curve or overlay, nothing unknown;
* every UID must be a registered standard UID or one of ours (2.25 form), and no original UID
  may occur anywhere in the bytes;
* no identifying value of the original may occur in the bytes, searched as written, ASCII
  case-folded, and as UTF-16 LE and BE;
* person names must be our pseudonym, ages at most 090Y, and dates empty unless retained.

Returns reasons for quarantine; an empty list means the file may leave. Reasons name the kind
of value and where it came from, never the value itself.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable

import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import DeflatedExplicitVRLittleEndian, UID_dictionary

from .identifiers import Identifiers
from .keep_list import FILE_META_KEEP, KEEP_LIST

_PIXEL_DATA = 0x7FE00010
_OUR_UID = re.compile(r"^2\.25\.(0|[1-9]\d{0,38})$")
_PSEUDONYM = re.compile(r"^PSN-[0-9a-f]{16}$")
_AGE = re.compile(r"^(\d{3})([DWMY])$")
# Inside Pixel Data a short string turns up by chance (4 letters: about once in 250 MB);
# only values this long are searched there. Header bytes are searched for every value.
MIN_LENGTH_IN_PIXELS = 8


def verify_output(
    output: bytes, identifiers: Identifiers, *, retain_dates: bool
) -> list[str]:
    """Reasons to quarantine a cleaned DICOM file; empty when it is safe to release."""
    try:
        ds = pydicom.dcmread(io.BytesIO(output))
    except Exception as exc:  # any parse failure means we cannot vouch for the file
        return [f"output does not parse as DICOM ({type(exc).__name__})"]
    reasons: list[str] = []
    if output[:128] != b"\x00" * 128:
        reasons.append("preamble is not empty")
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        return [*reasons, "output has no file meta information"]
    if meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian:
        return [*reasons, "output is deflated; its bytes cannot be searched"]
    try:
        # Split first: walking the dataset converts the raw Pixel Data element and loses its
        # file position.
        header, pixels = _split_pixel_data(ds, output)
        reasons += _check_attributes(ds, meta, retain_dates=retain_dates)
        reasons += _text_value_leaks(ds, identifiers)
    except Exception as exc:
        return [*reasons, f"output could not be inspected ({type(exc).__name__})"]
    reasons += _search(header, pixels, identifiers)
    return list(dict.fromkeys(reasons))


def verify_photo_output(output: bytes, identifiers: Identifiers) -> list[str]:
    """Reasons to quarantine a cleaned photo: metadata left in it, or a known value in its bytes.

    Parsed again with Pillow; EXIF, XMP, comments and PNG text chunks must all be gone.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(output)) as image:
            image.load()
            info = dict(image.info)
            text = dict(getattr(image, "text", {}) or {})
            fmt = image.format
    except Exception as exc:
        return [f"cleaned photo does not parse ({type(exc).__name__})"]
    reasons: list[str] = []
    if fmt not in ("PNG", "JPEG"):
        reasons.append("cleaned photo is not PNG or JPEG")
    leftover = sorted(k for k in info if k.lower() in _PHOTO_METADATA or "xmp" in k.lower())
    if leftover or text:
        reasons.append("cleaned photo still carries metadata")
    reasons += _search(b"", output, identifiers)
    return list(dict.fromkeys(reasons))


_PHOTO_METADATA = frozenset({"exif", "xmp", "comment", "comments", "photoshop", "iptc"})


def _check_attributes(ds: Dataset, meta: Dataset, *, retain_dates: bool) -> list[str]:
    reasons: list[str] = []
    for elem in meta:
        if int(elem.tag) not in FILE_META_KEEP:
            reasons.append(f"file meta attribute {elem.tag} is not allowed")
        if elem.VR == "UI" and not _allowed_uid(str(elem.value)):
            reasons.append(f"file meta {elem.keyword} is not a remapped or standard UID")
    for elem in ds.iterall():
        tag = int(elem.tag)
        name = elem.keyword or str(elem.tag)
        if elem.tag.is_private:
            reasons.append(f"private attribute {elem.tag} survived")
            continue
        if tag not in KEEP_LIST:
            reasons.append(f"attribute {name} {elem.tag} is not on the keep-list")
            continue
        checked = elem.VR in ("UI", "PN", "DA", "DT", "TM", "AS")
        values = [str(v) for v in _as_list(elem.value)] if checked else []
        if elem.VR == "UI" and not all(_allowed_uid(v) for v in values):
            reasons.append(f"{name} is not a remapped or standard UID")
        elif elem.VR == "PN" and not all(_PSEUDONYM.match(v) or v == "" for v in values):
            reasons.append(f"{name} holds a person name that is not our pseudonym")
        elif elem.VR in ("DA", "DT", "TM") and not retain_dates and any(values):
            reasons.append(f"{name} holds a date or time although dates are not retained")
        elif elem.VR == "AS" and not all(_age_allowed(v) for v in values):
            reasons.append(f"{name} is malformed or over 89 years")
    if str(ds.get("PatientIdentityRemoved", "")) != "YES":
        reasons.append("PatientIdentityRemoved is not YES")
    if not _PSEUDONYM.match(str(ds.get("PatientID", ""))):
        reasons.append("PatientID is not a pseudonym")
    return reasons


def _split_pixel_data(ds: Dataset, output: bytes) -> tuple[bytes, bytes]:
    """The bytes before Pixel Data, and the Pixel Data value; nothing may follow it."""
    raw = ds.get_item(_PIXEL_DATA)
    if raw is None:
        return output, b""
    start = raw.value_tell
    value = raw.value or b""
    end = start + len(value)
    if raw.length == 0xFFFFFFFF:
        end += 8  # sequence delimitation item after the encapsulated fragments
    if output[end:].strip(b"\x00"):
        raise ValueError("bytes follow the pixel data")
    return output[:start], output[start:end]


def _search(header: bytes, pixels: bytes, identifiers: Identifiers) -> list[str]:
    """Search the bytes for every forbidden value and every original UID.

    Header bytes: every value, ASCII case-folded, as UTF-8, Latin-1 and UTF-16 LE/BE.
    Pixel Data: the core identity (names, ids, accession number, values the uploader gave) of
    MIN_LENGTH_IN_PIXELS characters or more, case-folded UTF-8, and the original UIDs. Burned-in
    text is the pixel engine's check (it reads the image); this one catches text bytes carried
    inside the Pixel Data element, at a cost a 1000-slice series can afford (each needle is a
    full scan of the pixel bytes).
    """
    reasons: list[str] = []
    folded_header = header.lower()
    folded_pixels = pixels.lower()
    for value in sorted(identifiers.forbidden()):
        source = identifiers.sources.get(value, "the original header")
        label = _find(value, folded_header, _HEADER_ENCODINGS)
        if label is None and source in PIXEL_SEARCH_SOURCES and len(value) >= MIN_LENGTH_IN_PIXELS:
            label = _find(value, folded_pixels, ("UTF-8",))
            label = None if label is None else f"pixel data, {label}"
        if label is not None:
            reasons.append(f"identifying value from {source} found in the output ({label})")
    for uid in sorted(identifiers.uids):
        encoded = uid.encode("ascii", errors="ignore")
        if uid not in UID_dictionary and encoded and (encoded in header or encoded in pixels):
            reasons.append("an original UID survived in the output")
    return reasons


# Whose values are also searched inside Pixel Data (see _search).
PIXEL_SEARCH_SOURCES = frozenset(
    {
        "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthName",
        "PatientMotherBirthName", "AccessionNumber", "IssuerOfPatientID", "given by uploader",
    }
)
_HEADER_ENCODINGS = ("UTF-8", "Latin-1", "UTF-16 LE", "UTF-16 BE")


def _find(value: str, folded: bytes, encodings: Iterable[str]) -> str | None:
    """Which encoding of ``value`` occurs in ``folded`` (bytes with ASCII folded), if any."""
    for encoding in encodings:
        codec = encoding.lower().replace(" ", "-")
        needles = {_encode(spelling, codec).lower() for spelling in (value, value.upper())}
        if any(needle and needle in folded for needle in needles):
            return f"{encoding}, case-folded"
    return None


def _text_value_leaks(ds: Dataset, identifiers: Identifiers) -> list[str]:
    """The same search on decoded text values, whatever character set the file declares."""
    forbidden = [(value.casefold(), value) for value in identifiers.forbidden()]
    reasons = []
    for elem in ds.iterall():
        if elem.VR not in _TEXT_VRS:
            continue
        for text in _as_list(elem.value):
            folded = str(text).casefold()
            for needle, value in forbidden:
                if needle in folded:
                    source = identifiers.sources.get(value, "the original header")
                    reasons.append(
                        f"identifying value from {source} found in {elem.keyword or elem.tag}"
                    )
    return reasons


_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})


def _encode(value: str, encoding: str) -> bytes:
    try:
        return value.encode(encoding)
    except UnicodeEncodeError:
        return b""


def _allowed_uid(value: str) -> bool:
    value = value.strip().rstrip("\x00")
    return value == "" or value in UID_dictionary or bool(_OUR_UID.match(value))


def _age_allowed(value: str) -> bool:
    match = _AGE.match(value.strip())
    if value.strip() == "":
        return True
    if match is None:
        return False
    number, unit = int(match.group(1)), match.group(2)
    days = number * {"D": 1, "W": 7, "M": 30.44, "Y": 365.25}[unit]
    return days <= 90 * 365.25


def _as_list(value: object) -> Iterable[object]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return list(value)
    return [value]
