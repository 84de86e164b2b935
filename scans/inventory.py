"""Which vault objects hold something of a scan: the rule crypto-shredding depends on.

Deleting a scan, erasing an account, retention and a re-run of de-identification all shred by
these lists, so an object kind added here is shredded everywhere, and one forgotten here would
be forgotten everywhere. Each function says which share of a scan it lists.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from scans.models import Answer, Consent, ConsentRequest, Scan, ScanFile, ScanImage
from vault.models import VaultKey


def image_outputs(image: ScanImage) -> list[uuid.UUID]:
    """What de-identification sealed for one image: sanitized copy, its preview, the original's."""
    return [
        obj
        for obj in (image.sanitized_object, image.preview_object, image.original_preview_object)
        if obj
    ]


def consent_objects(scan: Scan) -> list[uuid.UUID]:
    """Every vault object consent holds for ``scan``: prepared images, questions, answers."""
    objects: list[uuid.UUID] = []
    for consent_request in scan.consent_requests.all():
        objects.append(consent_request.question_object)
        objects.extend(uuid.UUID(item["object_id"]) for item in consent_request.prepared)
    objects.extend(
        answer.answer_object for answer in scan.answers.all() if answer.answer_object is not None
    )
    return objects


def owned_objects(scan: Scan) -> list[uuid.UUID]:
    """Every vault object that holds something of this scan (deleting it shreds these)."""
    objects: list[uuid.UUID] = []
    for file in scan.files.all():
        if file.vault_object:
            objects.append(file.vault_object)
    for image in scan.images.all():
        objects.extend(image_outputs(image))
    objects.extend(consent_objects(scan))
    return objects


def _as_uuid(value: object) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


def still_in_vault(object_ids: Iterable[object]) -> list[uuid.UUID]:
    """The ids among ``object_ids`` whose wrapped key still exists, sorted, without repeats."""
    wanted = {parsed for value in object_ids if value and (parsed := _as_uuid(value))}
    if not wanted:
        return []
    return sorted(VaultKey.objects.filter(object_id__in=wanted).values_list("object_id", flat=True))


def answered_questions(scan_id: uuid.UUID) -> set[uuid.UUID]:
    """Questions an answer that is still kept refers to: the answer page shows them together."""
    rows = Answer.objects.filter(scan_id=scan_id, answer_object__isnull=False).values_list(
        "consent__question_object", "consent__request__question_object"
    )
    return {object_id for row in rows for object_id in row if object_id}


def consent_material(scan_id: uuid.UUID, *, keep_answered_questions: bool) -> list[uuid.UUID]:
    """Live vault objects of the scan's consent requests and consents (images, questions)."""
    objects: list[object] = []
    for prepared, question in ConsentRequest.objects.filter(scan_id=scan_id).values_list(
        "prepared", "question_object"
    ):
        objects.append(question)
        objects.extend(item.get("object_id") for item in prepared or [] if isinstance(item, dict))
    for prepared_objects, question in Consent.objects.filter(scan_id=scan_id).values_list(
        "prepared_objects", "question_object"
    ):
        objects.append(question)
        if isinstance(prepared_objects, dict):
            objects.extend(prepared_objects.values())
    if keep_answered_questions:
        kept = answered_questions(scan_id)
        objects = [o for o in objects if _as_uuid(o) not in kept]
    return still_in_vault(objects)


def original_objects(scan_id: uuid.UUID) -> list[uuid.UUID]:
    """The uploaded files and the previews rendered from the original pixels."""
    files = ScanFile.objects.filter(scan_id=scan_id, vault_object__isnull=False)
    previews = ScanImage.objects.filter(scan_id=scan_id, original_preview_object__isnull=False)
    found = {o for o in files.values_list("vault_object", flat=True) if o}
    found |= {o for o in previews.values_list("original_preview_object", flat=True) if o}
    return sorted(found)


def sanitized_objects(scan_id: uuid.UUID) -> list[uuid.UUID]:
    """De-identified images and their previews, and consent material no kept answer needs."""
    images = ScanImage.objects.filter(scan_id=scan_id)
    found: set[uuid.UUID] = set()
    for sanitized, preview in images.values_list("sanitized_object", "preview_object"):
        found.update(o for o in (sanitized, preview) if o)
    found.update(consent_material(scan_id, keep_answered_questions=True))
    return sorted(found)


def all_objects_of(scan: Scan) -> list[uuid.UUID]:
    """Every vault object that still holds something of the scan, consent material included."""
    return sorted(
        set(owned_objects(scan)) | set(consent_material(scan.pk, keep_answered_questions=False))
    )


def answer_objects(answer: Answer) -> list[uuid.UUID]:
    """An answer's text and the question it answered, while they are still in the vault."""
    consent = answer.consent
    pointed = {answer.answer_object} if answer.answer_object else set()
    questions = still_in_vault([consent.question_object, consent.request.question_object])
    return sorted(pointed | set(questions))
