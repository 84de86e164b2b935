"""Short secrets sealed with the keyring, for values kept in database columns.

A sealed value is ``sealed:v1:<kid>:<wrapped data key>:<nonce+ciphertext>`` (base64 parts): a
fresh data key per value, wrapped by the keyring's primary master key as every vault object's
is, so a copy of the database yields nothing without the keyring, and rotating the keyring works
the same way. ``purpose`` binds a value to its use: a value sealed for one column does not open
as another's.
"""

from __future__ import annotations

import base64
import secrets
import uuid

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault import load_keyring

PREFIX = "sealed:v1:"
_NONCE_BYTES = 12


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def seal_text(text: str, purpose: uuid.UUID) -> str:
    data_key = AESGCM.generate_key(bit_length=256)
    kid, wrapped = load_keyring().wrap(purpose, data_key)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(data_key).encrypt(nonce, text.encode(), kid.encode())
    return f"{PREFIX}{kid}:{_b64(wrapped)}:{_b64(nonce + sealed)}"


def open_text(value: str, purpose: uuid.UUID) -> str:
    """The clear text. Raises TamperedError (or KeyNotFoundError) if it does not authenticate."""
    kid, wrapped, sealed = value.removeprefix(PREFIX).split(":")
    data_key = load_keyring().unwrap(purpose, kid, base64.urlsafe_b64decode(wrapped))
    raw = base64.urlsafe_b64decode(sealed)
    return (
        AESGCM(data_key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], kid.encode()).decode()
    )
