"""Account events for the audit log: who signed in, whose role or tokens changed.

Sign-ins happen inside allauth and Django's auth, whose signals are the only hook; role and token
changes are announced by ``accounts.signals``. Entries name people by pseudonym, never by email.
"""

from __future__ import annotations

from typing import Any

from accounts.models import ApiToken, User
from audit.actions import AuditAction
from audit.log import append as audit


def signed_in(sender: object, request: object, user: User, **kwargs: Any) -> None:
    audit(AuditAction.SIGN_IN, actor=user.pseudonym, object_type="user", object_id=user.pseudonym)


def sign_in_failed(
    sender: object, credentials: object, request: object = None, **kwargs: Any
) -> None:
    # The attempted login name is not recorded: it may be an email address or a typo of one.
    audit(AuditAction.SIGN_IN_FAILED, actor="system")


def role_assigned(
    sender: object, user: User, previous: str, role: str, actor: str, **kwargs: Any
) -> None:
    audit(
        AuditAction.ROLE_CHANGED,
        actor=actor,
        object_type="user",
        object_id=user.pseudonym,
        details={"from": previous or None, "to": role},
    )


def token_issued(sender: object, user: User, token: ApiToken, **kwargs: Any) -> None:
    audit(
        AuditAction.TOKEN_CREATED,
        actor=user.pseudonym,
        object_type="token",
        object_id=str(token.pk),
    )


def token_revoked(sender: object, user: User, token_id: int, **kwargs: Any) -> None:
    audit(
        AuditAction.TOKEN_REVOKED,
        actor=user.pseudonym,
        object_type="token",
        object_id=str(token_id),
    )
