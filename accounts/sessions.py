"""Sessions that a stolen database cannot replay (``SESSION_ENGINE = "accounts.sessions"``).

Django's database sessions store the cookie's value as the row's key and the contents signed
but readable: the penetration test opened a clinic admin's pages with a key read from the
database file, with no password or TOTP. Here the row holds only SHA-256 of the key, and the
contents are encrypted (AES-256-GCM) under a key derived from the session key itself, which
exists only in the browser's cookie. The server still ends sessions at will: by deleting rows,
one or all of an account's (``end_sessions_of``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.exceptions import SuspiciousOperation
from django.utils import timezone

_NONCE_BYTES = 12


def stored_key(session_key: str) -> str:
    """What the database holds instead of the session key."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def _cipher(session_key: str) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"scan-gateway session data"
    ).derive(session_key.encode())
    return AESGCM(key)


def seal(session_key: str, text: str) -> str:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = _cipher(session_key).encrypt(nonce, text.encode(), stored_key(session_key).encode())
    return base64.b64encode(nonce + sealed).decode()


def unseal(session_key: str, sealed: str) -> str:
    raw = base64.b64decode(sealed)
    return (
        _cipher(session_key)
        .decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], stored_key(session_key).encode())
        .decode()
    )


class SessionStore(DatabaseSessionStore):
    @classmethod
    def get_model_class(cls):
        from accounts.models import SealedSession

        return SealedSession

    def _get_session_from_db(self):
        if not self.session_key:
            return None
        try:
            return self.model.objects.get(
                session_key=stored_key(self.session_key), expire_date__gt=timezone.now()
            )
        except (self.model.DoesNotExist, SuspiciousOperation):
            self._session_key = None
            return None

    def load(self) -> dict[str, Any]:
        row = self._get_session_from_db()
        if row is None or self.session_key is None:
            return {}
        try:
            return self.decode(unseal(self.session_key, row.session_data))
        except Exception:
            self._session_key = None
            return {}

    def exists(self, session_key: str) -> bool:
        return self.model.objects.filter(session_key=stored_key(session_key)).exists()

    def create_model_instance(self, data: dict[str, Any]):
        from accounts.models import SealedSession

        # django-stubs leave out this private helper of SessionBase, which save() relies on too.
        session_key = self._get_or_create_session_key()  # type: ignore[attr-defined]
        return SealedSession(
            session_key=stored_key(session_key),
            session_data=seal(session_key, self.encode(data)),
            expire_date=self.get_expiry_date(),
            user_pk=str(data.get(SESSION_KEY, "")),
        )

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self.model.objects.filter(session_key=stored_key(session_key)).delete()


def end_sessions_of(user_pk: object, *, keep: str | None = None) -> int:
    """Delete every stored session signed in as this user, except the session ``keep`` (a
    session key) if given; returns how many were deleted."""
    from accounts.models import SealedSession

    theirs = SealedSession.objects.filter(user_pk=str(user_pk))
    if keep:
        theirs = theirs.exclude(session_key=stored_key(keep))
    deleted, _ = theirs.delete()
    return deleted
