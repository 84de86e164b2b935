"""Personal API tokens: issue, look up by bearer header, revoke."""

from __future__ import annotations

from django.utils import timezone

from accounts.models import ApiToken, User, hash_token
from accounts.signals import token_issued, token_revoked


def user_for_bearer(header: str) -> User | None:
    """The active user a ``Bearer <token>`` header belongs to, or None for anything else."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(ApiToken.PREFIX):
        return None
    found = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=hash_token(token.strip()), user__is_active=True)
        .first()
    )
    if found is None:
        return None
    ApiToken.objects.filter(pk=found.pk).update(last_used_at=timezone.now())
    return found.user


def issue_token(user: User, name: str) -> str:
    """Create a token for ``user`` and return its clear value (shown once, never stored)."""
    token, clear = ApiToken.issue(user, name)
    token_issued.send(ApiToken, user=user, token=token)
    return clear


def revoke_token(user: User, token_id: int) -> bool:
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    if deleted:
        token_revoked.send(ApiToken, user=user, token_id=token_id)
    return deleted > 0
