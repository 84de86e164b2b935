"""The vault: encrypted envelope storage for every file the gateway keeps.

``get_vault()`` is the entry point; everything else callers need is exported here. Importing this
package is cheap and does not need the Django app registry.
"""

from __future__ import annotations

import threading
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from vault.envelope import ObjectInfo, Vault, VaultWriter
from vault.errors import KeyNotFoundError, TamperedError, UnknownObjectError, VaultError
from vault.keyring import Keyring, add_master_key, generate_keyring_file
from vault.s3 import S3BlobStore, S3Config
from vault.storage import BlobStore, LocalBlobStore

__all__ = [
    "BlobStore",
    "KeyNotFoundError",
    "Keyring",
    "LocalBlobStore",
    "ObjectInfo",
    "S3BlobStore",
    "S3Config",
    "TamperedError",
    "UnknownObjectError",
    "Vault",
    "VaultError",
    "VaultWriter",
    "add_master_key",
    "build_store",
    "generate_keyring_file",
    "get_vault",
    "load_keyring",
    "s3_config",
]

_lock = threading.Lock()
_cached: tuple[tuple[object, ...], Vault] | None = None


def _keyring_source() -> tuple[str, Path | None]:
    """The keyring JSON from VAULT_KEYRING if set, else the path of VAULT_KEYRING_PATH."""
    text = settings.VAULT_KEYRING
    if text.strip():
        return text, None
    path = settings.VAULT_KEYRING_PATH
    if not path:
        raise ImproperlyConfigured("Set VAULT_KEYRING or VAULT_KEYRING_PATH for the vault.")
    return "", Path(path)


def load_keyring() -> Keyring:
    """The keyring the settings name: VAULT_KEYRING (JSON text) wins over VAULT_KEYRING_PATH."""
    text, path = _keyring_source()
    return Keyring.from_json(text) if path is None else Keyring.from_file(path)


def s3_config() -> S3Config:
    """The VAULT_S3_* settings (their defaults live in settings.py, and only there)."""
    return S3Config(
        endpoint_url=settings.VAULT_S3_ENDPOINT_URL or None,
        bucket=settings.VAULT_S3_BUCKET,
        access_key=settings.VAULT_S3_ACCESS_KEY or None,
        secret_key=settings.VAULT_S3_SECRET_KEY or None,
        region=settings.VAULT_S3_REGION,
        prefix=settings.VAULT_S3_PREFIX,
        verify_tls=settings.VAULT_S3_VERIFY_TLS,
    )


def build_store(backend: str) -> BlobStore:
    """The blob store VAULT_BACKEND names; ImproperlyConfigured for anything else."""
    if backend == "local":
        return LocalBlobStore(Path(settings.VAULT_BLOB_DIR))
    if backend == "s3":
        config = s3_config()
        if not config.bucket:
            raise ImproperlyConfigured("VAULT_BACKEND=s3 needs VAULT_S3_BUCKET.")
        return S3BlobStore.from_config(config)
    raise ImproperlyConfigured(f"VAULT_BACKEND {backend!r} is not supported (use 'local' or 's3').")


def _settings_fingerprint() -> tuple[object, ...]:
    text, path = _keyring_source()
    file_state: tuple[int, int, int] | None = None
    if path is not None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            file_state = None
        else:
            # A rotation in another process rewrites the file: pick up the new primary.
            file_state = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    return (
        settings.VAULT_BACKEND,
        str(settings.VAULT_BLOB_DIR),
        text,
        str(path),
        file_state,
        settings.VAULT_SEGMENT_SIZE,
        s3_config() if settings.VAULT_BACKEND == "s3" else None,
    )


def get_vault() -> Vault:
    """The process's vault, built from settings and rebuilt whenever they (or the keyring file)
    change. Raises ImproperlyConfigured for an unknown VAULT_BACKEND and VaultError for a
    missing, unsafe or malformed keyring."""
    global _cached
    fingerprint = _settings_fingerprint()
    with _lock:
        if _cached is not None and _cached[0] == fingerprint:
            return _cached[1]
        vault = Vault(
            build_store(str(fingerprint[0])),
            load_keyring(),
            settings.VAULT_SEGMENT_SIZE,
        )
        _cached = (fingerprint, vault)
        return vault
