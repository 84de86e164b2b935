"""Text values as pydicom reads them, taken straight from the value bytes where that is exact.

pydicom converts a value through a data element, hooks and a converter per VR: about ten
microseconds, paid for each of the fifty or so text values of a slice, by each stage that reads
them. For a value in plain ASCII under a character set that decodes ASCII as ASCII, decoding is
the same whatever the character set, and what remains of pydicom's conversion is how each VR
strips its padding and splits its values (pydicom.values): ``split_values`` does that, and
``plain_values`` returns None for any other value, which is then converted by pydicom.

tests/scans/deid/test_text_values.py holds both to pydicom's own conversion on every text value
of the test corpora.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from pydicom.dataset import Dataset

STRING_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)
# Bytes that decode to themselves in every ASCII-transparent codec: printable ASCII, the
# control characters text values may hold, and NUL padding. Never ESC: an escape sequence
# switches the character set (ISO 2022).
_PLAIN = bytes([0x00, 0x09, 0x0A, 0x0C, 0x0D, *range(0x20, 0x7F)])
_NOT_PLAIN = re.compile(rb"[^\x00\x09\x0a\x0c\x0d\x20-\x7e]")


def plain_values(value: bytes, vr: str, encodings: Sequence[str]) -> tuple[str, ...] | None:
    """pydicom's values of a text element read as ``value`` in a data set decoded with
    ``encodings`` (pydicom's codec names); None where pydicom must convert it."""
    if vr not in STRING_VRS or _NOT_PLAIN.search(value) is not None:
        return None
    if not encodings or not ascii_transparent(encodings[0]):
        return None
    return split_values(value.decode("ascii"), vr)


def dataset_encodings(dataset: Dataset) -> list[str]:
    """The codecs pydicom decodes the text of ``dataset`` with (Dataset.__getitem__'s rule: the
    character set it was read in, else its own)."""
    charset = dataset.original_character_set or dataset._character_set
    return [charset] if isinstance(charset, str) else list(charset)


@cache
def ascii_transparent(codec: str) -> bool:
    """Whether ``codec`` decodes every plain byte as the same ASCII character."""
    try:
        return _PLAIN.decode(codec) == _PLAIN.decode("ascii")
    except (LookupError, UnicodeError):
        return False


def split_values(text: str, vr: str) -> tuple[str, ...]:
    """A decoded text value as pydicom's converter for ``vr`` returns it: padding stripped the
    way that VR has it, split at backslashes unless the VR holds one value."""
    if vr in ("LT", "ST", "UT"):
        return (text.rstrip("\x00 "),)
    if vr == "UR":
        return (text.rstrip(),)
    if vr == "AE":
        return tuple(part.strip() for part in text.split("\\"))
    if vr in ("LO", "SH", "UC"):
        return tuple(part.rstrip("\x00 ") for part in text.split("\\"))
    return tuple(text.rstrip(" \x00").split("\\"))  # AS CS DA DT PN TM UI
