"""Cutting a study into chunks: slice ranges, by series, that the ``deid`` workers share.

The rule (``DEID_CHUNK_IMAGES``, 32 by default, is the size of a chunk):

* a study of at most one chunk's worth of images is one chunk, planned without reading anything;
* otherwise each image's series is read from its header (pydicom stops before the pixels), and
  consecutive images of one series form a run, in upload order. A run longer than a chunk is cut
  into slice ranges of nearly equal length, never mixed with another series; shorter runs are
  packed whole into a chunk while they fit (localizers and scouts do not become tiny chunks).

Positions are the 1-based numbers the images have always had: files in upload order, the
members of a ZIP in archive order. Every image is de-identified on its own (pseudonyms and UID
remapping are keyed per patient, not per study), so how a study is cut changes where and when an
image is processed, never what comes out.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from typing import BinaryIO, cast

from django.conf import settings
from pydicom.filereader import read_partial

from scans.intake import iter_zip_heads
from scans.limits import intake_limits
from scans.models import FileKind, Scan, ScanFile
from vault import get_vault

Range = tuple[int, int]

# Photos and files whose series cannot be read share a run of their own, in upload order.
NO_SERIES = ""
# How much of each image is read to find its series: headers end well before this.
HEAD_BYTES = 64 * 1024
SERIES_INSTANCE_UID = 0x0020000E


def cut(series: Sequence[str], size: int) -> list[Range]:
    """Inclusive 1-based position ranges for images whose series keys are ``series``, in order."""
    if size < 1:
        raise ValueError("a chunk holds at least one image")
    runs: list[Range] = []
    for position, key in enumerate(series, start=1):
        if runs and series[runs[-1][1] - 1] == key:
            runs[-1] = (runs[-1][0], position)
        else:
            runs.append((position, position))
    chunks: list[Range] = []
    packing: Range | None = None
    for first, last in runs:
        length = last - first + 1
        if length > size:
            if packing is not None:
                chunks.append(packing)
                packing = None
            chunks.extend(_slice_ranges(first, length, math.ceil(length / size)))
        elif packing is not None and last - packing[0] + 1 <= size:
            packing = (packing[0], last)
        else:
            if packing is not None:
                chunks.append(packing)
            packing = (first, last)
    if packing is not None:
        chunks.append(packing)
    return chunks


def _slice_ranges(first: int, length: int, parts: int) -> list[Range]:
    """``parts`` consecutive ranges covering ``length`` images, their lengths differing by one."""
    ranges = []
    start = first
    for index in range(parts):
        count = length // parts + (1 if index < length % parts else 0)
        ranges.append((start, start + count - 1))
        start += count
    return ranges


def plan(scan: Scan) -> list[Range]:
    """The chunks of ``scan`` by the rule above (an empty list for a study without images)."""
    files = list(scan.files.all())
    total = sum(file.image_count for file in files)
    size = settings.DEID_CHUNK_IMAGES
    if total <= size:
        return [(1, total)] if total else []
    keys = [key for file in files for key in _series_keys(file)]
    return cut(keys, size)


def _series_keys(file: ScanFile) -> Iterator[str]:
    """The series of each image of ``file``, read from the first bytes of its header only;
    plaintext kept nowhere. A series that cannot be read there counts as none: the cut is then
    less tidy, never wrong (it changes where an image is processed, not how)."""
    vault = get_vault()
    original = file.vault_object
    assert original is not None  # a scan being planned still has its originals (scans.busy)
    if file.kind in (FileKind.JPEG, FileKind.PNG):
        yield NO_SERIES
        return
    with vault.open(original) as sealed:
        stream = cast(BinaryIO, sealed)
        if file.kind == FileKind.DICOM:
            yield _series_of(stream.read(HEAD_BYTES))
            return
        for head in iter_zip_heads(stream, intake_limits(), HEAD_BYTES, position=file.position):
            yield _series_of(head)


def _series_of(head: bytes) -> str:
    try:
        # Data sets are sorted by tag: nothing after Series Instance UID needs parsing.
        ds = read_partial(
            io.BytesIO(head),
            stop_when=lambda tag, vr, length: tag > SERIES_INSTANCE_UID,
            force=True,
            specific_tags=[SERIES_INSTANCE_UID],
        )
        return str(ds.get(SERIES_INSTANCE_UID).value or NO_SERIES)
    except Exception:
        return NO_SERIES
