"""Private PostgreSQL, Redis and gateway processes for fault and load runs.

The shared servers other runs depend on (PostgreSQL on 5432, Redis on 6379) are never stopped or
restarted; a test that needs a server to fail starts its own on a free loopback port, breaks that
one, and removes it afterwards. Used by ``tests/faults/`` and by ``bench/soak.py``.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.support.waiting import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent


class ServiceError(RuntimeError):
    """A private server or gateway process could not be started: the run cannot go on."""


def poll(predicate: Callable[[], object], timeout: float, what: str) -> object:
    """Poll until ``predicate`` holds; raise ServiceError naming ``what`` if it never does."""
    return wait_until(predicate, timeout, what, error=ServiceError, interval=0.05)


def _accepts_connections(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def _postgres_bindir() -> Path:
    """PostgreSQL's server binaries: $PG_BINDIR, else the newest /usr/lib/postgresql/*/bin."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )[::-1]
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise ServiceError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql or set PG_BINDIR"
    )


class PrivateRedis:
    """A throwaway ``redis-server`` on a free loopback port, nothing persisted."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> PrivateRedis:
        server = shutil.which("redis-server")
        if server is None:
            raise ServiceError("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(self.workdir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        poll(self.answers, 30, f"the private Redis on port {self.port}")
        return self

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def queue_length(self, queue: str, db: int = 0) -> int:
        import redis

        return int(redis.Redis(port=self.port, db=db).llen(queue))


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free loopback port (trust auth, user ``postgres``).

    initdb refuses to run as root; as root the cluster belongs to the ``postgres`` system user.
    """

    def __init__(self) -> None:
        # Its own folder in the system temp dir: pytest's folders are closed to other users.
        self.workdir = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
        self.data = self.workdir / "data"
        self.port = free_port()
        self.bindir = _postgres_bindir()
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            self._as_owner = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.workdir, "postgres")

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [*self._as_owner, *args], capture_output=True, text=True, cwd=self.workdir
        )
        if result.returncode != 0:
            raise ServiceError(f"{Path(args[0]).name} failed: {result.stderr or result.stdout}")

    def _pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.workdir / "pg.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            *args,
        )

    def start(self) -> PrivatePostgres:
        if not self.data.exists():
            self._run(
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            )
        self._pg_ctl("start")
        return self

    def restart(self) -> None:
        """Fast restart: every open connection is cut, the server comes back on the same port."""
        self._pg_ctl("-m", "fast", "restart")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("-m", "fast", "stop")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def query(self, dbname: str, sql: str, params: tuple = ()) -> list[tuple]:
        """Run one statement on a fresh connection; rows for a SELECT, else an empty list."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def cleanup(self) -> None:
        with contextlib.suppress(ServiceError):
            self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class GatewayStack:
    """The production shape on loopback: the app's own settings, a private PostgreSQL and Redis,
    gunicorn and Celery worker processes, all sharing one data folder under ``workdir``."""

    def __init__(self, workdir: Path, *, extra_env: dict[str, str] | None = None) -> None:
        self.workdir = Path(workdir)
        self.postgres = PrivatePostgres()
        self.redis = PrivateRedis(self.workdir / "redis")
        self.web_port = free_port()
        self.extra_env = extra_env or {}
        self.env: dict[str, str] = {}
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.logs = self.workdir / "logs"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start_services(self) -> GatewayStack:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.postgres.start()
        self.redis.start()
        database = self.postgres.create_database("gateway")
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "gateway.settings",
            # embedded: plain HTTP on loopback; the engines below are the production ones.
            "GATEWAY_ENV": "embedded",
            "DATA_DIR": str(self.workdir / "data"),
            "DATABASE_URL": database,
            "CELERY_BROKER_URL": self.redis.url(0),
            "CACHE_URL": self.redis.url(1),
            "PYTHONPATH": str(ROOT),
            "LOG_LEVEL": "WARNING",
            **self.extra_env,
        }
        self.manage("init_keys")
        self.manage("migrate", "--noinput", "--verbosity", "0")
        return self

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ServiceError(f"manage.py {args[0]} failed: {result.stderr[-2000:]}")
        return result.stdout

    def create_patients(self, count: int, prefix: str = "patient") -> list[str]:
        """``count`` verified patient accounts, each with one API token; returns the tokens."""
        code = (
            "import json\n"
            "from allauth.account.models import EmailAddress\n"
            "from accounts.models import Role, User\n"
            "from accounts.roles import assign_role\n"
            "from accounts.tokens import issue_token\n"
            "tokens = []\n"
            f"for i in range({count}):\n"
            f"    email = f'{prefix}{{i}}@example.org'\n"
            "    user = User.objects.create_user(email, None)\n"
            "    assign_role(user, Role.PATIENT)\n"
            "    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)\n"
            "    tokens.append(issue_token(user, 'soak'))\n"
            "print(json.dumps(tokens))\n"
        )
        return json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])

    def start_web(self, workers: int = 1, threads: int = 4) -> None:
        gunicorn = str(BIN / "gunicorn")
        self.web = subprocess.Popen(
            [
                gunicorn,
                "gateway.wsgi",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--timeout",
                "300",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=(self.logs / "web.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        poll(self._web_answers, 60, "gunicorn to answer /healthz")

    def _web_answers(self) -> bool:
        if self.web is not None and self.web.poll() is not None:
            raise ServiceError(f"gunicorn exited; see {self.logs / 'web.log'}")
        import httpx

        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start_worker(self, queues: str = "deid,send,default", *, beat: bool = False) -> None:
        index = len(self.workers)
        args = [
            str(BIN / "celery"),
            "-A",
            "gateway",
            "worker",
            "--pool=solo",
            "--queues",
            queues,
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
            "--hostname",
            f"fault{index}-{os.getpid()}@localhost",
        ]
        if beat:
            args += ["--beat", "--schedule", str(self.workdir / "celerybeat-schedule")]
        self.workers.append(
            subprocess.Popen(
                args,
                cwd=ROOT,
                env=self.env,
                stdout=(self.logs / f"worker{index}.log").open("ab"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def stop(self) -> None:
        for process in [*self.workers, self.web]:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in [*self.workers, self.web]:
            if process is None:
                continue
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        self.workers, self.web = [], None
        self.redis.stop()
        self.postgres.cleanup()


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (needs root or CAP_SYS_ADMIN); always unmounted."""
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise ServiceError(
            f"cannot mount a tmpfs at {path} ({result.stderr.strip()}); the disk-full test needs "
            "root or CAP_SYS_ADMIN in CI"
        )
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)
