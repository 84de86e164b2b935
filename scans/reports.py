"""What de-identification did to a scan, told without original values.

The engine reports, per image, each attribute's keyword and the action taken (removed,
emptied, replaced, remapped, shifted, kept ...), counts per category, and the redacted regions.
Here that becomes the API's JSON report, the review page's rows and one plain-language
sentence for the patient.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from scans import wording
from scans.models import Outcome, Scan, ScanImage

# Attributes a patient recognises, in the order the summary names them.
PERSONAL_WORDS: list[tuple[Promise, frozenset[str]]] = [
    (
        _("your name"),
        frozenset(
            {"PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName"}
        ),
    ),
    (_("your birth date"), frozenset({"PatientBirthDate", "PatientBirthTime"})),
    (
        _("your patient ID"),
        frozenset({"PatientID", "OtherPatientIDs", "OtherPatientIDsSequence", "IssuerOfPatientID"}),
    ),
    (_("your address"), frozenset({"PatientAddress"})),
    (_("your phone number"), frozenset({"PatientTelephoneNumbers"})),
    (
        _("the hospital's name"),
        frozenset(
            {"InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName"}
        ),
    ),
    (
        _("doctors' and staff names"),
        frozenset(
            {
                "ReferringPhysicianName",
                "PerformingPhysicianName",
                "NameOfPhysiciansReadingStudy",
                "OperatorsName",
                "PhysiciansOfRecord",
                "RequestingPhysician",
            }
        ),
    ),
    (_("the accession number"), frozenset({"AccessionNumber"})),
]
# Actions that leave a value as it was, or only rebuild the file's technical preamble.
UNCHANGED = frozenset({"kept", "rebuilt"})


def changes_of(image: ScanImage) -> list[dict[str, str]]:
    """The attributes de-identification changed in one image: keyword and action, no values."""
    return [
        {"name": row.get("keyword") or row.get("tag", ""), "action": row.get("action", "")}
        for row in (image.report or {}).get("attributes", [])
        if row.get("action") not in UNCHANGED
    ]


def regions_of(image: ScanImage) -> list:
    return (image.report or {}).get("pixels", {}).get("regions", [])


def exempted(image: ScanImage) -> bool:
    return bool((image.report or {}).get("pixels", {}).get("exempt"))


def image_rows(scan: Scan) -> list[dict]:
    return [
        {
            "image": image,
            "changes": changes_of(image),
            "regions": len(regions_of(image)),
            "exempt": exempted(image),
            "not_image": image.outcome == Outcome.NOT_IMAGE,
            "check": wording.review_reasons(image),
            "reasons": wording.outcome_reason(image),
            "actions": [
                {"name": change["name"], "action": wording.action(change["action"])}
                for change in changes_of(image)
            ],
        }
        for image in scan.images.all()
    ]


def scan_report(scan: Scan) -> dict:
    """The API's report: per image its outcome and what was done, never an original value."""
    return {
        "scan_id": str(scan.id),
        "status": scan.status,
        "summary": plain_summary(scan),
        "images": [
            {
                "id": str(image.id),
                "position": image.position,
                "outcome": image.outcome,
                "reason": image.reason,
                "kind": image.kind,
                "modality": image.modality,
                "report": image.report,
            }
            for image in scan.images.all()
        ],
    }


def plain_summary(scan: Scan) -> str:
    """E.g. "Your name, your birth date, the hospital's name and 14 other details were removed
    or replaced; 3 text areas were blacked out on image 2." Empty until images are processed.
    In the reader's language."""
    images = list(scan.images.all())
    if not images:
        return ""
    changed: set[str] = {row["name"] for image in images for row in changes_of(image)}
    named = [str(words) for words, keywords in PERSONAL_WORDS if changed & keywords]
    covered = set().union(*(keywords for _words, keywords in PERSONAL_WORDS))
    others = len(changed - covered)
    sentences = []
    if named or others:
        parts = named + (
            [ngettext("%(count)s other detail", "%(count)s other details", others) % _n(others)]
            if others
            else []
        )
        sentences.append(
            gettext("%(details)s were removed or replaced") % {"details": _capitalise(_join(parts))}
        )
    redacted = [(image.position, len(regions_of(image))) for image in images if regions_of(image)]
    if redacted:
        total = sum(count for _position, count in redacted)
        sentences.append(
            ngettext(
                "%(count)s text area blacked out on %(images)s",
                "%(count)s text areas blacked out on %(images)s",
                total,
            )
            % {"count": total, "images": _images([position for position, _n in redacted])}
        )
    exempt = [image.position for image in images if exempted(image)]
    if exempt:
        sentences.append(
            gettext(
                "%(images)s not redacted (the clinic exempts this modality); its text was read "
                "and checked against your details instead"
            )
            % {"images": _images(exempt)}
        )
    flagged = [image.position for image in images if image.needs_check]
    if flagged:
        sentences.append(
            gettext(
                "%(images)s should be checked before sending (see the marked boxes), so not "
                "chosen for you"
            )
            % {"images": _images(flagged)}
        )
    not_images = sum(1 for image in images if image.outcome == Outcome.NOT_IMAGE)
    if not_images:
        sentences.append(
            ngettext(
                "%(count)s file is not an image (a report, plan, recording or document) and "
                "will not be sent",
                "%(count)s files are not an image (a report, plan, recording or document) and "
                "will not be sent",
                not_images,
            )
            % _n(not_images)
        )
    held = sum(1 for image in images if image.outcome not in (Outcome.CLEAN, Outcome.NOT_IMAGE))
    if held:
        sentences.append(
            ngettext(
                "%(count)s image held back because it could not be made safe",
                "%(count)s images held back because they could not be made safe",
                held,
            )
            % _n(held)
        )
    if not sentences:
        return gettext("Nothing identifying was found.")
    return gettext("%(sentences)s.") % {"sentences": "; ".join(sentences)}


def _n(count: int) -> dict[str, int]:
    return {"count": count}


def _images(positions: list[int]) -> str:
    """ "image 2, image 3 and image 5", the first five and how many more."""
    named = _join([gettext("image %(position)s") % {"position": p} for p in positions[:5]])
    more = len(positions) - 5
    if more <= 0:
        return named
    return ngettext("%(images)s and %(count)s more", "%(images)s and %(count)s more", more) % {
        "images": named,
        "count": more,
    }


def _join(parts: Iterable[str]) -> str:
    parts = list(parts)
    if len(parts) <= 1:
        return "".join(parts)
    return gettext("%(items)s and %(last)s") % {"items": ", ".join(parts[:-1]), "last": parts[-1]}


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]
