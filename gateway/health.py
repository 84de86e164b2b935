"""Liveness of the processes that have no web page: Celery workers and beat.

Each touches a heartbeat file from its own main loop (a worker from its consumer's timer, beat
at every scheduler tick), so the file goes stale exactly when the loop stops turning: a hung
worker, a lost broker connection, a beat that no longer schedules. The metrics server answers
``/healthz`` from it (``gateway.metrics``), and compose's health checks call that with
``python -m gateway.health URL``. The web process has its own ``/healthz`` on the app port.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from celery import bootsteps
from celery.beat import PersistentScheduler

HEARTBEAT_FILE = Path(os.environ.get("GATEWAY_HEARTBEAT_FILE", "/tmp/gateway-heartbeat"))  # noqa: S108
# A worker's timer touches the file this often; beat touches it at every tick.
WORKER_HEARTBEAT_SECONDS = 10.0
# Stale after this long. Beat ticks at least as often as its most frequent job (one minute by
# default: the heartbeats and the sweeper), so three minutes means three missed ticks.
STALE_AFTER_SECONDS = float(os.environ.get("GATEWAY_HEARTBEAT_STALE_SECONDS", "180"))


def touch_heartbeat(path: Path = HEARTBEAT_FILE) -> None:
    path.touch()


def heartbeat_age(path: Path = HEARTBEAT_FILE, now: float | None = None) -> float | None:
    """Seconds since the last heartbeat, or None if there never was one."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return (time.time() if now is None else now) - mtime


def is_alive(path: Path = HEARTBEAT_FILE, stale_after: float = STALE_AFTER_SECONDS) -> bool:
    age = heartbeat_age(path)
    return age is not None and age <= stale_after


class WorkerHeartbeat(bootsteps.StartStopStep):
    """A consumer step: it runs only while the worker is connected and consuming, and is
    restarted with the consumer after a broker outage."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref = None

    def start(self, parent: Any) -> None:
        touch_heartbeat()
        self.tref = parent.timer.call_repeatedly(WORKER_HEARTBEAT_SECONDS, touch_heartbeat)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None


class HeartbeatScheduler(PersistentScheduler):
    """Celery beat's usual scheduler, touching the heartbeat at every tick
    (``celery beat --scheduler gateway.health:HeartbeatScheduler``)."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        touch_heartbeat()
        return super().tick(*args, **kwargs)


def probe(url: str, host: str = "", timeout: float = 5.0) -> bool:
    """True if ``url`` answers 200; for health checks inside the container. ``host`` is sent
    as the Host header (Django answers only for ALLOWED_HOSTS)."""
    if not url.startswith("http://"):
        raise ValueError("health checks probe plain http on the container's own ports")
    request = urllib.request.Request(url, headers={"Host": host} if host else {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (local)
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


if __name__ == "__main__":
    # python -m gateway.health URL  -> exit 0 when healthy (compose health checks); the Host
    # header is the first of ALLOWED_HOSTS, as a request through the proxy would carry.
    allowed = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    sys.exit(0 if probe(sys.argv[1], host=allowed[0].lstrip(".") if allowed else "") else 1)
