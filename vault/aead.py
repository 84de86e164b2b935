"""The sealed blob format: streaming AEAD in the manner of Tink's AES-GCM-HKDF streaming.

No Django imports here; this module only turns plaintext into a sealed byte stream and back.

Layout of a blob::

    header (64 bytes, all big-endian):
        magic b"SGWV" | version 1 (1 byte) | segment size (4 bytes, plaintext bytes per segment)
        | HKDF salt (32 bytes) | nonce prefix (7 bytes) | object id (16 bytes)
    segment 0 .. n-1: AES-256-GCM ciphertext || 16-byte tag

Every segment but the last holds exactly ``segment size`` plaintext bytes; the last holds 1 to
``segment size`` bytes (0 only when the whole object is empty, which still has one segment).
The segment key is HKDF-SHA256(data key, salt, label || object id), fresh per object. Segment
``i``'s nonce is prefix || i (4 bytes) || last flag (1 byte), and the whole header is the
associated data of every segment. So a flipped byte, reordered or swapped segments, a blob moved
to another id, a wrong key and truncation (the last segment must carry the last flag, and the
blob size must be consistent with the segment size) all fail authentication.
"""

from __future__ import annotations

import io
import secrets
import struct
import uuid
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.errors import TamperedError, VaultError
from vault.storage import seek_target

MAGIC = b"SGWV"
VERSION = 1
TAG_SIZE = 16
SALT_SIZE = 32
NONCE_PREFIX_SIZE = 7
MIN_SEGMENT_SIZE = 256
MAX_SEGMENT_SIZE = 64 * 1024 * 1024
MAX_SEGMENTS = 2**32  # the segment counter in the nonce is 4 bytes
_HEADER = struct.Struct(f">4sBI{SALT_SIZE}s{NONCE_PREFIX_SIZE}s16s")
HEADER_SIZE = _HEADER.size
_COUNTER = struct.Struct(">IB")
_SEGMENT_KEY_LABEL = b"scan-gateway/vault/v1 segment key"

BytesLike = bytes | bytearray | memoryview


class Writable(Protocol):
    def write(self, data: BytesLike, /) -> object: ...


def check_segment_size(segment_size: int) -> int:
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise VaultError(
            f"segment size must be between {MIN_SEGMENT_SIZE} and {MAX_SEGMENT_SIZE} bytes"
        )
    return segment_size


@dataclass(frozen=True)
class Header:
    segment_size: int
    salt: bytes
    nonce_prefix: bytes
    object_id: uuid.UUID

    @classmethod
    def new(cls, object_id: uuid.UUID, segment_size: int) -> Header:
        return cls(
            check_segment_size(segment_size),
            secrets.token_bytes(SALT_SIZE),
            secrets.token_bytes(NONCE_PREFIX_SIZE),
            object_id,
        )

    def encode(self) -> bytes:
        return _HEADER.pack(
            MAGIC, VERSION, self.segment_size, self.salt, self.nonce_prefix, self.object_id.bytes
        )

    @classmethod
    def parse(cls, raw: bytes, expected_object_id: uuid.UUID) -> Header:
        """Read a header, checking what can be checked before any segment is authenticated."""
        if len(raw) < HEADER_SIZE:
            raise TamperedError(f"object {expected_object_id}: blob is shorter than its header")
        magic, version, segment_size, salt, prefix, oid = _HEADER.unpack(raw[:HEADER_SIZE])
        if magic != MAGIC or version != VERSION:
            raise TamperedError(
                f"object {expected_object_id}: not a vault blob of a known version (bad header)"
            )
        if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
            raise TamperedError(
                f"object {expected_object_id}: header has an impossible segment size"
            )
        if oid != expected_object_id.bytes:
            raise TamperedError(
                f"object {expected_object_id}: the blob stored under this id belongs to another "
                "object"
            )
        return cls(segment_size, salt, prefix, expected_object_id)


def blob_layout(blob_size: int, segment_size: int) -> tuple[int, int]:
    """Return ``(plaintext size, segment count)`` of a blob, or raise TamperedError if no blob
    this format writes could have ``blob_size`` bytes (cut inside a tag, or padded)."""
    body = blob_size - HEADER_SIZE
    sealed_segment = segment_size + TAG_SIZE
    count = max(1, -(-body // sealed_segment))
    last = body - (count - 1) * sealed_segment
    # An empty last segment only exists for an empty object; anything else was cut or padded.
    if last < TAG_SIZE or (last == TAG_SIZE and count > 1):
        raise TamperedError("blob size does not match its segment layout: truncated or padded")
    return body - count * TAG_SIZE, count


class SegmentCipher:
    """Seals and opens single segments of one object, under its derived segment key."""

    def __init__(self, data_key: bytes, header: Header) -> None:
        segment_key = HKDF(
            algorithm=SHA256(),
            length=32,
            salt=header.salt,
            info=_SEGMENT_KEY_LABEL + header.object_id.bytes,
        ).derive(data_key)
        self._aead = AESGCM(segment_key)
        self._aad = header.encode()
        self._prefix = header.nonce_prefix
        self.object_id = header.object_id

    def _nonce(self, index: int, last: bool) -> bytes:
        return self._prefix + _COUNTER.pack(index, last)

    def seal_into(self, index: int, last: bool, plaintext: memoryview, out: memoryview) -> None:
        """Encrypt ``plaintext`` into ``out``, which must be exactly ``len(plaintext) + 16``."""
        self._aead.encrypt_into(self._nonce(index, last), plaintext, self._aad, out)

    def open_into(self, index: int, last: bool, sealed: memoryview, out: memoryview) -> None:
        """Decrypt and authenticate one segment into ``out`` (``len(sealed) - 16`` bytes).

        Raises TamperedError if it fails; ``out`` is then wiped, so unauthenticated plaintext never
        survives in a buffer the caller can see.
        """
        try:
            self._aead.decrypt_into(self._nonce(index, last), sealed, self._aad, out)
        except InvalidTag:
            out[:] = bytes(len(out))
            what = "last segment" if last else f"segment {index}"
            raise TamperedError(
                f"object {self.object_id}: {what} failed authentication "
                "(altered, truncated, reordered, from another object, or the wrong key)"
            ) from None


class EncryptingWriter:
    """Seals a plaintext stream written in chunks of any size, holding at most one segment.

    The sink receives the header, then each sealed segment, and must consume every buffer it is
    given before returning (the buffer is reused). A full segment is only sealed once more data
    arrives, because until then it might be the last one.
    """

    def __init__(
        self, sink: Writable, data_key: bytes, object_id: uuid.UUID, segment_size: int
    ) -> None:
        header = Header.new(object_id, segment_size)
        self._sink = sink
        self._cipher = SegmentCipher(data_key, header)
        self._segment_size = segment_size
        self._buffer = bytearray(segment_size)
        self._buffer_view = memoryview(self._buffer)
        self._out_view = memoryview(bytearray(segment_size + TAG_SIZE))
        self._filled = 0
        self._index = 0
        self._finished = False
        self.size = 0
        sink.write(header.encode())

    def _seal(self, plaintext: memoryview, last: bool) -> None:
        if self._index >= MAX_SEGMENTS:
            raise VaultError("object is too large for this segment size")
        out = self._out_view[: len(plaintext) + TAG_SIZE]
        self._cipher.seal_into(self._index, last, plaintext, out)
        self._sink.write(out)
        self._index += 1

    def write(self, data: BytesLike) -> int:
        if self._finished:
            raise VaultError("write after the object was finished")
        view = memoryview(data).cast("B")
        total, pos, size = len(view), 0, self._segment_size
        while pos < total:
            if self._filled == size:
                self._seal(self._buffer_view, last=False)
                self._filled = 0
            if self._filled == 0 and total - pos > size:
                # A whole segment with more data behind it: seal straight from the caller's buffer.
                self._seal(view[pos : pos + size], last=False)
                pos += size
                continue
            take = min(size - self._filled, total - pos)
            self._buffer_view[self._filled : self._filled + take] = view[pos : pos + take]
            self._filled += take
            pos += take
        self.size += total
        return total

    def finish(self) -> int:
        """Seal what is buffered as the last segment; returns the plaintext size."""
        if not self._finished:
            self._seal(self._buffer_view[: self._filled], last=True)
            self._finished = True
        return self.size


class DecryptingReader(io.RawIOBase):
    """A seekable, read-only file object over a sealed blob, decrypting segments on demand.

    Opening authenticates the header and the last segment, which proves the plaintext size (a
    truncated blob fails here). Each read authenticates every segment it touches before copying
    anything out, and raises TamperedError instead of returning unauthenticated bytes. A caller
    that streams a whole object must still discard what it got if a later read raises.
    """

    def __init__(self, source: BinaryIO, data_key: bytes, object_id: uuid.UUID) -> None:
        super().__init__()
        self._source = source
        try:
            blob_size = source.seek(0, io.SEEK_END)
            source.seek(0)
            header = Header.parse(source.read(HEADER_SIZE), object_id)
            self.size, self._count = blob_layout(blob_size, header.segment_size)
            self.segment_size = header.segment_size
            self._cipher = SegmentCipher(data_key, header)
            self._sealed_view = memoryview(bytearray(header.segment_size + TAG_SIZE))
            self._plain_view = memoryview(bytearray(header.segment_size))
            self._cached = -1
            self._source_pos = -1
            self._pos = 0
            self._load(self._count - 1)
        except BaseException:
            source.close()
            raise

    def _plain_length(self, index: int) -> int:
        if index < self._count - 1:
            return self.segment_size
        return self.size - (self._count - 1) * self.segment_size

    def _decrypt(self, index: int, out: memoryview) -> None:
        plain_length = len(out)
        sealed = self._sealed_view[: plain_length + TAG_SIZE]
        offset = HEADER_SIZE + index * (self.segment_size + TAG_SIZE)
        if self._source_pos != offset:
            self._source.seek(offset)
        self._source_pos = -1
        got = 0
        while got < len(sealed):
            # Blob stores hand out raw files (io.FileIO, or the S3 reader), which have readinto.
            n = self._source.readinto(sealed[got:])  # type: ignore[attr-defined]
            if not n:
                raise TamperedError(f"object {self._cipher.object_id}: blob ended early")
            got += n
        self._source_pos = offset + got
        self._cipher.open_into(index, index == self._count - 1, sealed, out)

    def _load(self, index: int) -> None:
        if self._cached != index:
            self._cached = -1
            self._decrypt(index, self._plain_view[: self._plain_length(index)])
            self._cached = index

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        self._pos = seek_target(self._pos, self.size, offset, whence)
        return self._pos

    def readinto(self, buffer: Any) -> int:  # any writable buffer, as io.RawIOBase takes
        """Fill ``buffer`` as far as the object allows (short only at the end of the object)."""
        self._check_open()
        dest = memoryview(buffer).cast("B")
        done, wanted = 0, len(dest)
        while done < wanted and self._pos < self.size:
            index, within = divmod(self._pos, self.segment_size)
            plain_length = self._plain_length(index)
            take = min(plain_length - within, wanted - done)
            if take == plain_length and index != self._cached:
                # Whole segment wanted: decrypt straight into the caller's buffer, no extra copy.
                self._decrypt(index, dest[done : done + take])
            else:
                self._load(index)
                dest[done : done + take] = self._plain_view[within : within + take]
            done += take
            self._pos += take
        return done

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        buffer = bytearray(max(0, min(size, self.size - self._pos)))
        self.readinto(buffer)
        return bytes(buffer)

    def readall(self) -> bytes:
        return self.read(max(0, self.size - self._pos))

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed vault reader")
