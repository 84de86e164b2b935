"""The verifier's own reading of a cleaned file: every element at every depth, from the bytes.

The cleaner reads uploads with pydicom; the verifier reads what was written with this walker,
so a quirk of one parser cannot hide an element from both. It walks the file meta and then the
data set element by element (PS3.5 7.1 to 7.5: explicit or implicit VR, little endian, sequences
and items of defined or undefined length), decodes only the text values the checks read, and
finds the Pixel Data value without copying it.

Anything it does not read itself (big endian, a UN element, another undefined-length value than
encapsulated Pixel Data, escape sequences of a multi-byte character set) is read by pydicom
instead, into the same shape (``from_pydicom``), so the checks in verify.py see one kind of
data set either way. Malformed bytes raise ``OutputUnreadable``: the file is then quarantined.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

import pydicom
from pydicom.charset import convert_encodings, decode_bytes, default_encoding
from pydicom.datadict import dictionary_has_tag, dictionary_keyword, dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID
from pydicom.valuerep import TEXT_VR_DELIMS

from .pixel_bytes import locate_pixel_data
from .text_values import STRING_VRS, split_values

PIXEL_DATA = 0x7FE00010
_SPECIFIC_CHARACTER_SET = 0x00080005
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_LONG_LENGTH_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
# Decoded in the data set's character set (pydicom's text VRs), else in the default repertoire.
_CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_KNOWN_VRS = frozenset(
    {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF",
     "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UR",
     "US", "UT", "UV"}
)
_KNOWN_VR_BYTES = frozenset(vr.encode() for vr in _KNOWN_VRS)
_ESCAPE = 0x1B


class OutputUnreadable(Exception):
    """The bytes do not walk as DICOM; the message names the kind of problem, never a value."""


class _NotHere(Exception):
    """Something this walker leaves to pydicom."""


@dataclass
class Element:
    """One attribute: its tag, VR, decoded text values (None where no check reads them:
    numbers and bulk data) and, for a sequence, its items."""

    tag: int
    vr: str
    values: tuple[str, ...] | None
    items: list[DataSet] = field(default_factory=list)
    # Pixel Data only: where its value starts and ends in the file (items and delimiter
    # included when encapsulated).
    span: tuple[int, int] | None = None

    @property
    def keyword(self) -> str:
        """The dictionary keyword (DataElement.keyword's rule: no 60xx-style repeaters)."""
        return dictionary_keyword(self.tag) if dictionary_has_tag(self.tag) else ""

    @property
    def name(self) -> str:
        return self.keyword or tag_text(self.tag)


@dataclass
class DataSet:
    """The elements of the top level or of one sequence item, by tag, in file order."""

    elements: dict[int, Element] = field(default_factory=dict)

    def text(self, tag: int) -> str:
        """A text attribute's value, "" when absent; several values joined by backslashes as
        written, so that a check for one value never passes on the first of several."""
        elem = self.elements.get(tag)
        return "\\".join(elem.values) if elem is not None and elem.values else ""

    def number(self, tag: int) -> int:
        """A single-valued US attribute's value, or 0 when it is absent or empty. Raises
        ValueError when it is written as another VR or holds several values (a length that
        swallowed what followed): the file is then not vouched for."""
        elem = self.elements.get(tag)
        if elem is None:
            return 0
        if elem.vr != "US" or elem.values is None or len(elem.values) > 1:
            raise ValueError("a single-valued number is not one US value")
        return int(elem.values[0]) if elem.values else 0

    def walk(self) -> list[Element]:
        """Every element at every depth, in file order."""
        found: list[Element] = []
        for elem in self.elements.values():
            found.append(elem)
            for item in elem.items:
                found += item.walk()
        return found


@dataclass
class Output:
    """A cleaned file as read back: file meta, data set, and where the Pixel Data value is."""

    meta: DataSet
    data_set: DataSet
    transfer_syntax: UID
    header: bytes
    pixels: memoryview


def tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def read_output(output: bytes) -> Output:
    """Walk ``output`` (a Part 10 file); raises OutputUnreadable when it does not walk."""
    try:
        return _walk_file(output)
    except _NotHere:
        pass
    except (struct.error, IndexError, ValueError, UnicodeError, LookupError) as exc:
        raise OutputUnreadable(type(exc).__name__) from None
    try:
        return from_pydicom(output)
    except Exception as exc:
        raise OutputUnreadable(type(exc).__name__) from None


def _walk_file(output: bytes) -> Output:
    if len(output) < 132 or output[128:132] != b"DICM":
        raise ValueError("no DICM prefix")
    meta, position = _walk(output, 132, len(output), implicit=False, encodings=None,
                           group_two=True)
    syntax = UID(meta.text(0x00020010))
    if not syntax.is_transfer_syntax or not syntax.is_little_endian or syntax.is_deflated:
        raise _NotHere
    encodings = [default_encoding]
    data_set, _ = _walk(output, position, len(output), implicit=bool(syntax.is_implicit_VR),
                        encodings=encodings, group_two=False)
    pixels = data_set.elements.get(PIXEL_DATA)
    if pixels is None:
        return Output(meta, data_set, syntax, output, memoryview(b""))
    assert pixels.span is not None
    start, end = pixels.span
    if output[end:].strip(b"\x00"):
        raise ValueError("bytes follow the pixel data")
    return Output(meta, data_set, syntax, output[:start], memoryview(output)[start:end])


def _walk(
    data: bytes,
    position: int,
    end: int,
    *,
    implicit: bool,
    encodings: list[str] | None,
    group_two: bool = False,
    until_item_end: bool = False,
    own_character_set: bool = True,
) -> tuple[DataSet, int]:
    """The elements from ``position`` up to ``end`` (or an item delimiter); returns the data set
    and the position after it. ``group_two``: the file meta, which ends where group 2 does.

    ``encodings`` (Python codecs) is changed in place by a Specific Character Set of the top
    level; a sequence item's text is decoded in that of the data set holding it, as pydicom
    decodes it (``own_character_set`` False), whatever the item declares.
    """
    data_set = DataSet()
    unpack_from = struct.unpack_from
    while position < end:
        group, number = unpack_from("<HH", data, position)
        tag = group << 16 | number
        if group_two and group != 2:
            break
        if tag == _ITEM_END:
            if not until_item_end:
                raise ValueError("item delimiter outside an item")
            return data_set, position + 8
        if group == 0xFFFE:
            raise ValueError("item tag among elements")
        if implicit:
            (length,) = unpack_from("<I", data, position + 4)
            vr = _implicit_vr(tag, length)
            position += 8
        else:
            vr_bytes = data[position + 4 : position + 6]
            if vr_bytes not in _KNOWN_VR_BYTES:
                raise _NotHere  # UN (pydicom may read it as the known VR) or no VR at all
            if vr_bytes in _LONG_LENGTH_VRS:
                (length,) = unpack_from("<I", data, position + 8)
                position += 12
            else:
                (length,) = unpack_from("<H", data, position + 6)
                position += 8
            vr = vr_bytes.decode("ascii")
        if tag in data_set.elements:
            raise ValueError("an attribute occurs twice")
        if vr == "SQ":
            items, position = _items(data, position, length, end, implicit=implicit,
                                     encodings=encodings)
            data_set.elements[tag] = Element(tag, vr, None, items)
            continue
        if length == _UNDEFINED:
            if tag != PIXEL_DATA:
                raise _NotHere
            value_end = _encapsulated_end(data, position, end)
            data_set.elements[tag] = Element(tag, vr, None, span=(position, value_end))
            position = value_end
            continue
        value_end = position + length
        if value_end > end:
            raise ValueError("a value runs past its end")
        if tag == PIXEL_DATA:
            data_set.elements[tag] = Element(tag, vr, None, span=(position, value_end))
        elif tag == _SPECIFIC_CHARACTER_SET:
            values = _strings(data[position:value_end], vr, None)
            if own_character_set and encodings is not None:
                encodings[:] = convert_encodings(values[0] if len(values) == 1 else list(values))
            data_set.elements[tag] = Element(tag, vr, values)
        else:
            data_set.elements[tag] = Element(tag, vr, _values(data, position, value_end, vr,
                                                              encodings))
        position = value_end
    if until_item_end:
        raise ValueError("an item has no end")
    return data_set, position


def _implicit_vr(tag: int, length: int) -> str:
    """The VR an implicit VR element has by the data dictionary; an undefined length on a
    private or unknown tag means a sequence (as pydicom reads it)."""
    if tag >> 16 & 1 or not dictionary_has_tag(tag):
        if length == _UNDEFINED:
            return "SQ"
        raise _NotHere  # pydicom reads it as UN, maybe as a known private VR
    return dictionary_VR(tag)  # "US or SS", "OB or OW" ...: numbers or bulk data, never decoded


def _items(
    data: bytes, position: int, length: int, end: int, *, implicit: bool,
    encodings: list[str] | None,
) -> tuple[list[DataSet], int]:
    """The items of a sequence value starting at ``position``; returns them and the position
    after the sequence."""
    defined = length != _UNDEFINED
    sequence_end = position + length if defined else end
    if sequence_end > end:
        raise ValueError("a sequence runs past its end")
    items: list[DataSet] = []
    while position < sequence_end:
        tag, item_length = struct.unpack_from("<II", data, position)
        tag = (tag & 0xFFFF) << 16 | tag >> 16
        position += 8
        if tag == _SEQUENCE_END and not defined:
            return items, position
        if tag != _ITEM:
            raise ValueError("a sequence holds something other than items")
        if item_length == _UNDEFINED:
            item, position = _walk(data, position, sequence_end, implicit=implicit,
                                   encodings=encodings, until_item_end=True,
                                   own_character_set=False)
        else:
            item_end = position + item_length
            if item_end > sequence_end:
                raise ValueError("an item runs past its sequence")
            item, position = _walk(data, position, item_end, implicit=implicit,
                                   encodings=encodings, own_character_set=False)
            if position != item_end:
                raise ValueError("an item's elements overrun it")
        items.append(item)
    if not defined:
        raise ValueError("a sequence has no end")
    return items, position


def _encapsulated_end(data: bytes, position: int, end: int) -> int:
    """The position after the sequence delimiter that closes encapsulated Pixel Data."""
    while position + 8 <= end:
        tag, length = struct.unpack_from("<II", data, position)
        tag = (tag & 0xFFFF) << 16 | tag >> 16
        position += 8
        if tag == _SEQUENCE_END:
            return position
        if tag != _ITEM or length == _UNDEFINED:
            raise ValueError("encapsulated pixel data holds something other than items")
        position += length
    raise ValueError("encapsulated pixel data has no end")


def _values(
    data: bytes, start: int, end: int, vr: str, encodings: list[str] | None
) -> tuple[str, ...] | None:
    if vr in STRING_VRS:
        return _strings(data[start:end], vr, encodings)
    if vr == "US":
        if (end - start) & 1:
            raise ValueError("a US value of odd length")
        return tuple(str(n) for n in struct.unpack_from(f"<{(end - start) // 2}H", data, start))
    return None


def _strings(raw: bytes, vr: str, encodings: list[str] | None) -> tuple[str, ...]:
    """A text value as pydicom's converters decode it: text VRs in the character set (escape
    sequences left to pydicom's own decoder), the rest in the default repertoire, then split
    and stripped as that VR is (text_values.split_values)."""
    if vr in _CHARSET_VRS and encodings is not None:
        if vr == "PN":
            raw = raw.rstrip(b"\x00 ")
        text = decode_bytes(raw, encodings, TEXT_VR_DELIMS) if _ESCAPE in raw else _decode(
            raw, encodings[0])
    else:
        text = raw.decode(default_encoding)
    return split_values(text, vr)


def _decode(raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except LookupError:
        return raw.decode(default_encoding)
    except UnicodeError:
        return raw.decode(encoding, errors="replace")


# --- the same shape from pydicom, for what the walker leaves to it -------------------------------


def from_pydicom(output: bytes) -> Output:
    """Read ``output`` with pydicom (without the pixels first, so a large image is viewed in
    place, not copied) into the walker's shape."""
    stream = io.BytesIO(output)
    ds = pydicom.dcmread(stream, stop_before_pixels=True)
    header, pixels = output, memoryview(b"")
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if stream.tell() < len(output):
        element = None
        if syntax is not None and syntax.is_little_endian and not syntax.is_deflated:
            element = locate_pixel_data(output, stream.tell(), implicit_vr=syntax.is_implicit_VR)
        if element is not None:
            header = output[: element.value_start]
            pixels = memoryview(output)[element.value_start : element.value_end]
        else:
            ds = pydicom.dcmread(io.BytesIO(output))
            header, pixels = _split_pixel_data(ds, output)
    return Output(_shape(ds.file_meta), _shape(ds), UID(str(syntax or "")), header, pixels)


def _shape(ds: Dataset) -> DataSet:
    shaped = DataSet()
    for tag in sorted(ds.keys()):
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and raw.VR in _NOT_DECODED:
            shaped.elements[int(tag)] = Element(int(tag), raw.VR, None)
            continue
        elem = ds[tag]
        if elem.VR == "SQ":
            items = [_shape(item) for item in elem.value or []]
            shaped.elements[int(tag)] = Element(int(tag), "SQ", None, items)
        elif elem.VR == "US" or elem.VR in STRING_VRS:
            values = elem.value if isinstance(elem.value, list | tuple | MultiValue) else (
                [] if elem.value is None else [elem.value])
            shaped.elements[int(tag)] = Element(int(tag), elem.VR, tuple(str(v) for v in values))
        else:
            shaped.elements[int(tag)] = Element(int(tag), elem.VR, None)
    return shaped


# Numbers and bulk data: judged by tag and VR, never converted. Not UN: pydicom may read a UN
# element as the known attribute it is.
_NOT_DECODED = frozenset(
    {"AT", "DS", "FD", "FL", "IS", "OB", "OD", "OF", "OL", "OV", "OW", "SL", "SS", "SV", "UL",
     "UV"}
)


def _split_pixel_data(ds: Dataset, output: bytes) -> tuple[bytes, memoryview]:
    """The bytes before Pixel Data, and the Pixel Data value; nothing may follow it."""
    raw = ds.get_item(PIXEL_DATA)
    if raw is None:
        return output, memoryview(b"")
    if not isinstance(raw, RawDataElement):
        raise ValueError("the pixel data's position in the file is unknown")
    start = raw.value_tell
    value = raw.value or b""
    end = start + len(value)
    if raw.length == _UNDEFINED:
        end += 8  # sequence delimitation item after the encapsulated fragments
    if output[end:].strip(b"\x00"):
        raise ValueError("bytes follow the pixel data")
    return output[:start], memoryview(output)[start:end]
