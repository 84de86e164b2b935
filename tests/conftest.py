"""Fixtures shared by the whole suite: keys, accounts, API clients and a real Celery worker.

Only fixtures live here; the helpers they use (and tests import) are in ``tests/support/``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import Role, User
from tests.support.accounts import make_user, with_totp
from tests.support.workers import Worker, flush_broker, worker_env

os.environ.setdefault(
    "DJANGO_ALLOW_ASYNC_UNSAFE", "true"
)  # Playwright's sync API runs an event loop


@pytest.fixture(scope="session", autouse=True)
def local_keys() -> None:
    """Every key the app needs, made once per session in the suite's private data folder."""
    call_command("init_keys", stdout=open(os.devnull, "w"))  # noqa: SIM115


@pytest.fixture
def blob_dir(settings, tmp_path: Path) -> Path:
    """A private blob folder for one test, so it can assert exactly what was stored."""
    path = tmp_path / "blobs"
    settings.VAULT_BLOB_DIR = path
    return path


@pytest.fixture
def patient(db) -> User:
    return make_user("pat@example.org")


@pytest.fixture
def other_patient(db) -> User:
    return make_user("other@example.org")


@pytest.fixture
def patient_client(client, patient):
    client.force_login(patient)
    return client


@pytest.fixture
def celery_worker_process(transactional_db) -> Iterator[Worker]:
    """A worker for one test; the test's data is committed, so the worker sees it."""
    flush_broker()
    worker = Worker(worker_env()).start()
    yield worker
    worker.stop()


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """Rate-limit counters and other cached state never leak from one test into another."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def admin(db, blob_dir) -> User:
    """A clinic admin with TOTP, for the clinic's and the endpoints' pages."""
    return with_totp(make_user("admin@example.org", Role.CLINIC_ADMIN))


@pytest.fixture
def admin_client(admin) -> Client:
    """Its own client, so a test can sign someone else in with ``client`` at the same time."""
    admin_client = Client()
    admin_client.force_login(admin)
    return admin_client
