"""A real Celery worker process for tests, on the real Redis broker and the test database."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


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

    def __init__(
        self,
        env: dict[str, str],
        queues: str = "deid,send,default",
        output: Path | None = None,
        loglevel: str = "INFO",
    ) -> None:
        """``output``, when given, receives everything the worker writes (stdout and stderr)."""
        self.env = env
        self.loglevel = loglevel
        self.queues = queues
        self.output = output
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        celery = shutil.which("celery", path=str(Path(sys.executable).parent))
        with contextlib.ExitStack() as stack:
            sink = (
                stack.enter_context(self.output.open("ab"))
                if self.output is not None
                else subprocess.DEVNULL
            )
            self.process = self._spawn(celery, sink)
        return self

    def _spawn(self, celery: str | None, sink: Any) -> subprocess.Popen:
        return subprocess.Popen(
            [
                celery,
                "-A",
                "gateway",
                "worker",
                "--pool=solo",
                "--queues",
                self.queues,
                "--loglevel",
                self.loglevel,
                "--without-mingle",
                "--without-gossip",
                "--hostname",
                f"test-{os.getpid()}-{time.monotonic_ns()}@localhost",
            ],
            env=self.env,
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT if self.output is not None else subprocess.DEVNULL,
            start_new_session=True,
        )

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
