"""The database side of the vault: each object's wrapped data key, one ``VaultKey`` row per object.

This is the only vault module that touches Django. The model is imported inside the functions so
that ``import vault`` works before the app registry is ready.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import transaction

from vault.errors import KeyNotFoundError, UnknownObjectError
from vault.keyring import Keyring


def save_wrapped_key(object_id: uuid.UUID, master_key_id: str, wrapped_key: bytes) -> None:
    from vault.models import VaultKey

    VaultKey.objects.create(
        object_id=object_id, master_key_id=master_key_id, wrapped_key=wrapped_key
    )


def save_wrapped_keys(rows: list[tuple[uuid.UUID, str, bytes]]) -> None:
    """``save_wrapped_key`` for several objects in one statement."""
    from vault.models import VaultKey

    VaultKey.objects.bulk_create(
        VaultKey(object_id=object_id, master_key_id=master_key_id, wrapped_key=wrapped_key)
        for object_id, master_key_id, wrapped_key in rows
    )


def load_wrapped_key(object_id: uuid.UUID) -> tuple[str, bytes]:
    """Return ``(master key id, wrapped data key)``; UnknownObjectError if there is no row."""
    from vault.models import VaultKey

    row = (
        VaultKey.objects.filter(object_id=object_id)
        .values_list("master_key_id", "wrapped_key")
        .first()
    )
    if row is None:
        raise UnknownObjectError(f"no vault object {object_id} (never stored, or shredded)")
    return row[0], bytes(row[1])


def has_wrapped_key(object_id: uuid.UUID) -> bool:
    from vault.models import VaultKey

    return VaultKey.objects.filter(object_id=object_id).exists()


def delete_wrapped_key(object_id: uuid.UUID) -> bool:
    from vault.models import VaultKey

    deleted, _ = VaultKey.objects.filter(object_id=object_id).delete()
    return bool(deleted)


@dataclass(frozen=True)
class RewrapResult:
    rewrapped: int
    already_under_target: int


def rewrap_data_keys(keyring: Keyring, target_kid: str, batch_size: int = 500) -> RewrapResult:
    """Re-wrap every data key not already under ``target_kid``; the blobs are not touched.

    Works in batches, each in its own transaction with the rows locked, so a crash loses at most
    one uncommitted batch and a rerun picks up where it stopped (already re-wrapped rows are
    skipped). Raises KeyNotFoundError or TamperedError if a row cannot be unwrapped with the
    keyring; batches committed before that stay committed.
    """
    from vault.models import VaultKey

    if target_kid not in keyring:
        raise KeyNotFoundError(f"master key {target_kid} is not in the keyring")
    already = VaultKey.objects.filter(master_key_id=target_kid).count()
    rewrapped = 0
    after: uuid.UUID | None = None
    while True:
        with transaction.atomic():
            pending = (
                VaultKey.objects.select_for_update()
                .exclude(master_key_id=target_kid)
                .order_by("object_id")
            )
            if after is not None:
                pending = pending.filter(object_id__gt=after)
            batch = list(pending[:batch_size])
            for row in batch:
                data_key = keyring.unwrap(row.object_id, row.master_key_id, bytes(row.wrapped_key))
                row.master_key_id, row.wrapped_key = keyring.wrap(
                    row.object_id, data_key, target_kid
                )
            VaultKey.objects.bulk_update(batch, ["master_key_id", "wrapped_key"])
        if not batch:
            return RewrapResult(rewrapped, already)
        rewrapped += len(batch)
        after = batch[-1].object_id
