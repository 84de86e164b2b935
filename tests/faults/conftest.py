"""Fixtures for fault tests: private servers to break, and a blob folder that runs out of space.

The shared PostgreSQL and Redis serve every other test run on this machine; nothing here touches
them. A fixture that cannot set up its fault fails the test with the reason: a fault test that
silently skips proves nothing. The one exception is a fault only root can cause (mounting the
tmpfs of a full disk): without root it is skipped, saying so.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.services import GatewayStack, PrivateRedis, ServiceError, tmpfs

# A scan id no row has: a probe message that any worker will find nothing to do for.
PROBE_SCAN_ID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    try:
        server = PrivateRedis(tmp_path / "redis").start()
    except ServiceError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


def point_producer_at(url: str) -> None:
    """Make this process's Celery producer publish to ``url`` from the next message on.

    Celery reads the CELERY_BROKER_URL environment variable before its configuration (and the
    test settings set that variable), so both change. The app also caches a connection pool and
    a producer pool built from the URL it had when first used; both are dropped.
    """
    from kombu import pools

    from gateway.celery import app

    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None
    # kombu also keeps process-wide pools keyed by URL; a restored URL must not find a closed one.
    pools.reset()


@pytest.fixture
def app_broker(private_redis: PrivateRedis, settings) -> Iterator[PrivateRedis]:
    """The app (this process and the workers the test starts) uses the private Redis.

    Checked before the test starts: a probe message must land in the private server's queue.
    """
    from gateway.celery import app
    from scans.tasks import process_scan

    previous = os.environ.get("CELERY_BROKER_URL") or app.conf.broker_url
    settings.CELERY_BROKER_URL = private_redis.url(0)
    point_producer_at(private_redis.url(0))
    process_scan.delay(PROBE_SCAN_ID)
    if private_redis.queue_length("deid") != 1:
        pytest.fail("the in-process producer did not publish to the private Redis")
    import redis

    redis.Redis.from_url(private_redis.url(0)).flushdb()
    yield private_redis
    point_producer_at(previous)


@pytest.fixture
def full_blob_dir(settings, tmp_path: Path) -> Iterator[Path]:
    """VAULT_BLOB_DIR on a 2 MiB tmpfs: writing more fails with a real ENOSPC."""
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a tmpfs, and only root can mount one (run as root)")
    try:
        with tmpfs(tmp_path / "tiny-blobs", "2m") as path:
            settings.VAULT_BLOB_DIR = path
            yield path
    except ServiceError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def start_stack(tmp_path: Path) -> Iterator[Callable[..., GatewayStack]]:
    """Starts the production shape on loopback: a private PostgreSQL (migrated) and Redis, with
    the app's own settings plus ``extra_env``; the test starts gunicorn and workers on it."""
    stacks: list[GatewayStack] = []

    def start(extra_env: dict[str, str] | None = None) -> GatewayStack:
        stack = GatewayStack(tmp_path / f"stack{len(stacks)}", extra_env=extra_env)
        stacks.append(stack)
        try:
            return stack.start_services()
        except ServiceError as exc:
            pytest.fail(str(exc))

    yield start
    for stack in stacks:
        with contextlib.suppress(ServiceError):
            stack.stop()
