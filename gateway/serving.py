"""gunicorn's worker for the web process: gevent, with a cap on connections per client address.

A thread per connection (gthread) let 24 clients that send a header and never finish the body
take every thread, so ``/healthz`` and every page timed out. A gevent worker holds an idle or
slow connection as a greenlet waiting on its socket, which costs a few kilobytes and no thread,
so thousands can wait while other requests are served. Two limits keep one client from taking
the rest:

* ``SERVER_MAX_CONNECTIONS_PER_IP``: connections one address may hold open in one worker; the
  next is answered 503 and closed. Behind a proxy every connection comes from the proxy, so the
  proxy enforces it instead (README: ``limit_conn``) and this is 0 (off).
* ``WEB_READ_TIMEOUT``: seconds a connection may stay silent (no byte of header or body) before
  it is closed, so a client that stops sending frees its slot.

Uploads still stream: Django reads the body from the socket chunk by chunk into the vault's
encrypting handler; nothing here buffers a body.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from typing import Any

from gunicorn.workers.base_async import AsyncWorker
from gunicorn.workers.ggevent import GeventWorker

REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Retry-After: 5\r\n"
    b"Connection: close\r\n"
    b"Content-Length: 47\r\n\r\n"
    b"Too many open connections from your address.\r\n"
)


def max_connections_per_ip() -> int:
    return int(os.environ.get("SERVER_MAX_CONNECTIONS_PER_IP", "50"))


def read_timeout() -> float:
    return float(os.environ.get("WEB_READ_TIMEOUT", "30"))


class CappedGeventWorker(GeventWorker):
    """gunicorn's gevent worker, refusing connections past the per-address cap."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_by_address: Counter[str] = Counter()
        self.cap = max_connections_per_ip()
        self.idle_timeout = read_timeout()

    def handle(self, listener: Any, client: socket.socket, addr: Any) -> None:
        address = addr[0] if isinstance(addr, tuple) else str(addr)
        if self.cap and self.open_by_address[address] >= self.cap:
            try:
                client.sendall(REFUSAL)
            except OSError:
                pass
            finally:
                client.close()
            return
        self.open_by_address[address] += 1
        try:
            # A timeout on the socket itself: every read (header or body) and every write must
            # make progress within it, or the connection is closed.
            client.settimeout(self.idle_timeout)
            AsyncWorker.handle(self, listener, client, addr)
        finally:
            self.open_by_address[address] -= 1
            if self.open_by_address[address] <= 0:
                del self.open_by_address[address]
