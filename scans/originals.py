"""The original values behind "what was removed", shown to the scan's owner and nobody else.

The values are read from the sealed original for the one request that asks, and kept nowhere:
not in the database, a cache, a log or the audit (which records the scan's id only); the page
is sent with ``Cache-Control: no-store``. A header is normally the same for every image of a
study, so the first DICOM image's header stands for the scan.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import pydicom
from django.utils.translation import gettext, ngettext
from pydicom.dataset import Dataset

from scans import wording
from scans.explain import REMOVED, UNCHANGED, _removed_group
from scans.models import Outcome, Scan, ScanImage
from scans.processing import iter_file_images

# A value longer than this is cut: a page of free text is not what the patient is checking.
MAX_VALUE_CHARS = 200


@dataclass(frozen=True)
class OriginalValue:
    keyword: str
    action: str
    value: str


@dataclass
class RemovedGroup:
    what: str
    done: str
    values: list[OriginalValue] = field(default_factory=list)


def first_dicom_image(scan: Scan) -> ScanImage | None:
    """The image whose original header is shown (None for a scan of photos or documents)."""
    return (
        scan.images.filter(kind="dicom")
        .exclude(outcome=Outcome.NOT_IMAGE)
        .select_related("source")
        .order_by("position")
        .first()
    )


def original_bytes(image: ScanImage) -> bytes | None:
    """The image's original file, decrypted in memory; None once retention has removed it
    (or when it is larger than the gateway reads)."""
    source = image.source
    if source.vault_object is None:
        return None
    # Positions run through the scan's files in order (scans.processing._process_range).
    offset = 0
    for file in image.scan.files.all():
        if file.pk == source.pk:
            break
        offset += file.image_count
    ordinal = image.position - offset
    for found, data in iter_file_images(source, lambda n: n == ordinal):
        if found == ordinal:
            return data
    return None


def _shown(ds: Dataset, tag_text: str) -> str | None:
    try:
        tag = int(tag_text.strip("()").replace(",", ""), 16)
    except ValueError:
        return None
    element = ds.get(tag)
    if element is None:
        return None  # nested inside a sequence, or not in this image's header
    if element.VR == "SQ":
        count = len(element.value)
        return ngettext("%(count)s nested item", "%(count)s nested items", count) % {"count": count}
    if isinstance(element.value, bytes):
        return gettext("binary data (%(count)s bytes)") % {"count": len(element.value)}
    text = str(element.value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def removed_values(image: ScanImage) -> list[RemovedGroup] | None:
    """The removed or replaced attributes of ``image`` with their original values, grouped as
    "what was removed" groups them; None if the original can no longer be read."""
    data = original_bytes(image)
    if data is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
        groups: dict[str, RemovedGroup] = {}
        for row in (image.report or {}).get("attributes", []):
            keyword, tag = str(row.get("keyword") or ""), str(row.get("tag") or "")
            action = str(row.get("action") or "")
            if action in UNCHANGED or action == "capped":
                continue
            value = _shown(ds, tag)
            if value is None:
                continue
            key = _removed_group(keyword, tag, action)
            what, done, _why = REMOVED[key]
            groups.setdefault(key, RemovedGroup(str(what), str(done))).values.append(
                OriginalValue(keyword or tag, wording.action(action), value)
            )
    return [groups[key] for key in REMOVED if key in groups]
