"""Erasing a patient's account at their request: every object of theirs crypto-shredded, their
scans marked deleted, and the account stripped to a pseudonymous skeleton (``accounts.erasure``).

The skeleton stays on purpose: the audit log and the consent records refer to the person by
pseudonym and hold nothing else about them (ids, hashes, counts), and consent records are the
clinic's evidence of what was sent where.
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.erasure import anonymise, end_sessions
from accounts.models import User
from audit.actions import AuditAction
from audit.log import append as audit
from scans.busy import is_sending
from scans.deletion import delete_scan
from scans.errors import UserFacingError
from scans.inventory import all_objects_of, still_in_vault
from scans.models import Answer, Scan, Status
from vault import get_vault

log = logging.getLogger(__name__)


class ErasureRefused(UserFacingError):
    """The account cannot be erased right now; the message says why, for the patient."""

    code = "erasure_refused"
    status = 409


def erase_account(user: User) -> int:
    """Erase ``user`` as the module docstring describes; returns how many objects were shredded.

    Raises ErasureRefused while one of their scans is being sent: those images may be on the
    wire, and the send must end (in a second or two) before its evidence can be settled. All
    database changes commit together; blobs are deleted once that commit has happened.
    """
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        scans = list(Scan.objects.select_for_update().filter(owner=user))
        if is_sending(scans):
            raise ErasureRefused(
                _("One of your scans is being sent right now. Try again in a minute, once it ends.")
            )
        answers = Answer.objects.filter(scan__owner=user)
        objects: set[uuid.UUID] = set(
            still_in_vault(answers.values_list("answer_object", flat=True))
        )
        for scan in scans:
            objects.update(all_objects_of(scan))
        vault = get_vault()
        for object_id in sorted(objects):
            vault.shred(object_id)
        for scan in scans:
            if scan.status != Status.DELETED:
                delete_scan(scan, actor=user.pseudonym)
        answers.filter(Q(answer_object__isnull=False) | Q(deleted_at__isnull=True)).update(
            answer_object=None, deleted_at=Coalesce("deleted_at", timezone.now())
        )
        anonymise(user)
        audit(
            AuditAction.ACCOUNT_ERASED,
            actor=user.pseudonym,
            object_type="user",
            object_id=user.pseudonym,
            details={"scans": len(scans), "shredded": len(objects)},
        )
    end_sessions(user)
    log.info("account %s erased, %d object(s) shredded", user.pseudonym, len(objects))
    return len(objects)
