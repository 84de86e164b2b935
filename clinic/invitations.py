"""Accepting an invitation: a mailed code, typed in with the address, sets the password once.

The former invitation was allauth's reset link: its key sat in the URL path (and so in access
logs), and it could be opened again until used. Now the mail carries a link to the plain
``/clinic/invitation/`` page and a code. The code is Django's password-reset token for the
account: it is bound to the account's password hash and last sign-in, so it stops working the
moment a password is set (single use), and it expires after ``INVITATION_TTL_SECONDS``. Setting
the password signs the person in, and a staff role is then held on the authenticator set-up
page (``accounts.middleware``) until TOTP is enrolled, in that same session.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.tokens import revoke_all_tokens
from audit.actions import AuditAction
from audit.log import append as audit
from scans.errors import UserFacingError

ATTEMPTS_PER_ADDRESS = 10
ATTEMPT_WINDOW_SECONDS = 600


class InvitationTokens(PasswordResetTokenGenerator):
    key_salt = "scan-gateway.clinic.invitations"

    @property
    def timeout(self) -> int:  # Django reads it as a plain attribute
        return settings.INVITATION_TTL_SECONDS

    @timeout.setter
    def timeout(self, value: int) -> None:
        pass


_tokens = InvitationTokens()


class InvitationRefused(UserFacingError):
    code = "invitation_refused"
    status = 400


def invitation_code(user: User) -> str:
    return _tokens.make_token(user)


def accept_invitation(email: str, code: str, password: str, *, client_address: str) -> User:
    """Set the invited account's password; raises InvitationRefused for a wrong, used or expired
    code (one message for all, so the page says nothing about which addresses exist)."""
    key = f"invitation-attempts:{client_address}"
    cache.add(key, 0, timeout=ATTEMPT_WINDOW_SECONDS)
    if cache.incr(key) > ATTEMPTS_PER_ADDRESS:
        raise InvitationRefused(_("Too many attempts; wait ten minutes and try again."))
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is None or user.has_usable_password() or not _tokens.check_token(user, code.strip()):
        raise InvitationRefused(
            _(
                "That code does not match, was already used, or has expired. "
                "Ask your clinic admin for a new invitation."
            )
        )
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        revoke_all_tokens(user)
        audit(
            AuditAction.INVITATION_ACCEPTED,
            actor=user.pseudonym,
            object_type="user",
            object_id=user.pseudonym,
        )
    return user
