"""Writing a cleaned data set as DICOM bytes: pydicom's output, without its per-element cost.

pydicom writes each element through a scratch buffer, a writer looked up by VR and, for every
new sequence item, a deep copy to settle ambiguous VRs. A cleaned header is about a hundred
elements, most of them copied as read or short ASCII text, so that machinery costs more than
the rest of the header stages together. Here those elements are encoded directly; any other
element (a number converted from an implicit VR file, a person name object, text outside
ASCII) is handed to pydicom's own ``write_data_element``, one element at a time.

The bytes are pydicom's own, byte for byte (tests/scans/deid/test_writing.py compares them on
every file of the test corpora). Where the shortcut cannot promise that (big endian, deflated,
a data set pydicom would convert first, a value too long for a 16-bit length), ``encode_file``
returns None and the caller lets pydicom write the whole file. Nothing here decides what is
kept: the verifier reads the bytes written, whoever wrote them.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable

from pydicom.charset import default_encoding
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.multival import MultiValue
from pydicom.uid import UID

from .reading import in_tag_order

# VRs whose explicit VR length field is 32 bits (PS3.5 Table 7.1-1), the rest have 16.
_LONG_LENGTH_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
# Text VRs pydicom encodes as plain strings: those it writes through ``write_string`` (always
# in the default repertoire), ``write_text`` (in the data set's character set) and the date
# and time writers, which write a str value as it is. An ASCII value is the same bytes in each.
_STRING_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)
_ITEM = b"\xfe\xff\x00\xe0"
_ITEM_DELIMITER = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_UNDEFINED = 0xFFFFFFFF


class _Unsupported(Exception):
    """The shortcut cannot promise pydicom's bytes here: pydicom writes the file instead."""


def encode_file(ds: Dataset, preamble: bytes) -> bytes | None:
    """Preamble, 'DICM', file meta and every element of ``ds``, as pydicom's ``dcmwrite``
    (``enforce_file_format=True``) writes them; None where pydicom must write the file.

    ``ds`` carries a complete file meta (``header._file_meta``) and no Pixel Data: the caller
    appends that in one copy (``header._append_pixels``), and pydicom writes the rest of a
    file whose pixels are encapsulated.
    """
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if (
        meta is None
        or syntax is None
        or not UID(syntax).is_transfer_syntax
        or not syntax.is_little_endian
        or syntax.is_deflated
        or len(preamble) != 128
        or 0x7FE00010 in ds
    ):
        return None
    implicit = bool(syntax.is_implicit_VR)
    try:
        body = _data_set(ds, implicit, default_encoding)
        meta_bytes = _file_meta(meta)
    except _Unsupported:
        return None
    return b"".join((preamble, b"DICM", meta_bytes, body))


def _file_meta(meta: Dataset) -> bytes:
    """The file meta group as pydicom's ``write_file_meta_info`` (enforcing the standard)
    writes it: the version added where missing, the group length first."""
    if any(tag >> 16 != 2 for tag in meta.keys()) or any(  # noqa: SIM118 (tags)
        tag not in meta or not str(meta[tag].value or "").strip() for tag in _REQUIRED_META
    ):
        raise _Unsupported  # pydicom adds its own values, or refuses
    if 0x00020001 not in meta or not meta[0x00020001].value:
        meta.FileMetaInformationVersion = b"\x00\x01"
    if 0x00020000 in meta:
        del meta[0x00020000]
    body = _data_set(meta, False, default_encoding)
    meta.FileMetaInformationGroupLength = len(body)
    return _header(0x00020000, "UL", 4, False) + struct.pack("<I", len(body)) + body


def _data_set(ds: Dataset, implicit: bool, parent_encoding: str | list[str]) -> bytes:
    """Every element of ``ds`` in tag order, as pydicom's ``write_dataset`` writes them."""
    if _converted_by_pydicom(ds, implicit):
        raise _Unsupported
    encodings = ds.get("SpecificCharacterSet", parent_encoding)
    parts: list[bytes] = []
    for tag, elem in in_tag_order(ds):
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # retired group lengths: pydicom leaves them out too
        parts.append(_element(elem, implicit, encodings))
    return b"".join(parts)


def _converted_by_pydicom(ds: Dataset, implicit: bool) -> bool:
    """Whether pydicom would convert the elements of ``ds`` before writing them (another
    encoding or character set than the one read in) and something in it would change by that:
    an element still as read, or a VR left open ("US or SS")."""
    if ds.original_encoding == (implicit, True) and (
        ds.original_character_set == ds._character_set
    ):
        return False
    return any(
        isinstance(elem, RawDataElement) or " or " in (elem.VR or "")
        for elem in (ds.get_item(tag) for tag in ds.keys())  # noqa: SIM118 (tags, unconverted)
    )


def _element(elem: DataElement | RawDataElement, implicit: bool, encodings: object) -> bytes:
    tag = int(elem.tag)
    vr = elem.VR or ""
    if " or " in vr:
        raise _Unsupported  # pydicom settles an open VR across the whole data set first
    if isinstance(elem, RawDataElement):
        if elem.length == _UNDEFINED or not isinstance(elem.value, bytes):
            raise _Unsupported
        return _header(tag, vr, len(elem.value), implicit) + elem.value
    if vr == "SQ":
        return _sequence(elem, implicit, encodings)
    if vr in _STRING_VRS:
        value = _string_value(elem)
    elif vr == "PN":
        value = _name_value(elem)
    elif vr in _NUMBER_FORMATS:
        value = _number_value(elem)
    elif vr in ("DS", "IS"):
        value = _number_string_value(elem)
    elif vr in ("OB", "UN") and isinstance(elem.value, bytes) and not elem.is_undefined_length:
        value = elem.value + b"\x00" if len(elem.value) & 1 else elem.value
    else:
        value = None
    if value is None:
        return _by_pydicom(elem, implicit, encodings)
    return _header(tag, vr, len(value), implicit) + value


def _string_value(elem: DataElement) -> bytes | None:
    """The bytes pydicom writes for an ASCII text value, padded to even length; None for any
    other value (pydicom then writes it)."""
    value = elem.value
    if value is None:
        return b""
    if isinstance(value, str):
        text = value
    elif isinstance(value, list | tuple | MultiValue) and all(isinstance(v, str) for v in value):
        text = "\\".join(value)
    else:
        return None
    if not text.isascii():
        return None
    if len(text) & 1:
        text += "\x00" if elem.VR == "UI" else " "
    return text.encode("ascii")


# Media Storage SOP Class and Instance UIDs, Transfer Syntax, Implementation Class UID and
# Version Name: where one is missing or empty, pydicom adds its own or refuses to write.
_REQUIRED_META = (0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013)


def _name_value(elem: DataElement) -> bytes | None:
    """A person name in plain ASCII with one component group and no empty components (the
    pseudonym): pydicom writes its text as it is, padded with a space."""
    value = elem.value
    text = str(value) if value is not None else ""
    if not text.isascii() or not _SIMPLE_NAME.fullmatch(text):
        return None
    return (text + " ").encode("ascii") if len(text) & 1 else text.encode("ascii")


_SIMPLE_NAME = re.compile(r"[A-Za-z0-9 ._-]*")


def _number_value(elem: DataElement) -> bytes | None:
    """Binary numbers as pydicom's ``write_numbers`` packs them (the LUT descriptors' special
    first value aside, which pydicom writes itself)."""
    value = elem.value
    code = _NUMBER_FORMATS[elem.VR]
    if value is None or value == "":
        return b""
    if int(elem.tag) in _LUT_DESCRIPTORS:
        return None
    numbers = list(value) if isinstance(value, list | tuple | MultiValue) else [value]
    kind = float if code in "fd" else int
    if not all(type(n) is kind for n in numbers):
        return None
    try:
        return struct.pack(f"<{len(numbers)}{code}", *numbers)
    except struct.error:
        return None


def _number_string_value(elem: DataElement) -> bytes | None:
    """A decimal or integer string pydicom converted (something read it before cleaning): the
    spelling it kept of every value, as its ``write_number_string`` writes it; None for any
    other value (a number without a kept spelling, text outside ASCII)."""
    value = elem.value
    values = list(value) if isinstance(value, list | tuple | MultiValue) else [value]
    spellings = [getattr(v, "original_string", None) for v in values]
    if not values or not all(isinstance(s, str) for s in spellings):
        return None
    text = "\\".join(spellings)  # type: ignore[arg-type]
    if not text.isascii():
        return None
    return (text + " ").encode("ascii") if len(text) & 1 else text.encode("ascii")


_NUMBER_FORMATS = {"FD": "d", "FL": "f", "SL": "l", "SS": "h", "SV": "q", "UL": "L", "US": "H",
                   "UV": "Q"}
# LUT Descriptor, Red/Green/Blue Palette Color LUT Descriptor (pydicom writes their first value
# as US whatever the VR).
_LUT_DESCRIPTORS = frozenset({0x00283002, 0x00281101, 0x00281102, 0x00281103})


def _sequence(elem: DataElement, implicit: bool, encodings: object) -> bytes:
    """A sequence and its items, lengths defined unless the element or item says otherwise
    (pydicom's ``write_sequence`` and ``write_sequence_item``)."""
    parts: list[bytes] = []
    for item in _items(elem.value):
        body = _data_set(item, implicit, encodings)  # type: ignore[arg-type]
        if getattr(item, "is_undefined_length_sequence_item", False):
            parts += [_ITEM, b"\xff\xff\xff\xff", body, _ITEM_DELIMITER]
        else:
            parts += [_ITEM, struct.pack("<I", len(body)), body]
    value = b"".join(parts)
    if elem.is_undefined_length:
        return _header(int(elem.tag), "SQ", _UNDEFINED, implicit) + value + _SEQUENCE_DELIMITER
    return _header(int(elem.tag), "SQ", len(value), implicit) + value


def _items(value: object) -> Iterable[Dataset]:
    if not isinstance(value, Iterable) or not all(isinstance(i, Dataset) for i in value):
        raise _Unsupported
    return value


def _header(tag: int, vr: str, length: int, implicit: bool) -> bytes:
    """Tag, VR and length of an element in little endian (PS3.5 7.1)."""
    if implicit:
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, length)
    if vr in _LONG_LENGTH_VRS:
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr.encode(), 0, length)
    if length > 0xFFFF or len(vr) != 2:
        raise _Unsupported  # pydicom would write it as UN, or refuse
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), length)


def _by_pydicom(elem: DataElement, implicit: bool, encodings: object) -> bytes:
    """One element written by pydicom itself, for the values the shortcut does not encode."""
    if elem.is_buffered:
        raise _Unsupported
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, implicit
    write_data_element(buffer, elem, encodings)  # type: ignore[arg-type]
    return buffer.getvalue()
