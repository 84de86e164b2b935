"""Waiting for a condition and finding a free port: plain helpers for tests and benches alike.

No Django imports, so process-starting helpers outside pytest (bench/soak.py) can use them.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    predicate: Callable[[], object],
    timeout: float = 60.0,
    what: str = "condition",
    *,
    error: type[Exception] = AssertionError,
    interval: float = 0.1,
):
    """Poll a condition until it holds and return its value; raise ``error`` naming ``what``
    if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
