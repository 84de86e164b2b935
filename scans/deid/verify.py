"""Independent verification of a cleaned DICOM file: a second pair of eyes, not the same code.

Nothing here imports the header cleaner's logic. The output bytes are walked again from scratch
by the verifier's own reader (output_reading.py, not the pydicom reading the cleaner used) and
checked against the keep-list DATA and the identifiers of the ORIGINAL file:

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
from collections.abc import Iterable, Iterator

import numpy as np
from pydicom.datadict import dictionary_has_tag, dictionary_VR
from pydicom.uid import DeflatedExplicitVRLittleEndian, UID_dictionary

from .identifiers import STANDARD_SCHEMES, Identifiers, whole_token_pattern
from .keep_list import FILE_META_KEEP, KEEP_LIST
from .output_reading import DataSet, Element, Output, OutputUnreadable, read_output, tag_text
from .pixel_bytes import unused_bits_dirty

_PIXEL_DATA = 0x7FE00010
_OUR_UID = re.compile(r"^2\.25\.(0|[1-9]\d{0,38})$")
_PSEUDONYM = re.compile(r"^PSN-[0-9a-f]{16}$")
_AGE = re.compile(r"^(\d{3})([DWMY])$")
# The only date and time values allowed when dates are not retained: the dummies a Type 1
# date gets (PS3.15 E.1-1 action D). Fixed text, not derived from the original.
DUMMY_DATES = frozenset({"", "19000101", "000000", "19000101000000"})
DUMMY_TEXT = "REMOVED"
# Inside Pixel Data a short string turns up by chance (4 letters: about once in 250 MB);
# only values this long are searched there. Header bytes are searched for every value.
MIN_LENGTH_IN_PIXELS = 8


def verify_output(
    output: bytes, identifiers: Identifiers, *, retain_dates: bool
) -> list[str]:
    """Reasons to quarantine a cleaned DICOM file; empty when it is safe to release."""
    try:
        read = read_output(output)
    except OutputUnreadable as exc:  # any parse failure means we cannot vouch for the file
        return [f"output does not parse as DICOM ({exc})"]
    reasons: list[str] = []
    if output[:128] != b"\x00" * 128:
        reasons.append("preamble is not empty")
    if _TRANSFER_SYNTAX not in read.meta.elements:
        return [*reasons, "output has no file meta information"]
    if read.transfer_syntax == DeflatedExplicitVRLittleEndian:
        return [*reasons, "output is deflated; its bytes cannot be searched"]
    try:
        elements = read.data_set.walk()
        reasons += _check_attributes(elements, read, retain_dates=retain_dates)
        reasons += _local_codes(read.data_set)
        reasons += _text_value_leaks(elements, identifiers)
        reasons += _unused_bits(read)
    except Exception as exc:
        return [*reasons, f"output could not be inspected ({type(exc).__name__})"]
    reasons += _search(read.header, read.pixels, identifiers)
    return list(dict.fromkeys(reasons))


_TRANSFER_SYNTAX = 0x00020010


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
    keys = [str(k).lower() for k in info]
    leftover = sorted(k for k in keys if k in _PHOTO_METADATA or "xmp" in k)
    if leftover or text:
        reasons.append("cleaned photo still carries metadata")
    reasons += _search(b"", memoryview(output), identifiers)
    return list(dict.fromkeys(reasons))


_PHOTO_METADATA = frozenset({"exif", "xmp", "comment", "comments", "photoshop", "iptc"})


def _check_attributes(elements: list[Element], read: Output, *, retain_dates: bool) -> list[str]:
    reasons: list[str] = []
    for meta_elem in read.meta.elements.values():
        if meta_elem.tag not in FILE_META_KEEP:
            reasons.append(f"file meta attribute {tag_text(meta_elem.tag)} is not allowed")
        if meta_elem.vr == "UI" and not all(_allowed_uid(v) for v in meta_elem.values or ()):
            reasons.append(f"file meta {meta_elem.keyword} is not a remapped or standard UID")
    for elem in elements:
        tag = elem.tag
        if tag >> 16 & 1:
            reasons.append(f"private attribute {tag_text(tag)} survived")
            continue
        if tag not in KEEP_LIST:
            reasons.append(f"attribute {elem.name} {tag_text(tag)} is not on the keep-list")
            continue
        if not _vr_allowed(tag, elem.vr):
            reasons.append(f"{elem.name} is written as {elem.vr or 'no VR'}, not as the "
                           "data dictionary has it")
            continue
        values = elem.values
        if values is None:
            continue  # a number or bulk data: judged by its tag and VR alone
        if KEEP_LIST[tag].handling == "dummy":
            if any(v.strip() not in ("", DUMMY_TEXT) for v in values):
                reasons.append(f"{elem.name} holds a value other than the dummy")
            continue
        vr = elem.vr
        if vr == "UI" and not all(_allowed_uid(v) for v in values):
            reasons.append(f"{elem.name} is not a remapped or standard UID")
        elif vr == "PN" and not all(_PSEUDONYM.match(v) or v == "" for v in values):
            reasons.append(f"{elem.name} holds a person name that is not our pseudonym")
        elif vr in ("DA", "DT", "TM") and not retain_dates and any(
            v.strip() not in DUMMY_DATES for v in values
        ):
            reasons.append(f"{elem.name} holds a date or time although dates are not retained")
        elif vr == "AS" and not all(_age_allowed(v) for v in values):
            reasons.append(f"{elem.name} is malformed or over 89 years")
    top = read.data_set
    if top.text(_PATIENT_IDENTITY_REMOVED) != "YES":
        reasons.append("PatientIdentityRemoved is not YES")
    if not _PSEUDONYM.match(top.text(_PATIENT_ID)):
        reasons.append("PatientID is not a pseudonym")
    return reasons


def _vr_allowed(tag: int, vr: str) -> bool:
    """Whether ``vr`` is one the data dictionary gives ``tag`` (the cleaner keeps nothing else:
    a value written as another VR could be free text where a number belongs)."""
    return vr in _DICTIONARY_VRS.get(tag, ())


def _dictionary_vrs(tag: int) -> frozenset[str]:
    """The VRs the data dictionary gives ``tag``: "US or SS" allows either, or itself."""
    expected = dictionary_VR(tag)
    return frozenset((expected, *expected.split(" or ")))


# Looked up once for every attribute on the keep-list (no other reaches this check).
_DICTIONARY_VRS = {tag: _dictionary_vrs(tag) for tag in KEEP_LIST if dictionary_has_tag(tag)}


_PATIENT_ID, _PATIENT_IDENTITY_REMOVED = 0x00100020, 0x00120062
_DEIDENTIFICATION_METHOD, _PROCEDURE_CODE_SEQUENCE = 0x00120063, 0x00081032
_CODING_SCHEME_DESIGNATOR = 0x00080102
# CodeValue, CodingSchemeDesignator, CodeMeaning, LongCodeValue, URNCodeValue.
_CODE_TAGS = (0x00080100, 0x00080102, 0x00080104, 0x00080119, 0x00080120)


def _local_codes(top: DataSet) -> list[str]:
    """Coded entries may leave only under a standard coding scheme (a local scheme's meaning is
    free text), and Procedure Code Sequence not at all unless descriptors were cleaned."""
    reasons: list[str] = []
    method = top.elements.get(_DEIDENTIFICATION_METHOD)
    declared = {v.strip() for v in (method.values or ()) } if method is not None else set()
    if _PROCEDURE_CODE_SEQUENCE in top.elements and "Clean Descriptors Option" not in declared:
        reasons.append("Procedure Code Sequence kept without the Clean Descriptors Option")

    def walk(data_set: DataSet) -> None:
        for elem in data_set.elements.values():
            for item in elem.items:
                has_code = any(tag in item.elements for tag in _CODE_TAGS)
                scheme = item.text(_CODING_SCHEME_DESIGNATOR).strip().upper()
                if has_code and scheme not in STANDARD_SCHEMES:
                    reasons.append(f"a coded entry of a local scheme in {elem.keyword}")
                walk(item)

    walk(top)
    return reasons


def _unused_bits(read: Output) -> list[str]:
    """Bits above High Bit in uncompressed 16-bit pixels must be clear (or repeat the sign).

    Overlays were once stored there; a viewer that ignores Bits Stored would draw them.
    (Big-endian outputs occur when the header alone was cleaned.)
    """
    syntax, pixels, top = read.transfer_syntax, read.pixels, read.data_set
    if not syntax.is_transfer_syntax or syntax.is_compressed or not len(pixels):
        return []
    bits_allocated = top.number(0x00280100)
    bits_stored = top.number(0x00280101)
    if bits_allocated != 16 or not 0 < bits_stored < 16:
        return []
    signed = top.number(0x00280103) == 1
    dtype = ("<" if syntax.is_little_endian else ">") + ("i2" if signed else "u2")
    values = np.frombuffer(pixels, dtype=dtype, count=len(pixels) // 2)
    for start in range(0, values.size, _CHUNK_VALUES):
        if unused_bits_dirty(values[start : start + _CHUNK_VALUES], bits_stored):
            return ["pixel data has bits set above High Bit (an overlay could hide there)"]
    return []


_CHUNK_VALUES = 1 << 20


def _search(header: bytes, pixels: memoryview, identifiers: Identifiers) -> list[str]:
    """Search the bytes for every forbidden value and every original UID.

    Header bytes: every value, ASCII case-folded, as UTF-8, Latin-1 and UTF-16 LE/BE.
    Pixel Data: the core identity (names, ids, accession number, values the uploader gave) of
    MIN_LENGTH_IN_PIXELS characters or more, case-folded UTF-8, and the original UIDs. Burned-in
    text is the pixel engine's check (it reads the image); this one catches text bytes carried
    inside the Pixel Data element, at a cost a 1000-slice series can afford. The pixels are
    searched in overlapping chunks, so no case-folded copy of a large image is ever made.
    """
    reasons: list[str] = []
    header_text = _HeaderText(_masked_declarations(header.lower()))
    pixel_needles: dict[bytes, str] = {}
    for value in sorted(identifiers.forbidden()):
        source = identifiers.sources.get(value, "the original header")
        label = header_text.find(value, anywhere=_anywhere(value, source))
        if label is None and source in PIXEL_SEARCH_SOURCES and len(value) >= MIN_LENGTH_IN_PIXELS:
            for spelling in (value, value.upper()):
                needle = _encode(spelling, "utf-8").lower()
                if needle:
                    pixel_needles.setdefault(needle, source)
        if label is not None:
            reasons.append(f"identifying value from {source} found in the output ({label})")
    uid_needles = {
        encoded
        for uid in identifiers.uids
        if uid not in UID_dictionary and (encoded := uid.encode("ascii", errors="ignore"))
    }
    # A needle that contains a shorter one cannot occur without it: searching only the
    # shortest ones finds every leak (names come as "DOE", "DOE^JOHN", "JOHN DOE" ...; UIDs
    # of one study share its UID as their prefix).
    uid_needles = set(_without_superstrings(uid_needles))
    found_uid = any(needle in header for needle in uid_needles)
    found_pixels: set[bytes] = set()
    minimal = _without_superstrings(pixel_needles)
    if len(pixels) and (minimal or (uid_needles and not found_uid)):
        everything = [*minimal, *([] if found_uid else uid_needles)]
        longest = max(len(n) for n in everything)
        shortest = min(len(n) for n in everything)
        alphabet = _alphabet_table(everything)
        flat = np.frombuffer(pixels, dtype=np.uint8)
        # Two needle bytes in a row always include one at an odd offset: a chunk with no needle
        # byte there holds no needle. 16-bit samples keep their high bytes there, which are
        # rarely letters, so most chunks are passed over after looking at half their bytes;
        # once a chunk has one (8-bit and colour pixels: the first), every chunk is searched.
        skim = shortest >= 2
        if skim and _high_bytes_below(pixels, min(i for i, hit in enumerate(alphabet) if hit)):
            everything = []  # no odd byte is a needle byte, so no needle is anywhere
        for start, end in _chunk_ranges(len(pixels), longest - 1) if everything else ():
            if skim:
                if b"\x01" not in flat[start + 1 : end : 2].tobytes().translate(alphabet):
                    continue
                skim = False
            chunk = bytes(pixels[start:end])
            if b"\x01" * shortest not in chunk.translate(alphabet):
                continue  # no run of needle letters long enough to hold any needle
            folded = chunk.lower()
            found_pixels.update(n for n in minimal if n in folded)
            found_uid = found_uid or any(n in chunk for n in uid_needles)
    for needle in sorted(found_pixels):
        reasons.append(f"identifying value from {pixel_needles[needle]} found in the output "
                       "(pixel data, UTF-8, case-folded)")
    if found_uid:
        reasons.append("an original UID survived in the output")
    return list(dict.fromkeys(reasons))


# Letters and digits around a needle in each header encoding (bytes already case-folded): a value
# counts as found only as whole words, so "00000" is not found in "350.000000".
_WORD_BYTE = rb"[a-z0-9]"
_AROUND = {
    "UTF-8": (rb"(?<!" + _WORD_BYTE + rb")", rb"(?!" + _WORD_BYTE + rb")"),
    "Latin-1": (rb"(?<!" + _WORD_BYTE + rb")", rb"(?!" + _WORD_BYTE + rb")"),
    "UTF-16 LE": (rb"(?<![a-z0-9]\x00)", rb"(?![a-z0-9]\x00)"),
    "UTF-16 BE": (rb"(?<!\x00[a-z0-9])", rb"(?!\x00[a-z0-9])"),
}


def _anywhere(value: str, source: str) -> bool:
    """A long value of the core identity (names, ids, accession number, the uploader's values)
    is searched as a substring, glued to other letters or not; every other value as whole
    words (an institution's name inside a manufacturer's, a serial number inside a number)."""
    return source in PIXEL_SEARCH_SOURCES and len(value) >= MIN_LENGTH_IN_PIXELS


def _occurs_as_token(needle: bytes, folded: bytes, encoding: str) -> bool:
    """Whether ``needle`` occurs in ``folded`` with no letter or digit joined to either end.

    An end of the needle that is not itself a letter or digit needs no boundary. A non-ASCII
    byte next to the needle counts as a letter (it may be part of one): found more, not less.
    """
    if needle not in folded:
        return False
    text = needle.decode("utf-16-le" if encoding == "UTF-16 LE" else
                         "utf-16-be" if encoding == "UTF-16 BE" else "latin-1",
                         errors="replace")
    before, after = _AROUND[encoding]
    pattern = ((before if text[:1].isalnum() else b"") + re.escape(needle)
               + (after if text[-1:].isalnum() else b""))
    return re.search(pattern, folded) is not None


class _HeaderText:
    """The case-folded header bytes, and what a UTF-16 spelling needs to be looked for at all.

    A value of two or more characters spelled in UTF-16 starts with one of the 4-byte shapes
    listed here (two characters, each with its zero byte): a value whose first two characters
    form none of them occurs in no UTF-16 spelling, and two searches of the header are saved.
    """

    def __init__(self, folded: bytes) -> None:
        self.folded = folded
        self.le_starts = set(_UTF16_LE_START.findall(folded))
        self.be_starts = set(_UTF16_BE_START.findall(folded))

    def find(self, value: str, *, anywhere: bool) -> str | None:
        """How ``value`` occurs ("UTF-8, case-folded" ...), or None. Each spelling is matched as
        ``anywhere`` says: as a substring, else as whole words (a substring first, so the word
        check runs only for a spelling that occurs)."""
        if value.isascii() and len(value) >= 2 and "\x00" not in value[:2]:
            return self._find_ascii(value.lower(), anywhere)
        for encoding, needles in _header_needles(value):
            for needle in needles:
                if not self._may_hold(encoding, needle):
                    continue
                if needle in self.folded and (
                    anywhere or _occurs_as_token(needle, self.folded, encoding)
                ):
                    return f"{encoding}, case-folded"
        return None

    def _find_ascii(self, folded: str, anywhere: bool) -> str | None:
        """``find`` for an ASCII value of two or more characters (already case-folded): its
        one spelling per encoding (_header_needles), the UTF-16 ones encoded only when the
        header holds their first two characters in that shape."""
        needle = folded.encode("ascii")
        if needle in self.folded and (anywhere or _occurs_as_token(needle, self.folded, "UTF-8")):
            return "UTF-8, case-folded"
        first, second = needle[0], needle[1]
        if bytes((first, 0, second, 0)) in self.le_starts:
            le = folded.encode("utf-16-le")
            if le in self.folded and (anywhere or _occurs_as_token(le, self.folded, "UTF-16 LE")):
                return "UTF-16 LE, case-folded"
        if bytes((0, first, 0, second)) in self.be_starts:
            be = folded.encode("utf-16-be")
            if be in self.folded and (anywhere or _occurs_as_token(be, self.folded, "UTF-16 BE")):
                return "UTF-16 BE, case-folded"
        return None

    def _may_hold(self, encoding: str, needle: bytes) -> bool:
        if encoding == "UTF-16 LE" and len(needle) >= 4 and needle[1] == needle[3] == 0:
            return needle[:4] in self.le_starts
        if encoding == "UTF-16 BE" and len(needle) >= 4 and needle[0] == needle[2] == 0:
            return needle[:4] in self.be_starts
        return True


# Every 4-byte window (overlapping) shaped like two UTF-16 code units of the first 256 code
# points, the zero byte low (LE) or high (BE).
_UTF16_LE_START = re.compile(rb"(?=([^\x00]\x00[^\x00]\x00))")
_UTF16_BE_START = re.compile(rb"(?=(\x00[^\x00]\x00[^\x00]))")


# The de-identification declarations every output carries (PS3.16 CID 7050 code meanings): fixed
# standard text, blanked before the search so a patient called "Basic" or "Option" does not
# quarantine every file. Only these exact phrases are blanked, and only as whole words.
DECLARATIONS = (
    "Basic Application Confidentiality Profile",
    "Clean Pixel Data Option",
    "Clean Recognizable Visual Features Option",
    "Clean Graphics Option",
    "Clean Structured Content Option",
    "Clean Descriptors Option",
    "Retain Longitudinal Temporal Information Full Dates Option",
    "Retain Longitudinal Temporal Information Modified Dates Option",
    "Retain Patient Characteristics Option",
    "Retain Device Identity Option",
    "Retain UIDs Option",
    "Retain Safe Private Option",
    "Retain Institution Identity Option",
)
_DECLARATION_BYTES = re.compile(
    rb"(?<![a-z0-9])(?:" + b"|".join(re.escape(d.lower().encode()) for d in DECLARATIONS)
    + rb")(?![a-z0-9])"
)


def _masked_declarations(folded: bytes) -> bytes:
    return _DECLARATION_BYTES.sub(lambda m: b" " * len(m.group(0)), folded)


# Small enough that each chunk's copy, translation and case fold reuse warm heap memory
# (multi-megabyte ones are fresh pages every time: three times slower), and that one run
# of letters sends only its own chunk to the full search.
_SEARCH_CHUNK = 64 * 1024


def _without_superstrings(needles: Iterable[bytes]) -> list[bytes]:
    """The needles that contain no other needle."""
    kept: list[bytes] = []
    for needle in sorted(set(needles), key=len):
        if not any(shorter in needle for shorter in kept):
            kept.append(needle)
    return kept


def _high_bytes_below(pixels: memoryview, smallest: int) -> bool:
    """Whether every byte at an odd offset is below ``smallest`` (a needle's smallest byte, or
    its upper-case form): then none is a needle byte. Read as little-endian 16-bit numbers,
    those are the high bytes, all below ``smallest`` exactly when the largest number is below
    ``smallest`` * 256: one pass over the pixels, no copy. 16-bit images with up to 12 or 13
    bits stored pass here; anything else goes on to the chunked search."""
    if len(pixels) & 1 or not len(pixels):
        return False
    return int(np.frombuffer(pixels, dtype="<u2").max()) < smallest << 8


def _alphabet_table(needles: Iterable[bytes]) -> bytes:
    """A bytes.translate table: 1 for a byte that is, or case-folds to, a byte of a needle.

    Every needle occurrence (as written, or ASCII case-folded) is a run of such bytes at least
    as long as the needle, so a chunk without a long enough run needs no search. Pixel bytes
    rarely form one (16-bit images never: their high bytes are small), and one translate is
    several times cheaper than the case fold and one search per needle it saves.
    """
    table = bytearray(256)
    for byte in set(b"".join(needles)):
        table[byte] = 1
        if 0x61 <= byte <= 0x7A:  # a-z: bytes.lower() folds A-Z, and only those, onto them
            table[byte - 0x20] = 1
    return bytes(table)


def _chunk_ranges(length: int, overlap: int) -> Iterator[tuple[int, int]]:
    """(start, end) of pieces of ``length`` bytes that overlap by ``overlap`` bytes, so no
    needle straddles two pieces unseen."""
    step = _SEARCH_CHUNK
    for start in range(0, length, step):
        yield start, min(start + step + overlap, length)
        if start + step + overlap >= length:
            return


# Whose values are also searched inside Pixel Data (see _search).
PIXEL_SEARCH_SOURCES = frozenset(
    {
        "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthName",
        "PatientMotherBirthName", "AccessionNumber", "IssuerOfPatientID", "given by uploader",
    }
)
_HEADER_ENCODINGS = ("UTF-8", "Latin-1", "UTF-16 LE", "UTF-16 BE")


def _header_needles(value: str) -> list[tuple[str, tuple[bytes, ...]]]:
    """(encoding, case-folded byte spellings of ``value``) for each header encoding.

    An ASCII value is the same bytes in UTF-8 and Latin-1 and folds alike in every encoding,
    so it has one spelling in each and Latin-1 is not listed apart (UTF-8 comes first).
    """
    if value.isascii():
        folded = value.lower()
        if not folded:
            return []
        return [("UTF-8", (folded.encode("ascii"),)),
                ("UTF-16 LE", (folded.encode("utf-16-le"),)),
                ("UTF-16 BE", (folded.encode("utf-16-be"),))]
    result = []
    for encoding in _HEADER_ENCODINGS:
        codec = encoding.lower().replace(" ", "-")
        needles = {_encode(spelling, codec).lower() for spelling in (value, value.upper())}
        needles.discard(b"")
        result.append((encoding, tuple(sorted(needles))))
    return result


def _text_value_leaks(elements: list[Element], identifiers: Identifiers) -> list[str]:
    """The same search on decoded text values, whatever character set the file declares.

    Values are matched as ``_search`` does (``_anywhere``, else whole words). A declaration's
    fixed text (``DECLARATIONS``) is the one value not searched.
    """
    declarations = {d.casefold() for d in DECLARATIONS}
    texts: list[tuple[Element, str]] = []
    for elem in elements:
        if elem.values is None or elem.vr not in _TEXT_VRS:
            continue
        for text in elem.values:
            folded = text.casefold()
            if folded not in declarations:
                texts.append((elem, folded))
    # Every match is a substring first: one search of all the text (joined) per value leaves
    # only the values that occur somewhere to be matched, text by text, as words.
    joined = "\x00".join(folded for _, folded in texts)
    forbidden = []
    for value in identifiers.forbidden():
        folded_value = value.casefold()
        if folded_value not in joined:
            continue
        anywhere = _anywhere(value, identifiers.sources.get(value, ""))
        pattern = (re.compile(re.escape(folded_value)) if anywhere
                   else whole_token_pattern(folded_value))
        forbidden.append((pattern, value))
    reasons = []
    for elem, folded in texts:
        for pattern, value in forbidden:
            if pattern.search(folded):
                source = identifiers.sources.get(value, "the original header")
                reasons.append(
                    f"identifying value from {source} found in {elem.name}"
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
