"""Sealed blobs in an S3-compatible object store (AWS S3, MinIO, SeaweedFS, Ceph RGW).

No Django imports here. The store only ever sees what the vault hands it, and the vault seals
before it writes, so only ciphertext leaves this node; nothing here encrypts or decrypts.

Client: boto3/botocore. The vault pushes bytes into a ``BlobWriter``, and botocore exposes the
multipart calls that a push-style writer needs (CreateMultipartUpload, UploadPart,
CompleteMultipartUpload, AbortMultipartUpload) as public, documented operations, so this module
controls part buffering and abort exactly. The lighter ``minio`` client only offers a pull-style
``put_object(stream)`` publicly; its multipart primitives are private methods.

Writes are buffered into parts of ``part_size`` bytes (S3's minimum is 5 MiB for every part but
the last), so memory stays at one part per writer. A blob smaller than one part is sent with a
single PUT at commit. Nothing is visible under the blob's key until commit: a multipart upload
only becomes an object on CompleteMultipartUpload, and abort calls AbortMultipartUpload so no
parts linger. (A process that dies mid-upload leaves an incomplete upload that is invisible to
readers but costs space: give the bucket a lifecycle rule that aborts incomplete multipart
uploads after a day.)

Reads are ranged GETs through a small read-ahead window, so the vault's reader can seek to any
segment (it authenticates the last segment first) without downloading the whole blob.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from vault.errors import VaultError
from vault.storage import BlobWriter, BytesLike, seek_target

MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024
DEFAULT_READ_AHEAD = 2 * 1024 * 1024
_NAME = re.compile(r"[0-9a-f]{32}")
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class S3Config:
    """Where the blobs live. Without keys, boto3's credential chain (instance role, env) applies."""

    bucket: str
    endpoint_url: str | None = None
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    region: str = "us-east-1"
    prefix: str = "blobs/"
    verify_tls: bool = True


@functools.lru_cache(maxsize=8)
def make_client(
    endpoint_url: str | None,
    access_key: str | None,
    secret_key: str | None,
    region: str = "us-east-1",
    verify_tls: bool = True,
) -> Any:
    """A botocore S3 client for AWS or any S3-compatible endpoint.

    Without keys, boto3's usual credential chain applies (instance role, environment). A custom
    endpoint gets path-style addressing, which every S3-compatible server supports; checksums are
    only sent where S3 requires them, because older MinIO and Ceph releases reject the newer
    default trailing checksums. Clients are cached per configuration: building one loads
    botocore's service model (a noticeable fraction of a second), and clients are thread-safe.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=10,
        read_timeout=120,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url or None,
        aws_access_key_id=access_key or None,
        aws_secret_access_key=secret_key or None,
        region_name=region or "us-east-1",
        verify=verify_tls,
        config=config,
    )


def is_missing(error: Exception) -> bool:
    """True for a botocore ClientError that means "no such object"."""
    response = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in _MISSING_CODES or status == 404


class _S3BlobWriter:
    """One blob being uploaded: at most one part buffered, invisible until ``commit``."""

    def __init__(self, client: Any, bucket: str, key: str, part_size: int) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._part = bytearray(part_size)
        self._view = memoryview(self._part)
        self._filled = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, object]] = []
        self._done = False

    def write(self, data: BytesLike, /) -> int:
        if self._done:
            raise VaultError("blob write already finished")
        view = memoryview(data).cast("B")
        pos, total, size = 0, len(view), len(self._part)
        try:
            while pos < total:
                take = min(size - self._filled, total - pos)
                self._view[self._filled : self._filled + take] = view[pos : pos + take]
                self._filled += take
                pos += take
                if self._filled == size:
                    self._upload_part()
        except BaseException:
            self.abort()
            raise
        return total

    def _upload_part(self) -> None:
        if self._upload_id is None:
            created = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, ContentType="application/octet-stream"
            )
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        # The request is complete when this returns, so the buffer can be refilled afterwards.
        sent = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=self._view[: self._filled].tobytes()
            if self._filled < len(self._part)
            else self._part,
        )
        self._parts.append({"PartNumber": number, "ETag": sent["ETag"]})
        self._filled = 0

    def commit(self) -> None:
        if self._done:
            raise VaultError("blob write already finished")
        try:
            if self._upload_id is None:
                self._client.put_object(
                    Bucket=self._bucket,
                    Key=self._key,
                    Body=self._view[: self._filled].tobytes(),
                    ContentType="application/octet-stream",
                )
            else:
                if self._filled:
                    self._upload_part()  # the last part may be shorter than the minimum
                self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._release()

    def abort(self) -> None:
        """Drop the buffered part and abort the multipart upload, if one was started.

        An abort that fails (the store is unreachable) is not raised over the error that caused
        it; the incomplete upload is invisible and the bucket's lifecycle rule removes it.
        """
        if self._done:
            return
        self._done = True
        self._release()
        if self._upload_id is not None:
            with contextlib.suppress(Exception):  # see the docstring
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                )

    def _release(self) -> None:
        self._view.release()
        self._part = bytearray()


class S3BlobReader(io.RawIOBase):
    """A seekable reader over one object, fetching byte ranges on demand.

    Reads smaller than the read-ahead window are served from a window of that size fetched with
    one ranged GET; larger reads go straight to the store. The size comes from HEAD at open.
    """

    def __init__(self, client: Any, bucket: str, key: str, read_ahead: int) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._key = key
        self._read_ahead = read_ahead
        self.size = _head(client, bucket, key)["ContentLength"]
        self._pos = 0
        self._window = b""
        self._window_start = 0

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

    def _get(self, start: int, length: int) -> bytes:
        """Bytes ``[start, start + length)``; shorter only if the object shrank meanwhile."""
        response = self._client.get_object(
            Bucket=self._bucket, Key=self._key, Range=f"bytes={start}-{start + length - 1}"
        )
        with response["Body"] as body:
            return body.read()

    def readinto(self, buffer: Any) -> int:  # any writable buffer, as io.RawIOBase takes
        self._check_open()
        dest = memoryview(buffer).cast("B")
        wanted = min(len(dest), self.size - self._pos)
        if wanted <= 0:
            return 0
        offset = self._pos - self._window_start
        if not 0 <= offset < len(self._window):
            if wanted >= self._read_ahead:
                data = self._get(self._pos, wanted)
                dest[: len(data)] = data
                self._pos += len(data)
                return len(data)
            self._window = b""  # drop the old window first: never hold two
            self._window_start = self._pos
            self._window = self._get(self._pos, min(self._read_ahead, self.size - self._pos))
            offset = 0
        take = min(wanted, len(self._window) - offset)
        dest[:take] = self._window[offset : offset + take]
        self._pos += take
        return take

    def readall(self) -> bytes:
        self._check_open()
        if self._pos >= self.size:
            return b""
        data = self._get(self._pos, self.size - self._pos)
        self._pos += len(data)
        return data

    def close(self) -> None:
        self._window = b""
        super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed S3 blob reader")


def _head(client: Any, bucket: str, key: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        return client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_missing(error):
            raise FileNotFoundError(f"no blob {key} in bucket {bucket}") from None
        raise


class S3BlobStore:
    """Blobs as objects ``<prefix><name>`` in one bucket; implements ``BlobStore``."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "blobs/",
        part_size: int = DEFAULT_PART_SIZE,
        read_ahead: int = DEFAULT_READ_AHEAD,
    ) -> None:
        if not bucket:
            raise VaultError("the S3 blob store needs a bucket name")
        if part_size < MIN_PART_SIZE:
            raise VaultError(f"S3 parts must be at least {MIN_PART_SIZE} bytes")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.part_size = part_size
        self.read_ahead = read_ahead

    @classmethod
    def from_config(cls, config: S3Config) -> S3BlobStore:
        client = make_client(
            config.endpoint_url,
            config.access_key,
            config.secret_key,
            config.region,
            config.verify_tls,
        )
        return cls(client, config.bucket, config.prefix)

    def __repr__(self) -> str:
        endpoint = getattr(getattr(self.client, "meta", None), "endpoint_url", "?")
        return f"S3BlobStore({endpoint!r}, bucket={self.bucket!r}, prefix={self.prefix!r})"

    def key(self, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise VaultError("blob names are 32 lowercase hex digits")
        return self.prefix + name

    def open_write(self, name: str) -> BlobWriter:
        return _S3BlobWriter(self.client, self.bucket, self.key(name), self.part_size)

    def open_read(self, name: str) -> BinaryIO:
        reader = S3BlobReader(self.client, self.bucket, self.key(name), self.read_ahead)
        return cast(BinaryIO, reader)

    def size(self, name: str) -> int:
        return int(_head(self.client, self.bucket, self.key(name))["ContentLength"])

    def exists(self, name: str) -> bool:
        try:
            _head(self.client, self.bucket, self.key(name))
        except FileNotFoundError:
            return False
        return True

    def delete(self, name: str) -> bool:
        # DeleteObject succeeds for a missing key too, so ask first to honour the return value.
        if not self.exists(name):
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self.key(name))
        return True

    def names(self) -> Iterator[str]:
        """Committed blobs under the prefix, in name order (S3 lists keys sorted)."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", ()):
                name = item["Key"][len(self.prefix) :]
                if _NAME.fullmatch(name):
                    yield name
