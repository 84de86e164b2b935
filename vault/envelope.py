"""The vault: envelope encryption of whole objects, streamed in and out with flat memory.

Each object gets a fresh random data key. Its content is sealed with that key (see ``aead``) into
a blob in the ``BlobStore``; the data key itself is wrapped by the keyring's primary master key
and kept in the database (``keystore``). Deleting the wrapped key is what destroys an object:
without it the blob, and every copy or backup of it, is noise.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO

from django.db import transaction

from vault import keystore
from vault.aead import DecryptingReader, EncryptingWriter, check_segment_size
from vault.errors import VaultError
from vault.keyring import DATA_KEY_BYTES, Keyring
from vault.storage import BlobStore, BlobWriter, BytesLike

DEFAULT_SEGMENT_SIZE = 1024 * 1024
# Writes at least this big are hashed on a helper thread while the main thread encrypts them:
# SHA-256 is slower than AES-GCM here, and hashlib releases the GIL for large updates.
_PARALLEL_HASH_MIN = 64 * 1024
_hash_pool: ThreadPoolExecutor | None = None
_hash_pool_lock = threading.Lock()
# Blobs of a ``Vault.together()`` batch are made durable here (fsync, rename, fsync of the
# folder: the thread waits on the disk, and releases the GIL while it does).
_durable_pool: ThreadPoolExecutor | None = None


def _hash_in_background(update: Callable[[BytesLike], None], data: BytesLike) -> Future[None]:
    global _hash_pool
    with _hash_pool_lock:
        if _hash_pool is None:
            _hash_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vault-sha256")
    return _hash_pool.submit(update, data)


def _forget_pools_in_child() -> None:
    """A forked child (Celery's prefork pool) has none of its parent's pool threads: it starts
    its own pools on first use instead of queueing work that no thread would run."""
    global _hash_pool, _durable_pool, _hash_pool_lock
    _hash_pool = _durable_pool = None
    _hash_pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools_in_child)


def _in_background(work: Callable[[], None]) -> Future[None]:
    global _durable_pool
    with _hash_pool_lock:
        if _durable_pool is None:
            _durable_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="vault-durable")
    return _durable_pool.submit(work)


@dataclass(frozen=True)
class ObjectInfo:
    """What a caller learns about an object it stored: its id, plaintext size and SHA-256 (hex)."""

    object_id: uuid.UUID
    size: int
    sha256: str


def _blob_name(object_id: uuid.UUID) -> str:
    return object_id.hex


def _as_uuid(object_id: uuid.UUID | str) -> uuid.UUID:
    return object_id if isinstance(object_id, uuid.UUID) else uuid.UUID(object_id)


class VaultWriter:
    """Streams one new object into the vault; ``close()`` commits it, ``abort()`` discards it.

    As a context manager it commits on normal exit and aborts on an exception. Any failure while
    writing or committing aborts too, so no partial object is ever left behind: either the blob
    and its key row both exist, or neither does (an orphan blob without a key row is possible
    only if the process dies between the two steps, and is unreadable noise).
    """

    def __init__(self, vault: Vault, *, digest: bool = True) -> None:
        self.object_id = uuid.uuid4()
        self._vault = vault
        data_key = secrets.token_bytes(DATA_KEY_BYTES)
        # Wrap first, so a keyring problem surfaces before anything is written.
        self._master_key_id, self._wrapped_key = vault.keyring.wrap(self.object_id, data_key)
        # SHA-256 costs more than AES-GCM; callers that never use the digest (large uploads,
        # which are only ever read back) skip it, and ObjectInfo.sha256 is then "".
        self._sha256 = hashlib.sha256() if digest else None
        self._blob = vault.store.open_write(_blob_name(self.object_id))
        try:
            self._sealer = EncryptingWriter(
                self._blob, data_key, self.object_id, vault.segment_size
            )
        except BaseException:
            self._blob.abort()
            raise
        self._info: ObjectInfo | None = None
        self._aborted = False

    def write(self, data: BytesLike) -> int:
        if self._aborted or self._info is not None:
            raise VaultError(f"object {self.object_id}: write after close or abort")
        try:
            if self._sha256 is None:
                return self._sealer.write(data)
            if len(data) < _PARALLEL_HASH_MIN:
                self._sha256.update(data)
                return self._sealer.write(data)
            hashing = _hash_in_background(self._sha256.update, data)
            try:
                return self._sealer.write(data)
            finally:
                # The caller may reuse its buffer once we return, so the hash must be done.
                hashing.result()
        except BaseException:
            self.abort()
            raise

    def close(self) -> ObjectInfo:
        """Seal the last segment, make the blob durable, then record the wrapped key.

        Returns the object's ObjectInfo; calling it again returns the same.
        """
        return self._close(durable=None)

    def _close(self, durable: Batch | None) -> ObjectInfo:
        """``close``; with ``durable``, the blob is made durable on a helper thread and its key
        is recorded by the batch once it is (``Vault.together``)."""
        if self._info is not None:
            return self._info
        if self._aborted:
            raise VaultError(f"object {self.object_id}: the write was aborted")
        try:
            size = self._sealer.finish()
            if durable is None:
                self._blob.commit()
            else:
                durable.commit_in_background(
                    self.object_id, self._blob, self._master_key_id, self._wrapped_key
                )
        except BaseException:
            self.abort()
            raise
        if durable is None:
            try:
                keystore.save_wrapped_key(self.object_id, self._master_key_id, self._wrapped_key)
            except BaseException:
                self._aborted = True
                self._vault.store.delete(_blob_name(self.object_id))
                raise
        digest = self._sha256.hexdigest() if self._sha256 is not None else ""
        self._info = ObjectInfo(self.object_id, size, digest)
        return self._info

    def abort(self) -> None:
        """Discard the object; safe to call more than once, and a no-op after ``close()``."""
        if self._info is None and not self._aborted:
            self._aborted = True
            self._blob.abort()

    def __enter__(self) -> VaultWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class Batch:
    """Objects stored together: their blobs made durable in parallel, on helper threads, while
    the caller goes on working; their keys recorded in one statement at the end
    (``Vault.together``)."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._pending: list[tuple[uuid.UUID, Future[None]]] = []
        self._keys: list[tuple[uuid.UUID, str, bytes]] = []

    def put_bytes(self, data: BytesLike, *, digest: bool = True) -> ObjectInfo:
        """Seal ``data`` into a new object now; it is stored once the batch ends.
        ``digest=False`` skips the plaintext SHA-256 (``ObjectInfo.sha256`` is then "")."""
        writer = self._vault.create(digest=digest)
        try:
            writer.write(data)
        except BaseException:
            writer.abort()
            raise
        return writer._close(durable=self)

    def commit_in_background(
        self, object_id: uuid.UUID, blob: BlobWriter, master_key_id: str, wrapped_key: bytes
    ) -> None:
        self._pending.append((object_id, _in_background(blob.commit)))
        self._keys.append((object_id, master_key_id, wrapped_key))

    def settle(self) -> BaseException | None:
        """Wait for every blob's write to end; the first failure, if any (a blob writer that
        failed has already removed what it wrote)."""
        failure: BaseException | None = None
        for _object_id, future in self._pending:
            try:
                future.result()
            except BaseException as exc:
                failure = failure or exc
        return failure

    def delete_all(self) -> None:
        for object_id, _future in self._pending:
            self._vault.store.delete(_blob_name(object_id))


class Vault:
    """Stores, reads and shreds encrypted objects. Build it with ``vault.get_vault()``."""

    def __init__(
        self, store: BlobStore, keyring: Keyring, segment_size: int = DEFAULT_SEGMENT_SIZE
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.segment_size = check_segment_size(segment_size)

    def __repr__(self) -> str:
        return f"Vault({self.store!r}, {self.keyring!r}, segment_size={self.segment_size})"

    def create(self, *, digest: bool = True) -> VaultWriter:
        """A writer for a new object; ``digest=False`` skips the plaintext SHA-256."""
        return VaultWriter(self, digest=digest)

    def put_bytes(self, data: BytesLike) -> ObjectInfo:
        with self.create() as writer:
            writer.write(data)
        return writer.close()

    @contextmanager
    def together(self) -> Iterator[Batch]:
        """Store several objects inside the caller's transaction while their blobs' disk flushes
        overlap each other and the caller's work (``batch.put_bytes``), instead of one after the
        other.

        Durability is the same as ``put_bytes``: leaving the block waits until every blob is
        durable under its name, and only then writes their key rows (one statement) into the
        caller's transaction, which must still be open: it can only ever commit keys whose blobs
        survive a crash. If a blob cannot be made durable, or the block raises, no key is
        written, every blob of the batch is deleted, and the exception goes on. A crash before
        the commit leaves at most unreadable blobs without keys. The objects cannot be read
        before the block ends.
        """
        if not transaction.get_connection().in_atomic_block:
            raise VaultError("a batch of objects must be stored inside a transaction")
        batch = Batch(self)
        try:
            yield batch
        except BaseException:
            batch.settle()
            batch.delete_all()
            raise
        failure = batch.settle()
        if failure is not None:
            batch.delete_all()
            raise failure
        try:
            keystore.save_wrapped_keys(batch._keys)
        except BaseException:
            batch.delete_all()
            raise

    def put_file(self, fileobj: BinaryIO, *, digest: bool = True) -> ObjectInfo:
        """Stream a readable binary file object into a new object, one segment at a time."""
        buffer = bytearray(self.segment_size)
        view = memoryview(buffer)
        with self.create(digest=digest) as writer:
            readinto = getattr(fileobj, "readinto", None)
            while True:
                if readinto is not None:
                    n = readinto(view)
                    if not n:
                        break
                    writer.write(view[:n])
                else:
                    chunk = fileobj.read(self.segment_size)
                    if not chunk:
                        break
                    writer.write(chunk)
        return writer.close()

    def open(self, object_id: uuid.UUID | str) -> DecryptingReader:
        """A seekable binary file object over the object's plaintext.

        Raises UnknownObjectError if there is no such object, KeyNotFoundError if its master key
        has left the keyring, and TamperedError if its key or blob fails authentication
        (including truncation, which is checked here, before anything is read).
        """
        object_id = _as_uuid(object_id)
        master_key_id, wrapped_key = keystore.load_wrapped_key(object_id)
        data_key = self.keyring.unwrap(object_id, master_key_id, wrapped_key)
        try:
            source = self.store.open_read(_blob_name(object_id))
        except FileNotFoundError:
            raise VaultError(f"object {object_id} has a key but its blob is missing") from None
        return DecryptingReader(source, data_key, object_id)

    def read_bytes(self, object_id: uuid.UUID | str) -> bytes:
        """The whole plaintext; raises TamperedError rather than return any part of a bad object."""
        with self.open(object_id) as reader:
            return reader.read()

    def iter_chunks(self, object_id: uuid.UUID | str) -> Iterator[bytes]:
        """Yield the plaintext one segment at a time, each authenticated before it is yielded.

        If this raises TamperedError part-way, the consumer must discard what it already received.
        """
        with self.open(object_id) as reader:
            while chunk := reader.read(reader.segment_size):
                yield chunk

    def size(self, object_id: uuid.UUID | str) -> int:
        """The plaintext size, authenticated (the last segment is checked)."""
        with self.open(object_id) as reader:
            return reader.size

    def exists(self, object_id: uuid.UUID | str) -> bool:
        object_id = _as_uuid(object_id)
        return keystore.has_wrapped_key(object_id) and self.store.exists(_blob_name(object_id))

    def shred(self, object_id: uuid.UUID | str) -> None:
        """Destroy an object: its wrapped data key first, then its blob. Idempotent.

        The blob is deleted only once the key row's deletion is committed, so a rolled-back
        transaction can never leave a key without its blob; a blob left behind by a crash is
        unreadable and removed by shredding again.
        """
        object_id = _as_uuid(object_id)
        keystore.delete_wrapped_key(object_id)
        name = _blob_name(object_id)
        transaction.on_commit(lambda: self.store.delete(name))
