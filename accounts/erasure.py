"""Erasing a patient's account, and ending a user's sessions everywhere.

Erasure destroys the person and their data but keeps a pseudonymous skeleton, on purpose:

* every vault object of theirs is crypto-shredded (originals, sanitized images, previews, images
  prepared for consent, sealed questions, answers), so no copy of the ciphertext, in a backup or
  anywhere else, can be decrypted again;
* their scans are marked deleted (their file and image rows go), their API tokens, sessions,
  email addresses and second factors are deleted;
* the user row stays, anonymised: no email address, no usable password, inactive, no groups.
  Its ``pseudonym`` stays, because the audit log and the consent records refer to the person by
  it and hold nothing else about them (ids, hashes, counts). Deleting the row would leave those
  records pointing nowhere, and consent records are the clinic's evidence of what was sent where.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import ApiToken, User

log = logging.getLogger(__name__)

_DB_SESSION_ENGINES = frozenset(
    {"django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db"}
)


class ErasureRefused(Exception):
    """The account cannot be erased right now; the message says why, for the patient."""


def end_sessions(user: User) -> int:
    """Delete every stored session signed in as ``user``; returns how many there were.

    Only database-backed sessions can be found this way. Other engines still stop working for
    an inactive user (Django's backends refuse inactive users on every request), which is what
    disabling relies on; this makes it immediate and also covers a user who stays active.
    """
    if settings.SESSION_ENGINE not in _DB_SESSION_ENGINES:
        return 0
    from django.contrib.sessions.models import Session

    theirs = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if session.get_decoded().get(SESSION_KEY) == str(user.pk)
    ]
    if not theirs:
        return 0
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    for key in theirs:
        store.delete(key)  # also evicts a cached_db copy
    return len(theirs)


def erased_email(user: User) -> str:
    # The .invalid top-level domain is reserved (RFC 2606): no mail can ever reach it.
    return f"{user.pseudonym}@erased.invalid"


def erase_account(user: User) -> int:
    """Erase ``user`` as the module docstring describes; returns how many objects were shredded.

    Raises ErasureRefused while one of their scans is being sent: those images may be on the
    wire, and the send must end (in a second or two) before its evidence can be settled. All
    database changes commit together; blobs are deleted once that commit has happened.
    """
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator

    from scans.audit.log import append as audit
    from scans.models import Answer, Consent, ConsentState, Scan, Status
    from scans.retention import all_objects_of, still_in_vault
    from scans.submission import delete_scan
    from scans.vault import get_vault

    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        scans = list(Scan.objects.select_for_update().filter(owner=user))
        sending = (
            any(scan.status == Status.SENDING for scan in scans)
            or Consent.objects.filter(scan__owner=user, state=ConsentState.SENDING).exists()
        )
        if sending:
            raise ErasureRefused(
                "One of your scans is being sent right now. Try again in a minute, once it ends."
            )
        answers = Answer.objects.filter(scan__owner=user)
        objects: set = set(still_in_vault(answers.values_list("answer_object", flat=True)))
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
        ApiToken.objects.filter(user=user).delete()
        EmailAddress.objects.filter(user=user).delete()
        Authenticator.objects.filter(user=user).delete()
        user.email = erased_email(user)
        user.set_unusable_password()
        user.is_active = False
        user.is_staff = False
        user.is_superuser = False
        user.last_login = None
        user.save()
        user.groups.clear()
        user.user_permissions.clear()
        audit(
            "account.erased",
            actor=user.pseudonym,
            object_type="user",
            object_id=user.pseudonym,
            details={"scans": len(scans), "shredded": len(objects)},
        )
    end_sessions(user)
    log.info("account %s erased, %d object(s) shredded", user.pseudonym, len(objects))
    return len(objects)
