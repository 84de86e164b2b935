"""What clinicians see of the clinic's inbox. Every look at patient-identifying data is audited.

Patient names and ids are shown to clinicians: these are the clinic's own records, received from
its own PACS. They come from the sealed study summary, for the response only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accounts.models import User
from audit.actions import AuditAction
from audit.log import append as audit
from clinic.pacs.models import Handoff, Study
from clinic.pacs.receiving import read_summary
from scans import wording
from scans.models import Outcome

INBOX_SIZE = 100


@dataclass(frozen=True)
class StudyRow:
    study: Study
    summary: dict[str, str]
    handoffs: list[Handoff]


def _rows(studies: list[Study]) -> list[StudyRow]:
    return [
        StudyRow(study, read_summary(study), list(study.handoffs.select_related("scan")))
        for study in studies
    ]


def inbox(clinician: User) -> list[StudyRow]:
    """The newest studies, with what became of them; the listing itself is audited."""
    studies = list(Study.objects.order_by("-updated_at")[:INBOX_SIZE])
    audit(
        AuditAction.STUDY_VIEWED,
        actor=clinician.pseudonym,
        object_type="inbox",
        details={"studies": [str(s.pk) for s in studies[:64]], "count": len(studies)},
    )
    return _rows(studies)


def open_study(study: Study, clinician: User) -> StudyRow:
    audit(
        AuditAction.STUDY_VIEWED,
        actor=clinician.pseudonym,
        object_type="study",
        object_id=str(study.pk),
    )
    return _rows([study])[0]


def quarantine_notes(handoff: Handoff) -> list[dict[str, Any]]:
    """Why images of a handed-over study were held back by the verifier (reasons, no pixels).

    The clinic sees this for studies it handed over, to help the patient: the reasons are the
    engine's own words (shown as a technical detail beside the reader's sentences) and never
    quote header values.
    """
    return [
        {
            "id": image.pk,
            "position": image.position,
            "reason": image.reason,
            "sentences": wording.outcome_reason(image),
        }
        for image in handoff.scan.images.filter(outcome=Outcome.QUARANTINED).order_by("position")
    ]
