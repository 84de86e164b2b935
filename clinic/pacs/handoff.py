"""Handing a received study to a patient: from then on it is the patient's scan.

The study's instances are copied (vault to vault, never decrypted to disk) into a new scan owned
by the patient and go through exactly the path of an upload: the intake checks, the
de-identification engine and its verifier (``scans.submission.submit_scan``). The patient
reviews and consents in their own account; nothing here can consent for them, and the clinic's
copy in its inbox stays as it was.

The patient is found by e-mail address; an address nobody uses yet gets a new patient account
and an invitation to set a password.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.models import Role, User
from audit.actions import AuditAction
from audit.log import append as audit
from clinic.pacs.models import Handoff, Study
from clinic.people import invitation_language, invite_user
from scans.errors import UserFacingError
from scans.submission import submit_scan
from scans.upload import SealedUpload
from vault import ObjectInfo, get_vault

log = logging.getLogger(__name__)


class HandoffRefused(UserFacingError):
    """A hand-off that cannot happen; the message is for the clinician."""

    code = "handoff_refused"


def _copy(object_id: object) -> ObjectInfo:
    vault = get_vault()
    with vault.create() as writer:
        for chunk in vault.iter_chunks(str(object_id)):
            writer.write(chunk)
        return writer.close()


def _recipient(email: str) -> User | None:
    """The existing patient with this address, None for a new one; refuses staff accounts."""
    found = User.objects.filter(email__iexact=email).first()
    if found is None:
        return None
    if found.role != Role.PATIENT or not found.is_active:
        raise HandoffRefused(
            _(
                "That address does not belong to an active patient account; studies can only "
                "be handed to patients."
            ),
            400,
        )
    return found


def hand_off(study: Study, email: str, *, clinician: User, language: str | None = None) -> Handoff:
    """Give ``study`` to the patient with ``email`` (inviting them if they are new).

    The mail to the patient is in their account's language if they have one, else in
    ``language`` (the one the clinician chose on the hand-off form), else in the clinician's.

    Raises HandoffRefused with a sentence for the clinician; then nothing is created and every
    copy made for the scan is shredded again.
    """
    email = email.strip().lower()
    patient = _recipient(email)
    instances = list(study.instances.order_by("received_at"))
    if not instances:
        raise HandoffRefused(_("This study has no images yet."), 400)
    uploads = [SealedUpload(_copy(i.vault_object), n) for n, i in enumerate(instances, 1)]
    try:
        with transaction.atomic():
            invited = patient is None
            if patient is None:
                patient = invite_user(email, Role.PATIENT, admin=clinician, language=language)
            scan = submit_scan(patient, uploads)
            handoff = Handoff.objects.create(
                study=study, patient=patient, scan=scan, by=clinician.pseudonym
            )
            audit(
                AuditAction.STUDY_HANDED_OFF,
                actor=clinician.pseudonym,
                object_type="study",
                object_id=str(study.pk),
                details={
                    "scan": str(scan.pk),
                    "patient": patient.pseudonym,
                    "invited": invited,
                    "instances": len(instances),
                },
            )
            if not invited:
                recipient, written_in = patient, mail_language(patient, language)
                transaction.on_commit(lambda: _tell_patient(recipient, written_in))
    except BaseException:
        for upload in uploads:
            if not upload.claimed:
                get_vault().shred(upload.info.object_id)
        raise
    log.info("study %s handed off as scan %s", study.pk, scan.pk)
    return handoff


def _tell_patient(patient: User, language: str) -> None:
    """Mail the patient that a scan waits for them, in ``language``."""
    context = {"link": settings.PUBLIC_URL.rstrip("/") + "/scans/"}
    with translation.override(language):
        subject = render_to_string("pacs/email/handoff_subject.txt", context).strip()
        body = render_to_string("pacs/email/handoff_message.txt", context)
    send_mail(
        settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject,
        body,
        settings.DEFAULT_FROM_EMAIL,
        [patient.email],
    )


def mail_language(patient: User, chosen: str | None = None) -> str:
    """The patient's own language if their account has one, else the one chosen on the hand-off
    form, else the clinician's (the active language of the request that hands the study over)."""
    supported = {code for code, _name in settings.LANGUAGES}
    if patient.language in supported:
        return patient.language
    return invitation_language(chosen)
