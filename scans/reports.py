"""What de-identification did to a scan, told without original values.

The per-image report comes from the engine (categories, attribute names, actions, redacted
regions). Here it is turned into the API's JSON report, the review page's rows and one
plain-language sentence for the patient.
"""

from __future__ import annotations

from collections import Counter

from scans.models import Outcome, Scan

# How a category from the engine's report reads in the patient's summary, most personal first.
CATEGORY_WORDS = {
    "patient_name": "your name",
    "patient_id": "your patient ID",
    "birth_date": "your birth date",
    "address": "your address",
    "phone": "your phone number",
    "institution": "the hospital's name",
    "physician": "doctors' names",
    "accession": "the accession number",
    "dates": "dates",
    "uids": "the study's unique identifiers",
    "free_text": "free-text descriptions",
    "private": "manufacturer-specific (private) data",
    "other": "other details",
}


def image_rows(scan: Scan) -> list[dict]:
    rows = []
    for image in scan.images.all():
        report = image.report or {}
        rows.append(
            {
                "image": image,
                "changes": [
                    {
                        "name": change.get("keyword") or change.get("tag", ""),
                        "action": change.get("action", ""),
                    }
                    for change in report.get("changes", [])
                ],
                "regions": len(report.get("regions", [])),
            }
        )
    return rows


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
    """E.g. "Your name, your birth date and 14 other details were removed; 3 text areas were
    blacked out on image 2." Empty while nothing has been processed."""
    images = list(scan.images.all())
    if not images:
        return ""
    categories: Counter[str] = Counter()
    removed_total = 0
    redactions: list[tuple[int, int]] = []
    for image in images:
        report = image.report or {}
        for category, count in (report.get("categories") or {}).items():
            categories[category] += count
        removed_total += len(report.get("changes", []))
        regions = len(report.get("regions", []))
        if regions:
            redactions.append((image.position, regions))

    named = [CATEGORY_WORDS[c] for c in CATEGORY_WORDS if categories.get(c) and c != "other"]
    sentences = []
    if named or removed_total:
        shown = named[:3]
        others = max(
            removed_total
            - sum(categories[c] for c in CATEGORY_WORDS if CATEGORY_WORDS[c] in shown),
            0,
        )
        parts = shown + ([f"{others} other detail{'s' if others != 1 else ''}"] if others else [])
        sentences.append(_join(parts).capitalize() + " were removed or replaced")
    if redactions:
        total = sum(n for _, n in redactions)
        where = _join([f"image {pos}" for pos, _ in redactions[:5]])
        more = f" and {len(redactions) - 5} more" if len(redactions) > 5 else ""
        sentences.append(
            f"{total} text area{'s' if total != 1 else ''} blacked out on {where}{more}"
        )
    quarantined = sum(1 for image in images if image.outcome != Outcome.CLEAN)
    if quarantined:
        sentences.append(
            f"{quarantined} image{'s' if quarantined != 1 else ''} held back because "
            f"{'they' if quarantined != 1 else 'it'} could not be made safe"
        )
    return "; ".join(sentences) + "." if sentences else "Nothing identifying was found."


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
