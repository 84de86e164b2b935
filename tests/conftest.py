"""Fixtures shared by the whole suite: keys, accounts, API clients and a real Celery worker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from accounts.models import Role, User
from tests.waiting import wait_until

__all__ = ["wait_until"]  # re-exported: many tests import it from here

PASSWORD = "correct horse battery staple 42"
ROOT = Path(__file__).resolve().parent.parent

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


def make_user(email: str, role: str = Role.PATIENT, password: str = PASSWORD) -> User:
    from allauth.account.models import EmailAddress

    from accounts.roles import assign_role

    user = User.objects.create_user(email, password)
    assign_role(user, role)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


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


def bearer(user: User) -> dict[str, str]:
    from accounts.tokens import issue_token

    return {"Authorization": f"Bearer {issue_token(user, 'tests')}"}


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a worker process that shares this test session's database and data."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DATA_DIR": str(settings.DATA_DIR),
        "VAULT_BLOB_DIR": str(settings.VAULT_BLOB_DIR),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PYTHONPATH": str(ROOT),
        **(extra or {}),
    }
    return env


def flush_broker() -> None:
    import redis

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


class Worker:
    """A real ``celery worker`` process on the real Redis broker."""

    def __init__(self, env: dict[str, str], queues: str = "deid,send,default") -> None:
        self.env = env
        self.queues = queues
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        celery = shutil.which("celery", path=str(Path(sys.executable).parent))
        self.process = subprocess.Popen(
            [
                celery,
                "-A",
                "gateway",
                "worker",
                "--pool=solo",
                "--queues",
                self.queues,
                "--loglevel",
                "INFO",
                "--without-mingle",
                "--without-gossip",
                "--hostname",
                f"test-{os.getpid()}-{time.monotonic_ns()}@localhost",
            ],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


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
