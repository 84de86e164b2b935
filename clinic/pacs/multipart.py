"""Reading a multipart/related body (RFC 2387) part by part, straight from the request stream.

STOW-RS bodies can be large: the body is never read whole, never spooled to a file, and each
part is held in memory only up to a bound (the same as one instance over DICOM).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

READ_PIECE = 64 * 1024
MAX_HEADER_BYTES = 8 * 1024


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class MalformedBody(Exception):
    """The body is not the multipart/related it claims to be (or breaks a bound)."""


@dataclass(frozen=True)
class Part:
    content_type: str
    body: bytes


def boundary_of(content_type: str) -> str | None:
    """The boundary parameter of a multipart/related Content-Type, or None."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/related":
        return None
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary":
            value = value.strip().strip('"')
            return value if 0 < len(value) <= 70 else None
    return None


class _Buffer:
    def __init__(self, stream: Readable, max_total: int) -> None:
        self.stream = stream
        self.data = bytearray()
        self.eof = False
        self.total = 0
        self.max_total = max_total

    def fill(self) -> None:
        piece = self.stream.read(READ_PIECE)
        if not piece:
            self.eof = True
            return
        self.total += len(piece)
        if self.total > self.max_total:
            raise MalformedBody("body too large")
        self.data += piece

    def find(self, needle: bytes, limit: int) -> int:
        """Index of ``needle``, reading more as needed; MalformedBody past ``limit`` or EOF."""
        start = 0
        while True:
            at = self.data.find(needle, start)
            if at > limit or (at < 0 and len(self.data) > limit + len(needle)):
                raise MalformedBody("part too large")
            if at >= 0:
                return at
            if len(self.data) > limit + len(needle):
                raise MalformedBody("part too large")
            if self.eof:
                raise MalformedBody("body ends inside a part")
            start = max(0, len(self.data) - len(needle))
            self.fill()

    def take(self, n: int) -> bytes:
        while len(self.data) < n and not self.eof:
            self.fill()
        out = bytes(self.data[:n])
        del self.data[:n]
        return out


def iter_parts(
    stream: Readable, boundary: str, *, max_part_bytes: int, max_total_bytes: int
) -> Iterator[Part]:
    """Each part in order. Raises MalformedBody for a broken body or a bound exceeded."""
    buffer = _Buffer(stream, max_total_bytes)
    delimiter = b"--" + boundary.encode("ascii", "replace")
    # The preamble before the first delimiter is ignored (RFC 2046 5.1.1).
    at = buffer.find(delimiter, MAX_HEADER_BYTES)
    buffer.take(at + len(delimiter))
    while True:
        tail = buffer.take(2)
        if tail == b"--":
            return
        if tail != b"\r\n":
            raise MalformedBody("no line break after a delimiter")
        end = buffer.find(b"\r\n\r\n", MAX_HEADER_BYTES)
        headers = buffer.take(end + 4).decode("latin-1")
        content_type = ""
        for line in headers.split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-type":
                content_type = value.strip().split(";")[0].strip().lower()
        end = buffer.find(b"\r\n" + delimiter, max_part_bytes)
        body = buffer.take(end)
        buffer.take(2 + len(delimiter))
        yield Part(content_type, body)
