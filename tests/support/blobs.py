"""Test helpers that reach the sealed blobs only through the BlobStore interface."""

import random
import uuid

from vault import Vault
from vault.aead import HEADER_SIZE, TAG_SIZE


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def blob_of(vault: Vault, object_id: uuid.UUID) -> bytes:
    with vault.store.open_read(object_id.hex) as blob:
        return blob.read()


def replace_blob(vault: Vault, object_id: uuid.UUID, data: bytes) -> None:
    writer = vault.store.open_write(object_id.hex)
    writer.write(data)
    writer.commit()


def segment_span(index: int, segment_size: int) -> slice:
    """Where sealed segment ``index`` (a full one) sits in a blob."""
    start = HEADER_SIZE + index * (segment_size + TAG_SIZE)
    return slice(start, start + segment_size + TAG_SIZE)


SEGMENT = 4096
