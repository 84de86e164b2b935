"""Master keys: the keyring that wraps every object's data key, and the file it lives in.

No Django imports here, so the keyring can be created and inspected by plain scripts.

A keyring is JSON ``{"primary": "<kid>", "keys": {"<kid>": "<base64 of 32 bytes>", ...}}``. New
data keys are wrapped under the primary; older keys stay so that objects wrapped under them can
still be read until ``rotate_master_key`` has re-wrapped them.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import stat
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.errors import KeyNotFoundError, TamperedError, VaultError

MASTER_KEY_BYTES = 32
DATA_KEY_BYTES = 32
_WRAP_NONCE_BYTES = 12
# Domain label: a wrapped data key can never be confused with anything else sealed by these keys.
_WRAP_LABEL = b"scan-gateway/vault/v1 data key"
_MAX_KID_LENGTH = 64  # VaultKey.master_key_id max_length


def new_key_id() -> str:
    """A key id that sorts by creation time and is unique without coordination."""
    return f"k-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(4)}"


def _wrap_aad(object_id: uuid.UUID, kid: str) -> bytes:
    # Binding the object id stops a wrapped key being moved to another object's row; binding the
    # key id stops a row's key id being edited to point at another master key.
    return _WRAP_LABEL + object_id.bytes + kid.encode("ascii")


def _check_kid(kid: object) -> str:
    if (
        not isinstance(kid, str)
        or not 0 < len(kid) <= _MAX_KID_LENGTH
        or not kid.isascii()
        or not kid.isprintable()
        or " " in kid
    ):
        raise VaultError(
            f"keyring: key ids must be 1-{_MAX_KID_LENGTH} printable ASCII characters, no spaces"
        )
    return kid


class Keyring:
    """A set of named 256-bit master keys with one primary, used to wrap and unwrap data keys."""

    def __init__(self, keys: Mapping[str, bytes], primary: str) -> None:
        if not keys:
            raise VaultError("keyring: it holds no keys")
        for kid, key in keys.items():
            _check_kid(kid)
            if len(key) != MASTER_KEY_BYTES:
                raise VaultError(f"keyring: key {kid} is not {MASTER_KEY_BYTES} bytes")
        if primary not in keys:
            raise VaultError(f"keyring: the primary key id {primary} is not among its keys")
        self._keys = dict(keys)
        self._primary = primary

    def __repr__(self) -> str:  # never the key material
        return f"Keyring(primary={self._primary!r}, key_ids={sorted(self._keys)!r})"

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    @property
    def primary(self) -> str:
        return self._primary

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        """Parse the keyring JSON; raises VaultError saying what is wrong (never echoing keys)."""
        try:
            doc = json.loads(text)
        except ValueError:
            raise VaultError("keyring: not valid JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), dict):
            raise VaultError(
                'keyring: expected {"primary": "<kid>", "keys": {"<kid>": "<base64>"}}'
            )
        keys: dict[str, bytes] = {}
        for kid, encoded in doc["keys"].items():
            _check_kid(kid)
            try:
                keys[kid] = base64.b64decode(str(encoded), validate=True)
            except (binascii.Error, ValueError):
                raise VaultError(f"keyring: key {kid} is not valid base64") from None
        primary = doc.get("primary")
        if not isinstance(primary, str):
            raise VaultError("keyring: 'primary' must name one of its key ids")
        return cls(keys, primary)

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        """Load a keyring file, refusing one that other users could read."""
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise VaultError(f"keyring file {path} does not exist") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise VaultError(
                f"keyring file {path} is accessible to group or others "
                f"(mode {stat.S_IMODE(mode):04o}); it must be 0600: chmod 600 {path}"
            )
        return cls.from_json(path.read_text(encoding="utf-8"))

    def to_json(self) -> str:
        keys = {kid: base64.b64encode(key).decode("ascii") for kid, key in self._keys.items()}
        return json.dumps({"primary": self._primary, "keys": keys}, indent=2) + "\n"

    def with_key(self, kid: str, key: bytes, *, primary: bool) -> Keyring:
        if kid in self._keys:
            raise VaultError(f"keyring: key id {kid} already exists")
        return Keyring({**self._keys, kid: key}, kid if primary else self._primary)

    def _master(self, kid: str) -> AESGCM:
        try:
            return AESGCM(self._keys[kid])
        except KeyError:
            raise KeyNotFoundError(f"master key {kid} is not in the keyring") from None

    def wrap(
        self, object_id: uuid.UUID, data_key: bytes, kid: str | None = None
    ) -> tuple[str, bytes]:
        """Wrap ``data_key`` for ``object_id`` under ``kid`` (default: the primary).

        Returns ``(kid, wrapped)`` where wrapped is nonce || AES-256-GCM ciphertext || tag.
        """
        kid = self._primary if kid is None else kid
        nonce = secrets.token_bytes(_WRAP_NONCE_BYTES)
        sealed = self._master(kid).encrypt(nonce, data_key, _wrap_aad(object_id, kid))
        return kid, nonce + sealed

    def unwrap(self, object_id: uuid.UUID, kid: str, wrapped: bytes) -> bytes:
        """Recover the data key of ``object_id``.

        Raises KeyNotFoundError for an unknown key id and TamperedError if the wrapped key does not
        authenticate (altered, moved from another object, or the master key is not the one used).
        """
        master = self._master(kid)
        wrapped = bytes(wrapped)
        try:
            data_key = master.decrypt(
                wrapped[:_WRAP_NONCE_BYTES], wrapped[_WRAP_NONCE_BYTES:], _wrap_aad(object_id, kid)
            )
        except InvalidTag:
            raise TamperedError(
                f"data key of object {object_id} failed authentication under master key {kid}: "
                "the wrapped key was altered or moved, or the master key is wrong"
            ) from None
        if len(data_key) != DATA_KEY_BYTES:
            raise TamperedError(f"data key of object {object_id} has the wrong length")
        return data_key


def _write_private_file(path: Path, text: str, *, replace: bool) -> None:
    """Write ``text`` to ``path`` with mode 0600, atomically: readers see the old or new file only.

    With ``replace=False`` the final step is a hard link, which fails if ``path`` already exists,
    so a keyring is never overwritten by accident.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise VaultError(
                    f"keyring file {path} already exists; refusing to overwrite it"
                ) from None
            os.unlink(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def generate_keyring_file(path: Path) -> str:
    """Create a keyring file holding one new random master key; returns its key id.

    Refuses to overwrite an existing file: losing a keyring loses every object sealed under it.
    """
    kid = new_key_id()
    keyring = Keyring({kid: secrets.token_bytes(MASTER_KEY_BYTES)}, kid)
    _write_private_file(Path(path), keyring.to_json(), replace=False)
    return kid


def add_master_key(path: Path) -> str:
    """Add a new random master key to the keyring file and make it the primary; returns its id.

    The file is rewritten atomically with mode 0600; the old keys stay so existing objects remain
    readable until they are re-wrapped.
    """
    path = Path(path)
    keyring = Keyring.from_file(path)
    kid = new_key_id()
    while kid in keyring:
        kid = new_key_id()
    updated = keyring.with_key(kid, secrets.token_bytes(MASTER_KEY_BYTES), primary=True)
    _write_private_file(path, updated.to_json(), replace=True)
    return kid
