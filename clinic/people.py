"""What a clinic admin can do to accounts: invite, change role, disable, enable, reset MFA.

Every function takes the acting admin and writes one audit entry naming them by pseudonym and
the account by its pseudonym; nothing else about either person reaches the log. An admin cannot
disable, demote or reset themselves: the clinic must never lock out its last way in by a
mis-click, and another admin can always do it for them.
"""

from __future__ import annotations

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.erasure import end_sessions, erased_email
from accounts.models import ApiToken, Role, User
from accounts.roles import assign_role
from audit.actions import AuditAction
from audit.log import append as audit
from clinic.invitations import invitation_code
from scans.errors import UserFacingError


class NotOnYourself(UserFacingError):
    """An admin tried to disable, demote or reset their own account."""

    code = "not_on_yourself"
    status = 403


class AccountErased(UserFacingError):
    """The account was erased: it has no owner any more and can never be used again."""

    code = "account_erased"
    status = 409


def is_erased(user: User) -> bool:
    """Erasure leaves only a pseudonymous skeleton, addressed at the reserved .invalid domain."""
    return user.email == erased_email(user)


def _refuse_self(admin: User, user: User) -> None:
    if admin.pk == user.pk:
        raise NotOnYourself(_("Ask another clinic admin to do this to your own account."))


def _refuse_erased(user: User) -> None:
    if is_erased(user):
        raise AccountErased(_("This account was erased; it cannot be enabled or changed."))


def reveal_identity(user: User, *, admin: User, how: str) -> None:
    """Record that ``admin`` saw the e-mail address behind ``user``'s pseudonym.

    The audit log names people by pseudonym only; an admin who can also link a pseudonym to an
    address could re-identify it, so every such link is an audit entry auditors can see.
    """
    audit(
        AuditAction.IDENTITY_REVEALED,
        actor=admin.pseudonym,
        object_type="user",
        object_id=user.pseudonym,
        details={"how": how},
    )


def invite_user(email: str, role: str, *, admin: User, language: str | None = None) -> User:
    """Create an account without a usable password and email its owner a code to set one.

    The address is marked verified: only its owner receives the code, and using it proves it.
    The mail is sent after the account is committed, so a code never names a missing account.
    It is written in ``language`` if that is one of the site's, else in the language of the
    person who invites (the active language now: the mail itself is sent later, on commit).
    """
    email = email.strip().lower()
    language = invitation_language(language)
    with transaction.atomic():
        user = User.objects.create_user(email, None, is_staff=role == Role.CLINIC_ADMIN)
        assign_role(user, role, actor=admin.pseudonym)
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        audit(
            AuditAction.USER_INVITED,
            actor=admin.pseudonym,
            object_type="user",
            object_id=user.pseudonym,
            details={"role": role},
        )
        transaction.on_commit(lambda: _send_invitation(user, role, language))
    return user


def invitation_language(chosen: str | None) -> str:
    """``chosen`` if the site speaks it, else the active language, else the site's."""
    supported = {code for code, _name in settings.LANGUAGES}
    if chosen in supported:
        return str(chosen)
    active = translation.get_language()
    return active if active in supported else settings.LANGUAGE_CODE


def _send_invitation(user: User, role: str, language: str) -> None:
    with translation.override(language):
        _mail_invitation(user, role)


def _mail_invitation(user: User, role: str) -> None:
    context = {
        "link": settings.PUBLIC_URL + reverse("clinic:invitation"),
        "code": invitation_code(user),
        "role": Role(role).label,
        "needs_mfa": user.needs_mfa,
        "hours": settings.INVITATION_TTL_SECONDS // 3600,
    }
    subject = render_to_string("clinic/email/invite_subject.txt", context).strip()
    body = render_to_string("clinic/email/invite_message.txt", context)
    send_mail(
        settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject,
        body,
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
    )


def change_role(user: User, role: str, *, admin: User) -> bool:
    """Give ``user`` ``role``; returns False if it already was their role.

    ``assign_role`` has the "role.changed" entry written. ``is_staff`` (the admin site) follows
    the clinic admin role, as for accounts made with ``create_account``.
    """
    _refuse_self(admin, user)
    _refuse_erased(user)
    if user.role == role:
        return False
    with transaction.atomic():
        assign_role(user, role, actor=admin.pseudonym)
        User.objects.filter(pk=user.pk).update(is_staff=role == Role.CLINIC_ADMIN)
    return True


def disable_user(user: User, *, admin: User) -> bool:
    """Stop the account working at once: inactive, every session ended, every API token deleted.

    Returns False if it was already disabled.
    """
    _refuse_self(admin, user)
    with transaction.atomic():
        if not User.objects.filter(pk=user.pk, is_active=True).update(is_active=False):
            return False
        tokens, _ = ApiToken.objects.filter(user=user).delete()
        sessions = end_sessions(user)
        audit(
            AuditAction.USER_DISABLED,
            actor=admin.pseudonym,
            object_type="user",
            object_id=user.pseudonym,
            details={"sessions": sessions, "tokens": tokens},
        )
    user.is_active = False
    return True


def enable_user(user: User, *, admin: User) -> bool:
    """Let a disabled account sign in again (its old tokens stay deleted); never an erased one,
    whose person is gone and whose row only keeps the audit log's pseudonym meaningful."""
    _refuse_erased(user)
    with transaction.atomic():
        if not User.objects.filter(pk=user.pk, is_active=False).update(is_active=True):
            return False
        audit(
            AuditAction.USER_ENABLED,
            actor=admin.pseudonym,
            object_type="user",
            object_id=user.pseudonym,
        )
    user.is_active = True
    return True


def reset_mfa(user: User, *, admin: User) -> int:
    """Delete the account's second factors (TOTP, recovery codes, security keys) and sessions.

    For someone who lost their phone: at their next sign-in a staff role is sent to set up TOTP
    again before any page opens. Their API tokens go too: a token issued under the lost factor
    must not outlive it. Returns how many authenticators were deleted.
    """
    _refuse_self(admin, user)
    _refuse_erased(user)
    with transaction.atomic():
        removed, _ = Authenticator.objects.filter(user=user).delete()
        sessions = end_sessions(user)
        tokens, _ = ApiToken.objects.filter(user=user).delete()
        audit(
            AuditAction.MFA_RESET,
            actor=admin.pseudonym,
            object_type="user",
            object_id=user.pseudonym,
            details={"authenticators": removed, "sessions": sessions, "tokens": tokens},
        )
    return removed
