"""Where sealed blobs live: one small interface, and the local-disk implementation of it.

Blobs are opaque ciphertext named by the object id's hex. Nothing outside this module knows
whether they sit on a local disk or in an object store; an S3-compatible store only has to
implement ``BlobStore`` (raising FileNotFoundError for a missing blob, and returning a seekable
reader from ``open_read``).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from vault.errors import VaultError

BytesLike = bytes | bytearray | memoryview
PARTIAL_SUFFIX = ".partial"
_NAME = re.compile(r"[0-9a-f]{32}")


class BlobWriter(Protocol):
    def write(self, data: BytesLike, /) -> int:
        """Append ``data``; must be done with the buffer before returning (callers reuse it)."""
        ...

    def commit(self) -> None:
        """Make the blob durable and visible under its name, replacing any blob of that name."""
        ...

    def abort(self) -> None:
        """Discard everything written; afterwards no trace of this write remains."""
        ...


class BlobStore(Protocol):
    def open_write(self, name: str) -> BlobWriter: ...

    def open_read(self, name: str) -> BinaryIO:
        """A seekable binary reader; raises FileNotFoundError if there is no such blob."""
        ...

    def size(self, name: str) -> int: ...

    def delete(self, name: str) -> bool:
        """Remove the blob; returns False if it was not there (deleting twice is not an error)."""
        ...

    def exists(self, name: str) -> bool: ...

    def names(self) -> Iterator[str]:
        """Names of all committed blobs (never partial writes)."""
        ...


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _LocalBlobWriter:
    def __init__(self, final: Path) -> None:
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._final = final
        self._partial = final.with_name(f"{final.name}.{secrets.token_hex(8)}{PARTIAL_SUFFIX}")
        fd = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._done = False

    def write(self, data: BytesLike, /) -> int:
        view = memoryview(data)
        written = 0
        while written < len(view):
            written += self._file.write(view[written:])
        return written

    def commit(self) -> None:
        if self._done:
            raise VaultError("blob write already finished")
        try:
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._partial, self._final)
            _fsync_dir(self._final.parent)
        except BaseException:
            self.abort()
            raise
        self._done = True

    def abort(self) -> None:
        self._done = True
        self._file.close()
        self._partial.unlink(missing_ok=True)


class LocalBlobStore:
    """Blobs as files under ``root``, fanned out into subfolders by the first two hex digits.

    Files are mode 0600 in 0700 folders. A write goes to a ``.partial`` file in the same folder
    and is fsynced, then renamed into place, so a crash leaves either nothing or a stale partial
    (see ``remove_stale_partials``), never a half-written blob under a real name.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def _path(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise VaultError("blob names are 32 lowercase hex digits")
        return self.root / name[:2] / name

    def open_write(self, name: str) -> BlobWriter:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return _LocalBlobWriter(self._path(name))

    def open_read(self, name: str) -> BinaryIO:
        return open(self._path(name), "rb")

    def size(self, name: str) -> int:
        return self._path(name).stat().st_size

    def delete(self, name: str) -> bool:
        path = self._path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def names(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir():
                continue
            for entry in sorted(folder.iterdir()):
                if _NAME.fullmatch(entry.name) and entry.name.startswith(folder.name):
                    yield entry.name

    def remove_stale_partials(self, older_than_seconds: float) -> int:
        """Delete partial writes left by crashed processes; returns how many were removed.

        Only partials untouched for ``older_than_seconds`` are removed, so writes in progress in
        other processes are left alone if the threshold is longer than any write takes.
        """
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for partial in self.root.glob(f"*/*{PARTIAL_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                if partial.stat().st_mtime < cutoff:
                    partial.unlink()
                    removed += 1
        return removed


def seek_target(position: int, size: int, offset: int, whence: int) -> int:
    """Where a seek lands, for the vault's read-only file objects (past the end is allowed)."""
    if whence == io.SEEK_SET:
        target = offset
    elif whence == io.SEEK_CUR:
        target = position + offset
    elif whence == io.SEEK_END:
        target = size + offset
    else:
        raise ValueError(f"invalid whence {whence}")
    if target < 0:
        raise ValueError("negative seek position")
    return target
