"""Reading an upload as DICOM: Part 10 files and bare data sets, with the pixels left in place.

The upload intake (``scans.intake.sniff_kind``) accepts two shapes of DICOM: Part 10 files
(preamble, 'DICM', file meta) and bare little-endian data sets that old modalities and some
exports still write. The engine must recognise exactly what the intake let in, so it asks the
same function rather than keeping a second rule.

A bare data set has no file meta, so its transfer syntax is what pydicom found while reading it
(implicit or explicit VR little endian). It is recorded in the dataset's file meta so that the
pixel engine and the header cleaner treat it like any Part 10 file, and the output is always a
proper Part 10 file with a file meta rebuilt by the header cleaner.

The Pixel Data value of an uncompressed file is not copied out of the upload: the dataset holds
a read-only view of it (see pixel_bytes.py). Anything unusual falls back to pydicom's full read.
"""

from __future__ import annotations

import io
from typing import Literal

import pydicom
from pydicom import config
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from scans.intake import SNIFF_BYTES, sniff_kind

from .pixel_bytes import locate_pixel_data

Kind = Literal["dicom", "photo"]


class UnreadableError(Exception):
    """The bytes are not a DICOM object we can read; the message is the rejection reason."""


def sniff(data: bytes) -> Kind | None:
    """What the bytes are, by content only, by the upload intake's own rule.

    DICOM (Part 10 or a bare data set), a JPEG or PNG photo, or None. A zip is None here: the
    tree walker and the Celery task open archives before they get to single files.
    """
    kind = sniff_kind(data[:SNIFF_BYTES])
    if kind == "dicom":
        return "dicom"
    if kind in ("jpeg", "png"):
        return "photo"
    return None


def is_part10(data: bytes) -> bool:
    """PS3.10 7.1: a 128-byte preamble followed by 'DICM'."""
    return data[128:132] == b"DICM"


def read_dicom(data: bytes) -> Dataset:
    """Parse ``data`` (which ``sniff`` called DICOM) with a transfer syntax always recorded.

    Raises UnreadableError for anything pydicom cannot read, or a bare data set that is not
    little endian.
    """
    if sniff(data) != "dicom":
        raise UnreadableError("not a DICOM Part 10 file or DICOM data set")
    # force=True only where the intake's rule recognised a bare data set: without a preamble
    # pydicom needs it, and that rule (not force) is what keeps other bytes out.
    force = not is_part10(data)
    stream = io.BytesIO(data)
    try:
        ds = pydicom.dcmread(stream, force=force, stop_before_pixels=True)
        syntax = _record_transfer_syntax(ds)
        # The encoding pydicom actually read (a file meta may claim otherwise).
        implicit, little = ds.original_encoding
        element = None
        if not syntax.is_compressed and not syntax.is_deflated and little:
            element = locate_pixel_data(data, stream.tell(), implicit_vr=bool(implicit))
        if element is not None:
            view = memoryview(data)[element.value_start : element.value_end]
            bits = int(ds.get("BitsAllocated", 8) or 8)
            vr = element.vr or ("OW" if bits > 8 else "OB")
            # pydicom's value check knows only bytes; a view of the same bytes is equivalent.
            ds.add(DataElement(0x7FE00010, vr, view, validation_mode=config.IGNORE))
            return ds
        ds = pydicom.dcmread(io.BytesIO(data), force=force)
        _record_transfer_syntax(ds)
        return ds
    except UnreadableError:
        raise
    except Exception as exc:
        raise UnreadableError(f"unreadable DICOM ({type(exc).__name__})") from None


def in_tag_order(ds: Dataset) -> list[tuple[BaseTag, DataElement | RawDataElement]]:
    """The elements of ``ds`` as they are (converted or still as read), in tag order.

    Sorted as plain numbers: pydicom's tags compare through Python methods (they also accept
    tuples and keywords), several times slower over a data set's hundred elements.
    """
    return sorted(ds.items(), key=_tag_number)


def _tag_number(item: tuple[BaseTag, object]) -> int:
    return int(item[0])


def _record_transfer_syntax(ds: Dataset) -> UID:
    """The transfer syntax of ``ds``; for a bare data set, the encoding pydicom read it in."""
    meta = ds.file_meta
    syntax = meta.get("TransferSyntaxUID")
    implicit, little = ds.original_encoding
    if syntax:
        return UID(str(syntax))
    if not little:
        raise UnreadableError("a DICOM data set without file meta must be little endian")
    syntax = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    meta.TransferSyntaxUID = syntax
    return syntax

