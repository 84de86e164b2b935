"""What de-identification did to a scan, told without original values.

The engine reports, per image, each attribute's keyword and the action taken (removed,
emptied, replaced, remapped, shifted, kept ...), counts per category, and the redacted regions.
Here that becomes the API's JSON report, the review page's rows and one plain-language
sentence for the patient.
"""

from __future__ import annotations

from collections.abc import Iterable

from scans import wording
from scans.models import Outcome, Scan, ScanImage

# Attributes a patient recognises, in the order the summary names them.
PERSONAL_WORDS: list[tuple[str, frozenset[str]]] = [
    (
        "your name",
        frozenset(
            {"PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName"}
        ),
    ),
    ("your birth date", frozenset({"PatientBirthDate", "PatientBirthTime"})),
    (
        "your patient ID",
        frozenset({"PatientID", "OtherPatientIDs", "OtherPatientIDsSequence", "IssuerOfPatientID"}),
    ),
    ("your address", frozenset({"PatientAddress"})),
    ("your phone number", frozenset({"PatientTelephoneNumbers"})),
    (
        "the hospital's name",
        frozenset(
            {"InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName"}
        ),
    ),
    (
        "doctors' and staff names",
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
    ("the accession number", frozenset({"AccessionNumber"})),
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
    or replaced; 3 text areas were blacked out on image 2." Empty until images are processed."""
    images = list(scan.images.all())
    if not images:
        return ""
    changed: set[str] = {row["name"] for image in images for row in changes_of(image)}
    named = [words for words, keywords in PERSONAL_WORDS if changed & keywords]
    covered = set().union(*(keywords for _, keywords in PERSONAL_WORDS))
    others = len(changed - covered)
    sentences = []
    if named or others:
        parts = named + ([f"{others} other detail{'s' if others != 1 else ''}"] if others else [])
        sentences.append(_capitalise(_join(parts)) + " were removed or replaced")
    redacted = [(image.position, len(regions_of(image))) for image in images if regions_of(image)]
    if redacted:
        total = sum(count for _, count in redacted)
        where = _join([f"image {position}" for position, _ in redacted[:5]])
        more = f" and {len(redacted) - 5} more" if len(redacted) > 5 else ""
        sentences.append(
            f"{total} text area{'s' if total != 1 else ''} blacked out on {where}{more}"
        )
    exempt = [image.position for image in images if exempted(image)]
    if exempt:
        sentences.append(
            f"{_join([f'image {p}' for p in exempt[:5]])} not redacted (the clinic exempts "
            "this modality); its text was read and checked against your details instead"
        )
    flagged = [image.position for image in images if image.needs_check]
    if flagged:
        sentences.append(
            f"{_join([f'image {p}' for p in flagged[:5]])}"
            f"{f' and {len(flagged) - 5} more' if len(flagged) > 5 else ''} should be checked "
            "before sending (see the marked boxes), so not chosen for you"
        )
    not_images = sum(1 for image in images if image.outcome == Outcome.NOT_IMAGE)
    if not_images:
        sentences.append(
            f"{not_images} file{'s' if not_images != 1 else ''} "
            f"{'are' if not_images != 1 else 'is'} not an image (a report, plan, recording or "
            "document) and will not be sent"
        )
    held = sum(1 for image in images if image.outcome not in (Outcome.CLEAN, Outcome.NOT_IMAGE))
    if held:
        sentences.append(
            f"{held} image{'s' if held != 1 else ''} held back because "
            f"{'they' if held != 1 else 'it'} could not be made safe"
        )
    return "; ".join(sentences) + "." if sentences else "Nothing identifying was found."


def _join(parts: Iterable[str]) -> str:
    parts = list(parts)
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]
