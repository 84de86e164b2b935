"""What was removed and what was kept, in words a patient understands, with the reason why.

The de-identification report lists attributes by DICOM keyword and action ("SOPInstanceUID —
remapped"), which means nothing to most people. Here those rows are grouped into a few things a
person recognises, each with what happened and why; the attribute table stays on the page for
those who want it. Only keywords and actions are read, never a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from scans.models import ScanImage

UNCHANGED = frozenset({"kept", "rebuilt"})


@dataclass
class Group:
    what: str
    done: str
    why: str
    keywords: set[str] = field(default_factory=set)

    @property
    def count(self) -> int:
        return len(self.keywords)


def _is_private(tag: str) -> bool:
    """Odd groups are vendors' private data (PS3.5 7.8)."""
    try:
        return int(tag.strip("()").split(",")[0], 16) % 2 == 1
    except (ValueError, IndexError):
        return False


IDENTIFIERS = frozenset(
    {"otherpatientids", "otherpatientidssequence", "accessionnumber", "issuerofpatientid"}
)


def _removed_group(keyword: str, tag: str, action: str) -> str:
    if _is_private(tag):
        return "private"
    k = keyword.lower()
    names_or_ids = k.startswith("patient") and ("name" in k or k.endswith("id"))
    if action == "remapped" or k.endswith("uid") or names_or_ids or k in IDENTIFIERS:
        return "identity"
    if "date" in k or "time" in k or action == "shifted":
        return "dates"
    if any(
        w in k
        for w in (
            "institution",
            "physician",
            "operator",
            "station",
            "serial",
            "manufacturer",
            "device",
            "department",
            "performing",
            "requesting",
        )
    ):
        return "places"
    return "other"


REMOVED: dict[str, tuple[Promise, Promise, Promise]] = {
    "identity": (
        _("Your name and identifiers (patient ID, accession number, the scan's internal ids)"),
        _("Replaced by a code"),
        _(
            "So no one receiving the images can tell who you are or link them to your hospital "
            "records. The code keeps the images of one scan together."
        ),
    ),
    "dates": (
        _("Dates and times"),
        _("Removed, or moved by the same secret number of days"),
        _(
            "Dates, with a few other details, can identify a person. Moving them all by the same "
            "amount keeps the time between your scans."
        ),
    ),
    "places": (
        _("The hospital, doctors, staff and the device's serial number"),
        _("Removed"),
        _("They tell where and when you were scanned, and by whom."),
    ),
    "private": (
        _("Private data the scanner's maker stored"),
        _("Removed"),
        _("It is undocumented and can hold names or ids; the images do not need it."),
    ),
    "other": (
        _("Other details (address, phone, comments, free text)"),
        _("Removed or emptied"),
        _("They can identify you and are not needed to read the images."),
    ),
}

KEPT: list[tuple[frozenset[str], Promise, Promise]] = [
    (frozenset({"PatientSex"}), _("Your sex"), _("Many findings depend on it.")),
    (
        frozenset({"PatientAge"}),
        _("Your age (shown as 90 if you are older)"),
        _("Findings depend on age; ages over 90 are rare enough to identify, so they are capped."),
    ),
    (
        frozenset({"PatientWeight", "PatientSize"}),
        _("Your weight and height"),
        _("Doses and sizes are judged against them."),
    ),
    (
        frozenset(
            {
                "SliceThickness",
                "PixelSpacing",
                "KVP",
                "RescaleSlope",
                "RescaleIntercept",
                "BodyPartExamined",
                "Modality",
                "SeriesDescription",
                "ImageType",
            }
        ),
        _("The scan's technical settings (type of scan, body part, slice thickness, pixel size)"),
        _("Needed to measure and read the images correctly; they do not identify you."),
    ),
]

PHOTO_REMOVED = (
    _(
        "Where the photo was taken (GPS), the camera or phone model, the author and editing "
        "software"
    ),
    _("Removed"),
    _("Photo files carry these hidden details; they can tell who you are and where you live."),
)


def explain(images: list[ScanImage]) -> dict[str, list[dict[str, str]]]:
    """``{"removed": [...], "kept": [...]}``, each item with what, done (or why kept) and why."""
    groups: dict[str, set[str]] = {key: set() for key in REMOVED}
    kept: set[str] = set()
    regions = 0
    photos = False
    for image in images:
        report = image.report or {}
        regions += len(report.get("pixels", {}).get("regions", []))
        photos = photos or image.kind in ("photo", "jpeg", "png")
        for row in report.get("attributes", []):
            keyword = str(row.get("keyword") or "")
            tag = str(row.get("tag") or "")
            action = str(row.get("action") or "")
            if action in UNCHANGED or action == "capped":
                kept.add(keyword)
            else:
                groups[_removed_group(keyword, tag, action)].add(keyword or tag)
    removed = [
        {"what": str(REMOVED[key][0]), "done": str(REMOVED[key][1]), "why": str(REMOVED[key][2])}
        for key, found in groups.items()
        if found
    ]
    if regions:
        removed.append(
            {
                "what": gettext("Text written in the images (names, dates, hospital)"),
                "done": ngettext(
                    "Blacked out in %(count)s place", "Blacked out in %(count)s places", regions
                )
                % {"count": regions},
                "why": gettext(
                    "Scanners often burn your details into the picture itself; the boxes on the "
                    "viewer show where."
                ),
            }
        )
    if photos:
        what, done, why = PHOTO_REMOVED
        removed.append({"what": str(what), "done": str(done), "why": str(why)})
    kept_items = [
        {"what": str(what), "why": str(why)} for keywords, what, why in KEPT if keywords & kept
    ]
    return {"removed": removed, "kept": kept_items}
