"""Soak run: many patients at once against the production shape, then count what was lost.

Starts, on loopback, a private PostgreSQL cluster and Redis, gunicorn (4 workers x 4 threads)
and two Celery worker processes, all with the app's own settings (GATEWAY_ENV=embedded only to
serve plain HTTP). Creates one patient account and API token per simulated patient, then each
patient, until time is up: uploads a small study (a few DICOM files), polls its status until
de-identification ends, fetches the report and views every preview. Afterwards every uploaded
scan must have reached ready_for_review or quarantined.

Prints throughput, latency percentiles per route and errors; exits non-zero on any error or
lost scan.

    .venv/bin/python bench/soak.py [--users 50] [--minutes 3] [--quick]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import builders  # noqa: E402
from tests.support.services import GatewayStack  # noqa: E402

DONE = {"ready_for_review", "quarantined", "failed"}
FINISHED_WELL = {"ready_for_review", "quarantined"}
POLL_SECONDS = 0.5


@dataclass
class Tally:
    """Everything the patients observed; one lock, appended to from every patient thread."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error_samples: list[str] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)
    finished: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, route: str, seconds: float, error: str | None = None) -> None:
        with self.lock:
            self.latencies[route].append(seconds)
            if error is not None:
                self.errors[route] += 1
                if len(self.error_samples) < 10:
                    self.error_samples.append(f"{route}: {error}")


def study(files: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("files", (f"IM{i:03d}", builders.make_dicom_bytes(), "application/dicom"))
        for i in range(files)
    ]


class SimulatedPatient(threading.Thread):
    def __init__(self, base_url: str, token: str, tally: Tally, stop_at: float, drain_at: float):
        super().__init__(daemon=True)
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        self.tally, self.stop_at, self.drain_at = tally, stop_at, drain_at

    def call(self, route: str, method: str, url: str, expect: int, **kwargs) -> httpx.Response:
        began = time.perf_counter()
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.tally.record(route, time.perf_counter() - began, type(exc).__name__)
            raise
        error = None if response.status_code == expect else f"{response.status_code}"
        self.tally.record(route, time.perf_counter() - began, error)
        if error:
            raise RuntimeError(f"{route} answered {response.status_code}")
        return response

    def run(self) -> None:
        while time.monotonic() < self.stop_at:
            try:
                self.one_scan()
            except (httpx.HTTPError, RuntimeError):
                continue  # counted already; carry on like a patient who tries again

    def one_scan(self) -> None:
        created = self.call(
            "POST /api/v1/scans", "POST", "/api/v1/scans", 201,
            files=study(random.randint(2, 4)),
        )
        scan_id = created.json()["id"]
        with self.tally.lock:
            self.tally.uploaded.append(scan_id)
        while True:
            scan = self.call("GET /api/v1/scans/{id}", "GET", f"/api/v1/scans/{scan_id}", 200)
            if scan.json()["status"] in DONE or time.monotonic() > self.drain_at:
                break
            time.sleep(POLL_SECONDS)  # a patient's page polls; this is load shaping, not sync
        body = scan.json()
        if body["status"] not in DONE:
            return  # left for the lost-scan count
        with self.tally.lock:
            self.tally.finished += 1
        self.call("GET /api/v1/scans/{id}/report", "GET", f"/api/v1/scans/{scan_id}/report", 200)
        for image in body["images"]:
            if image["outcome"] == "clean":
                self.call(
                    "GET /api/v1/scans/{id}/images/{image}/preview", "GET",
                    f"/api/v1/scans/{scan_id}/images/{image['id']}/preview", 200,
                )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def lost_scans(stack: GatewayStack, uploaded: list[str]) -> list[tuple[str, str]]:
    """Uploaded scans that did not end well, and every scan the database holds but nobody saw
    accepted (or the reverse): (id, status) pairs."""
    rows = dict(stack.postgres.query("gateway", "SELECT id::text, status FROM scans_scan"))
    lost = [(scan_id, rows.get(scan_id, "missing")) for scan_id in uploaded]
    lost = [(scan_id, status) for scan_id, status in lost if status not in FINISHED_WELL]
    unseen = set(rows) - set(uploaded)
    lost += [(scan_id, f"{rows[scan_id]} (accepted, never answered 201)") for scan_id in unseen]
    return lost


def report(tally: Tally, seconds: float, lost: list[tuple[str, str]]) -> bool:
    requests = sum(len(values) for values in tally.latencies.values())
    errors = sum(tally.errors.values())
    print(f"\nSoak: {seconds:.0f} s of load")
    print(f"  throughput: {requests / seconds:.1f} requests/s, "
          f"{tally.finished / seconds:.2f} scans/s ({tally.finished} scans finished)")
    print(f"  {'route':52} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for route, values in sorted(tally.latencies.items()):
        print(f"  {route:52} {len(values):6d} {percentile(values, 0.50) * 1000:8.0f} "
              f"{percentile(values, 0.95) * 1000:8.0f} {percentile(values, 0.99) * 1000:8.0f} "
              f"{tally.errors.get(route, 0):6d}")
    for sample in tally.error_samples:
        print(f"  error: {sample}")
    for scan_id, status in lost[:20]:
        print(f"  lost: scan {scan_id} is {status}")
    print(f"\n{errors} errors, {len(lost)} lost scans")
    return errors == 0 and not lost


def soak(users: int, minutes: float, drain_seconds: float, keep: bool) -> bool:
    workdir = Path(tempfile.mkdtemp(prefix="gateway-soak-"))
    stack = GatewayStack(workdir)
    try:
        print(f"Starting PostgreSQL, Redis, gunicorn and 2 workers under {workdir} ...")
        stack.start_services()
        tokens = stack.create_patients(users)
        stack.start_web(workers=4, threads=4)
        stack.start_worker(queues="deid")
        stack.start_worker(queues="deid,send,default")
        tally = Tally()
        began = time.monotonic()
        stop_at = began + minutes * 60
        patients = [
            SimulatedPatient(stack.base_url, token, tally, stop_at, stop_at + drain_seconds)
            for token in tokens
        ]
        print(f"{users} patients for {minutes:g} min ...")
        for patient in patients:
            patient.start()
        for patient in patients:
            patient.join()
        elapsed = time.monotonic() - began
        return report(tally, elapsed, lost_scans(stack, tally.uploaded))
    finally:
        stack.stop()
        if not keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--drain-seconds", type=float, default=180,
                        help="how long scans in flight at the end may take to finish")
    parser.add_argument("--quick", action="store_true", help="10 patients for 30 s")
    parser.add_argument("--keep", action="store_true", help="keep the logs and data folder")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.minutes = 10, 0.5
    return 0 if soak(args.users, args.minutes, args.drain_seconds, args.keep) else 1


if __name__ == "__main__":
    sys.exit(main())
