"""Local secret keys kept in files: created once with mode 0600, refused if readable by others.

The vault's keyring, the de-identification key, the verifier's attestation key, the audit
log's signing key and Django's secret key each live in their own file (or come from the
environment in production), apart from the database.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class KeyFileError(Exception):
    pass


def read_key(path: Path) -> bytes:
    """Read a 32-byte key file, refusing one that other users could read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise KeyFileError(f"key file {path} is missing; run 'manage.py init_keys'") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"key file {path} is readable by other users; chmod 600 it")
    data = path.read_bytes()
    if len(data) != 32:
        raise KeyFileError(f"key file {path} must hold exactly 32 bytes")
    return data


def write_secret_file(path: Path, data: bytes) -> bool:
    """Create ``path`` mode 0600, atomically. Never overwrites (False if present)."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process created it meanwhile
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def new_key() -> bytes:
    return secrets.token_bytes(32)


def public_pem_of_signing_key(private_pem: bytes) -> bytes:
    """The SubjectPublicKeyInfo PEM of an Ed25519 private key: what verifying processes get."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the signing key is not an Ed25519 key")
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def new_signing_key_pem() -> bytes:
    """A new Ed25519 private key (PKCS#8 PEM, unencrypted): the audit log's tree-head key."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
