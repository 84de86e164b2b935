"""Peak memory of the web process while a large upload streams in (target: under 150 MiB).

Starts the real app under gunicorn (one sync worker) on an embedded instance in a temporary
folder, streams a ZIP of DICOM files (1 GiB by default) to ``POST /api/v1/scans`` in 1 MiB
chunks, and samples the worker's resident memory throughout. Figures are printed, not asserted.

    .venv/bin/python bench/upload_bench.py [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MiB = 1024 * 1024
TARGET_MIB = 150


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def make_study(path: Path, size_mib: int) -> int:
    """A stored (uncompressed) ZIP of 2 MiB DICOM slices adding up to ``size_mib``."""
    from tests.support.builders import make_dicom_bytes

    rows = cols = 1024
    slice_bytes = make_dicom_bytes(
        Rows=rows,
        Columns=cols,
        BitsAllocated=16,
        BitsStored=16,
        HighBit=15,
        PixelData=os.urandom(rows * cols * 2),
    )
    count = max(1, size_mib * MiB // len(slice_bytes))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for i in range(count):
            archive.writestr(f"study/series/IM{i:05d}", slice_bytes)
    return count


def stream_upload(port: int, token: str, study: Path) -> tuple[int, bytes]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="study.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + study.stat().st_size + len(tail)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1800)
    conn.putrequest("POST", "/api/v1/scans")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    conn.send(head)
    with study.open("rb") as source:
        while chunk := source.read(MiB):
            conn.send(chunk)
    conn.send(tail)
    response = conn.getresponse()
    return response.status, response.read()


class PeakSampler(threading.Thread):
    """Samples a process's RSS until stopped; the peak is what matters."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            self.done.wait(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="upload-bench-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gateway.settings",
        "GATEWAY_ENV": "embedded",
        "DATA_DIR": str(work / "data"),
        "DATABASE_URL": f"sqlite:///{work / 'data' / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "memory://",  # the bench measures the web process only
        "UPLOAD_MAX_BYTES": str(4 * 1024 * MiB),
        "ZIP_MAX_MEMBERS": "100000",
    }
    (work / "data").mkdir()
    gunicorn = None
    try:
        manage(env, "init_keys")
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        password = work / "pw"
        password.write_text("bench passphrase for the upload bench 1\n")
        manage(
            env,
            "create_account",
            "bench@example.org",
            "--role",
            "patient",
            "--password-file",
            str(password),
        )
        token = manage(env, "create_api_token", "bench@example.org").splitlines()[-1]

        study = work / "study.zip"
        slices = make_study(study, args.size_mib)
        size = study.stat().st_size

        port = free_port()
        gunicorn = subprocess.Popen(
            [
                shutil.which("gunicorn", path=str(Path(sys.executable).parent)),
                "gateway.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--timeout",
                "1800",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        worker_pid = psutil.Process(gunicorn.pid).children()[0].pid
        baseline = psutil.Process(worker_pid).memory_info().rss
        sampler = PeakSampler(worker_pid)
        sampler.start()
        started = time.perf_counter()
        status, body = stream_upload(port, token, study)
        elapsed = time.perf_counter() - started
        sampler.done.set()
        sampler.join()

        peak_mib = sampler.peak / MiB
        print(f"upload: {size / MiB:,.0f} MiB ZIP of {slices} DICOM slices -> HTTP {status}")
        if status != 201:
            print(f"  response: {body[:300]!r}")
        rate = size / MiB / elapsed
        print(f"  streamed, encrypted and checked in {elapsed:.1f} s ({rate:,.0f} MiB/s)")
        print(
            f"  web worker RSS before: {baseline / MiB:.0f} MiB, "
            f"peak during upload: {peak_mib:.0f} MiB (+{(sampler.peak - baseline) / MiB:.0f} MiB)"
        )
        verdict = "met" if peak_mib < TARGET_MIB else "MISSED"
        print(f"  target: peak under {TARGET_MIB} MiB whatever the size -> {verdict}")
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
