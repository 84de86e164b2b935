"""Personal API tokens: issue, look up by bearer header, revoke.

A token expires (``API_TOKEN_DAYS``) and carries scopes (``TokenScope``); which scope a route
needs is decided where routes are mounted (``gateway.api``). Tokens are deleted with every
password change or reset (``accounts.adapters``) and every two-factor reset (``clinic.people``).
"""

from __future__ import annotations

from django.utils import timezone

from accounts.models import ApiToken, TokenScope, User, hash_token
from accounts.signals import token_issued, token_revoked

PATIENT_SCOPES = (TokenScope.READ, TokenScope.UPLOAD, TokenScope.CONSENT)


def token_for_bearer(header: str) -> ApiToken | None:
    """The live token of an active user a ``Bearer <token>`` header carries, or None."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(ApiToken.PREFIX):
        return None
    found = (
        ApiToken.objects.select_related("user")
        .filter(
            token_hash=hash_token(token.strip()),
            user__is_active=True,
            expires_at__gt=timezone.now(),
        )
        .first()
    )
    if found is None:
        return None
    ApiToken.objects.filter(pk=found.pk).update(last_used_at=timezone.now())
    return found


def user_for_bearer(header: str) -> User | None:
    """The active user a ``Bearer <token>`` header belongs to, or None for anything else."""
    token = token_for_bearer(header)
    return None if token is None else token.user


def scopes_allowed(user: User) -> list[str]:
    """The scopes this user's role can hold: the audit scope only with the audit permission."""
    allowed = [scope.value for scope in PATIENT_SCOPES]
    if user.has_perm("accounts.view_audit_log"):
        allowed.append(TokenScope.AUDIT.value)
    return allowed


def issue_token(user: User, name: str, scopes: list[str] | None = None) -> str:
    """Create a token for ``user`` and return its clear value (shown once, never stored).

    ``scopes`` defaults to everything the user's role allows; a scope the role does not allow
    raises ValueError.
    """
    allowed = scopes_allowed(user)
    chosen = allowed if scopes is None else list(scopes)
    refused = sorted(set(chosen) - set(allowed))
    if refused or not chosen:
        raise ValueError(f"scopes not allowed for this account: {', '.join(refused) or 'none'}")
    token, clear = ApiToken.issue(user, name, chosen)
    token_issued.send(ApiToken, user=user, token=token)
    return clear


def revoke_token(user: User, token_id: int) -> bool:
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    if deleted:
        token_revoked.send(ApiToken, user=user, token_id=token_id)
    return deleted > 0


def revoke_all_tokens(user: User) -> int:
    """Delete every token of the account (a password or second factor changed hands)."""
    ids = list(ApiToken.objects.filter(user=user).values_list("pk", flat=True))
    ApiToken.objects.filter(pk__in=ids).delete()
    for token_id in ids:
        token_revoked.send(ApiToken, user=user, token_id=token_id)
    return len(ids)
