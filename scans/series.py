"""A scan's images grouped as a person sees them: series of slices, photos, images held back.

Series, description, body part and slice number are read once from each image's *sanitized*
header (what would be sent, so nothing here can be identifying beyond what the review shows)
and kept on the image (``ScanImage.display``), so the scans list and the viewer need no
decryption after the first look.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

import pydicom
from django.utils.translation import gettext
from pydicom.errors import InvalidDicomError

from scans.deid.preview import render_dicom_preview
from scans.deid.text import PixelError
from scans.models import Outcome, Scan, ScanImage
from scans.rendering import default_window, is_ct, window_bounds
from vault import VaultError, get_vault

log = logging.getLogger(__name__)

_TAGS = [
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "BodyPartExamined",
    "Modality",
    "InstanceNumber",
    "NumberOfFrames",
]
# The grouping key of images that have no series (photos, unreadable headers).
PHOTOS = "photos"


def _text(value: Any, limit: int = 64) -> str:
    return str(value or "").strip()[:limit]


def _number(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def read_display(image: ScanImage) -> dict[str, Any]:
    """What to group and label one image by, from its sanitized copy (photos: nothing to read)."""
    if image.kind != "dicom" or image.sanitized_object is None:
        return {"series": PHOTOS if image.kind in ("photo", "jpeg", "png") else "", "read": True}
    try:
        with get_vault().open(image.sanitized_object) as stream:
            ds = pydicom.dcmread(
                cast(BinaryIO, stream), stop_before_pixels=True, force=True, specific_tags=_TAGS
            )
    except (VaultError, InvalidDicomError, OSError, ValueError):
        log.warning("image %s: sanitized header unreadable for display", image.pk)
        return {"series": "", "read": True}
    return {
        "series": _text(ds.get("SeriesInstanceUID"), 80),
        "series_number": _number(ds.get("SeriesNumber")),
        "description": _text(ds.get("SeriesDescription")),
        "body_part": _text(ds.get("BodyPartExamined")),
        "modality": _text(ds.get("Modality"), 16),
        "instance": _number(ds.get("InstanceNumber")),
        "frames": _number(ds.get("NumberOfFrames")) or 1,
        "read": True,
    }


def ensure_display(images: Iterable[ScanImage]) -> None:
    """Fill ``display`` for images processed since the last look (once per image)."""
    for image in images:
        if not image.display.get("read") and image.outcome == Outcome.CLEAN:
            image.display = read_display(image)
            ScanImage.objects.filter(pk=image.pk).update(display=image.display)


@dataclass
class Series:
    key: str
    number: int | None
    description: str
    body_part: str
    modality: str
    images: list[ScanImage] = field(default_factory=list)

    @property
    def is_ct(self) -> bool:
        return is_ct(self.modality)

    @property
    def default_window(self) -> str:
        return default_window(self.modality, self.body_part, self.description)

    @property
    def title(self) -> str:
        if self.key == PHOTOS:
            return gettext("Photos")
        parts = [self.modality or gettext("Images"), self.description or self.body_part.title()]
        return " · ".join(p for p in parts if p)

    @property
    def first(self) -> ScanImage:
        return self.images[0]


def series_of(scan: Scan) -> tuple[list[Series], list[ScanImage]]:
    """The clean images grouped by series, slices in order; and the images held back (files
    that are not images at all, such as reports, are in neither)."""
    images = list(scan.images.all())
    ensure_display(images)
    groups: dict[str, Series] = {}
    held: list[ScanImage] = []
    for image in images:
        if image.outcome == Outcome.NOT_IMAGE:
            continue
        if image.outcome != Outcome.CLEAN or image.preview_object is None:
            held.append(image)
            continue
        d = image.display
        key = d.get("series") or f"image-{image.position}"
        if key not in groups:
            groups[key] = Series(
                key=key,
                number=d.get("series_number"),
                description=d.get("description", ""),
                body_part=d.get("body_part", ""),
                modality=d.get("modality") or image.modality,
            )
        groups[key].images.append(image)
    for group in groups.values():
        group.images.sort(key=lambda i: (i.display.get("instance") or 0, i.position))
    return list(groups.values()), held


def headline(scan: Scan) -> dict[str, Any]:
    """For the scans list: the first clean image (its thumbnail), modalities, descriptions,
    and the series and image counts."""
    series, held = series_of(scan)
    modalities = sorted({s.modality for s in series if s.modality})
    described = [s.description or s.body_part.title() for s in series if s.key != PHOTOS]
    return {
        "thumbnail": series[0].first if series else None,
        "modalities": ", ".join(modalities) or (gettext("Photos") if series else ""),
        "description": ", ".join(dict.fromkeys(d for d in described if d))[:120],
        "series": len(series),
        "images": sum(len(s.images) for s in series),
        "held": len(held),
    }


def windowed_png(image: ScanImage, key: str, *, outline: bool, frame: int | None = None) -> bytes:
    """The sanitized image rendered in window ``key`` (a CT preset, or as saved), for the viewer:
    frame ``frame`` (from 0; the middle one if None), the blacked-out areas outlined if
    ``outline``. Decrypted for this call only.
    Raises PixelError for a photo or pixels that cannot be decoded."""
    if image.kind != "dicom":
        raise PixelError("not a DICOM image")
    assert image.sanitized_object is not None
    data = get_vault().read_bytes(image.sanitized_object)
    pixels = (image.report or {}).get("pixels", {})
    flags = (pixels.get("review") or {}).get("boxes") if image.needs_check else None
    return render_dicom_preview(
        data,
        regions=pixels.get("regions", []),
        outline=outline,
        flags=flags,
        window=window_bounds(key),
        frame=frame,
        max_size=768,
    )
