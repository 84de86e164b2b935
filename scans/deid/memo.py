"""What the header stages worked out for an element, kept for the next slice of the same series.

The slices of a series repeat most of their header byte for byte: the patient, the study, the
equipment, the sequences describing the acquisition. Collecting identifiers from such an element,
or cleaning it, gives the same result every time, so a run over a series (one chunk of a study,
or one ``deidentify`` command) keeps each result under the element's tag, VR and value bytes,
plus everything else the result depends on (passed by the caller as the rest of the key).

A memo lives in memory for one run and is dropped with it: it holds nothing the run does not
hold anyway, and is never written anywhere. It is bounded in entries and in the bytes of the
values it keys on. Only the cleaner's side uses it: the verifier reads every output afresh.
"""

from __future__ import annotations

from collections.abc import Hashable

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.multival import MultiValue
from pydicom.uid import UID
from pydicom.valuerep import IS, DSdecimal, DSfloat

# Values longer than this (bulk data, long private blobs) are not worth keeping as keys.
MAX_VALUE_BYTES = 16 * 1024
MAX_ENTRIES = 20_000
MAX_CONTEXTS = 1_000


def _plain(value: object) -> Hashable | None:
    """``value`` as a key, with its types, when it is plain text or numbers; else None."""
    if type(value) in _PLAIN_TYPES:
        text = str(value)
        return None if len(text) > MAX_VALUE_BYTES else (type(value).__name__, value)
    if type(value) in _SPELLED_TYPES:
        return _spelled(value)
    if isinstance(value, list | tuple | MultiValue) and len(value) <= 64:
        if all(type(v) in _PLAIN_TYPES for v in value):
            return tuple((type(v).__name__, v) for v in value)
        if all(type(v) in _SPELLED_TYPES for v in value):
            keys = tuple(_spelled(v) for v in value)
            return None if None in keys else keys
    return None


def _spelled(value: object) -> Hashable | None:
    """A decimal or integer string by the spelling pydicom kept for it (what it writes back,
    and what its value was read from); None when it kept none or may write another one."""
    spelling = getattr(value, "original_string", None)
    if not isinstance(spelling, str) or getattr(value, "auto_format", False):
        return None
    return (type(value).__name__, spelling)


_PLAIN_TYPES = frozenset({str, int, float, UID})
_SPELLED_TYPES = frozenset({DSfloat, DSdecimal, IS})


class Memo:
    """Results by element, for one run over the slices of a series."""

    def __init__(self) -> None:
        self._results: dict[Hashable, object] = {}
        self._contexts: dict[Hashable, int] = {}

    def __repr__(self) -> str:  # never show what is kept
        return f"Memo(<{len(self._results)} entries>)"

    def key(
        self, stage: str, elem: DataElement | RawDataElement, *context: Hashable
    ) -> Hashable | None:
        """The key of ``elem``, for ``stage``, in ``context``; None where nothing is kept.

        An element still as read is keyed by its bytes (not too long ones). One pydicom has
        converted already (something read it before) is keyed by its value when that is plain
        text or a plain number, or a list of them; a decimal or integer string by the spelling
        pydicom kept (1.50 and 1.5 compare equal as values but are written differently); never
        a name.
        """
        if isinstance(elem, RawDataElement):
            value = elem.value
            if not isinstance(value, bytes) or len(value) > MAX_VALUE_BYTES:
                return None
            return (stage, int(elem.tag), elem.VR, elem.length, value, context)
        plain = _plain(elem.value)
        if plain is None or elem.is_undefined_length:
            return None
        return (stage, int(elem.tag), elem.VR, "converted", plain, context)

    def context(self, context: Hashable) -> int | None:
        """A small number standing for ``context`` in keys (cheaper to hash and compare than
        the context itself, which every key of a file shares); None once too many contexts
        were seen (descriptor cleaning makes one per file): nothing is kept for those."""
        number = self._contexts.get(context)
        if number is None and len(self._contexts) < MAX_CONTEXTS:
            number = self._contexts[context] = len(self._contexts)
        return number

    def get(self, key: Hashable) -> object | None:
        return self._results.get(key)

    def put(self, key: Hashable, result: object) -> None:
        if len(self._results) < MAX_ENTRIES:
            self._results[key] = result
