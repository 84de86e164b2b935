"""A patient sharing an answer with their clinic, and taking it back.

What is shared is what the patient sent and got back: the question, the de-identified images
exactly as sent, and the answer. Only the patient can share or revoke; clinicians see live shares
only, and each look is audited. Revoking is immediate: the next request is refused.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from audit.actions import AuditAction
from audit.log import append as audit
from clinic.pacs.models import Share
from scans.answers import DISCLAIMER, read_answer
from scans.models import Answer
from vault import VaultError, get_vault


def share_answer(answer: Answer, patient: User) -> Share:
    """Share the patient's own answer (idempotent: an answer already shared stays shared once).

    The caller has looked the answer up among the patient's own (``scans.answers.answer_of``).
    """
    live = Share.objects.filter(answer=answer, revoked_at=None).first()
    if live is not None:
        return live
    try:
        with transaction.atomic():
            share = Share.objects.create(answer=answer, patient=patient)
            audit(
                AuditAction.SHARE_CREATED,
                actor=patient.pseudonym,
                object_type="share",
                object_id=str(share.pk),
                details={"answer": str(answer.pk), "scan": str(answer.scan_id)},
            )
    except IntegrityError:
        return Share.objects.get(answer=answer, revoked_at=None)
    return share


def revoke_share(share_id: uuid.UUID, patient: User) -> bool:
    """End a share; False if it was not live. Another patient's share is a 404."""
    share = own_share(share_id, patient)
    with transaction.atomic():
        changed = Share.objects.filter(pk=share.pk, revoked_at=None).update(
            revoked_at=timezone.now()
        )
        if changed:
            audit(
                AuditAction.SHARE_REVOKED,
                actor=patient.pseudonym,
                object_type="share",
                object_id=str(share.pk),
                details={"answer": str(share.answer_id), "scan": str(share.answer.scan_id)},
            )
    return changed == 1


def own_share(share_id: uuid.UUID, patient: User) -> Share:
    share = Share.objects.filter(pk=share_id, patient=patient).select_related("answer").first()
    if share is None:
        raise Http404("No such share.")
    return share


def shares_of(patient: User) -> QuerySet[Share]:
    return Share.objects.filter(patient=patient).select_related("answer")


def live_shares() -> QuerySet[Share]:
    """What clinicians may see: shares not revoked, of answers not deleted."""
    return Share.objects.filter(
        revoked_at=None, answer__deleted_at=None, answer__answer_object__isnull=False
    ).select_related("answer", "patient")


def live_share(share_id: uuid.UUID) -> Share:
    share = live_shares().filter(pk=share_id).first()
    if share is None:
        raise Http404("This answer is not shared with the clinic.")
    return share


def _sent_images(answer: Answer) -> list[dict[str, Any]]:
    prepared = answer.consent.request.prepared
    return [{"n": n, "mime": item["mime"]} for n, item in enumerate(prepared)]


def view_shared(share: Share, clinician: User) -> dict[str, Any]:
    """The question, the answer and the list of images sent, for a clinician; audited."""
    answer = share.answer
    stored = read_answer(answer)
    try:
        question = get_vault().read_bytes(answer.consent.question_object).decode("utf-8")
    except VaultError:
        question = ""
    audit(
        AuditAction.SHARE_VIEWED,
        actor=clinician.pseudonym,
        object_type="share",
        object_id=str(share.pk),
        details={"answer": str(answer.pk), "patient": share.patient.pseudonym},
    )
    return {
        "share": share,
        "question": question,
        "html": stored["html"],
        "disclaimer": gettext(DISCLAIMER),
        "endpoint": answer.endpoint_name,
        "model": answer.model,
        "images": _sent_images(answer),
    }


def sent_image(share: Share, n: int, clinician: User) -> tuple[bytes, str]:
    """The n-th image exactly as it was sent to the AI (de-identified), for a live share."""
    prepared = share.answer.consent.request.prepared
    if not 0 <= n < len(prepared):
        raise Http404("No such image.")
    try:
        data = get_vault().read_bytes(prepared[n]["object_id"])
    except VaultError as exc:
        raise Http404("This image is no longer kept.") from exc
    audit(
        AuditAction.SHARE_VIEWED,
        actor=clinician.pseudonym,
        object_type="share",
        object_id=str(share.pk),
        details={"image": n},
    )
    return data, str(prepared[n]["mime"])
