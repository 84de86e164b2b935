"""Ending a user's sessions everywhere, and anonymising an account that is being erased.

The whole erasure (their scans shredded first) is ``clinic.erasure.erase_account``; this module
does the account's own part. Erasure destroys the person and their data but keeps a pseudonymous
skeleton, on purpose:

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

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator

from accounts.models import ApiToken, User
from accounts.sessions import end_sessions_of


def end_sessions(user: User, *, keep: str | None = None) -> int:
    """Delete every stored session signed in as ``user`` (but ``keep``, a session key, if
    given); returns how many there were.

    Sessions are stored by ``accounts.sessions`` with the account's id beside them, so this is
    one delete, immediate for every device.
    """
    return end_sessions_of(user.pk, keep=keep)


def erased_email(user: User) -> str:
    # The .invalid top-level domain is reserved (RFC 2606): no mail can ever reach it.
    return f"{user.pseudonym}@erased.invalid"


def anonymise(user: User) -> None:
    """Delete the account's tokens, addresses and second factors, and strip the user row down
    to its pseudonym: no email, no usable password, inactive, no groups or permissions.

    Call inside the erasure's transaction, with the user row locked.
    """
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
