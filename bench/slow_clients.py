"""Slow and idle clients against the web server: does everyone else still get an answer?

Starts the production shape on loopback (private PostgreSQL and Redis, gunicorn with the app's
own ``gateway/gunicorn_conf.py``: gevent workers) and signs a patient in. Then, in one run:

1. baseline: ``/healthz`` and a signed-in page (``/scans/``), one after the other;
2. the same while ``--slow`` connections are held open, half sending a header a byte at a time
   and never finishing it, half sending a POST header with ``Content-Length: 100000`` and a body
   byte every few seconds, with the per-address cap off (``SERVER_MAX_CONNECTIONS_PER_IP=0``, as
   behind a proxy, where every connection comes from the proxy's address); a 100 MiB upload
   streams to ``POST /api/v1/scans`` meanwhile and must complete;
3. the per-address cap (on, as for a server facing clients itself): one address opening more
   than the cap gets 503 for the rest, another address is still served;
4. for comparison, the former set-up (gthread, 2 workers x 4 threads) with 24 slow POSTs.

Prints p50/p99/max per phase; exits non-zero if the target is missed (p99 under 1 s for both
routes with the slow connections open, the upload accepted).

    .venv/bin/python bench/slow_clients.py [--slow 500] [--requests 200] [--upload-mib 100]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from upload_bench import make_study, stream_upload  # noqa: E402

from tests.support.services import BIN, GatewayStack, poll  # noqa: E402

PASSWORD = "correct horse battery staple 42"  # noqa: S105 - a throwaway test account
TARGET_SECONDS = 1.0
TRICKLE_SECONDS = 5.0
CSRF = b"slowclientsbenchcsrftoken0123456"


def raise_open_files_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def start_gunicorn(stack: GatewayStack, port: int, extra: dict[str, str], args: list[str]):
    env = {**stack.env, **extra}
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), *args, "gateway.wsgi", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=(stack.logs / f"web-{port}.log").open("ab"),
        stderr=subprocess.STDOUT,
    )

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited; see {stack.logs}/web-{port}.log")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    poll(answers, 60, "gunicorn to answer /healthz")
    return process


def make_patient(stack: GatewayStack) -> str:
    """A verified patient with a password; returns an API token (upload scope) of theirs."""
    code = (
        "from allauth.account.models import EmailAddress\n"
        "from accounts.models import Role, User\n"
        "from accounts.roles import assign_role\n"
        "from accounts.tokens import issue_token\n"
        f"user = User.objects.create_user('slow@example.org', {PASSWORD!r})\n"
        "assign_role(user, Role.PATIENT)\n"
        "EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)\n"
        "print(issue_token(user, 'bench'))\n"
    )
    return stack.manage("shell", "-c", code).strip().splitlines()[-1]


def signed_in_client(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        data={"login": "slow@example.org", "password": PASSWORD},
        headers={"X-CSRFToken": client.cookies["csrftoken"], "Referer": base + "/"},
    )
    if response.status_code != 302:
        raise RuntimeError(f"sign-in failed: {response.status_code}")
    if client.get("/scans/").status_code != 200:
        raise RuntimeError("the signed-in page did not open")
    return client


def measure(client: httpx.Client, requests: int, timeout: float = 10.0) -> dict[str, dict]:
    """Alternate /healthz and /scans/; latency per route (a timeout counts as its timeout)."""
    timings: dict[str, list[float]] = {"/healthz": [], "/scans/": []}
    failures: dict[str, int] = {"/healthz": 0, "/scans/": 0}
    for i in range(requests):
        route = "/healthz" if i % 2 == 0 else "/scans/"
        began = time.perf_counter()
        try:
            ok = client.get(route, timeout=timeout).status_code == 200
        except httpx.HTTPError:
            ok = False
        timings[route].append(time.perf_counter() - began)
        failures[route] += 0 if ok else 1
    return {
        route: {
            "p50": percentile(values, 0.50),
            "p99": percentile(values, 0.99),
            "max": max(values),
            "failed": failures[route],
            "n": len(values),
        }
        for route, values in timings.items()
    }


class SlowClients:
    """``count`` connections that never finish their request, kept alive by a trickle."""

    def __init__(self, port: int, count: int, source: str = "127.0.0.1") -> None:
        self.port, self.count, self.source = port, count, source
        self.sockets: list[socket.socket] = []
        self.refused = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)

    def open(self) -> SlowClients:
        for i in range(self.count):
            sock = socket.socket()
            sock.bind((self.source, 0))
            sock.settimeout(5)
            sock.connect(("127.0.0.1", self.port))
            if i % 2 == 0:
                # A form POST (the public invitation page) whose body never finishes. Any CSRF
                # token passes the cookie
                # check (cookie and header agree), so the view goes on to read the body.
                sock.sendall(
                    b"POST /clinic/invitation/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/x-www-form-urlencoded\r\n"
                    b"Cookie: csrftoken=" + CSRF + b"\r\nX-CSRFToken: " + CSRF + b"\r\n"
                    b"Content-Length: 100000\r\n\r\nemail="
                )
            else:
                # A header that never finishes.
                sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            self.sockets.append(sock)
        self.thread.start()
        return self

    def _trickle(self) -> None:
        while not self.stop.wait(TRICKLE_SECONDS):
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.send(b"a")

    def count_refused(self) -> int:
        """Connections the server answered (503) or closed instead of waiting: whatever is
        readable within half a second, all sockets at once."""
        with selectors.DefaultSelector() as selector:  # epoll: no limit of 1024 descriptors
            for sock in self.sockets:
                selector.register(sock, selectors.EVENT_READ)
            readable = [key.fileobj for key, _ in selector.select(timeout=0.5)]
        refused = 0
        for sock in readable:
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(64)
            except OSError:
                data = b""
            if data.startswith(b"HTTP/1.1 503") or data == b"":
                refused += 1
        return refused

    def closed_by_kind(self) -> dict[str, int]:
        """Like ``count_refused``, split into the slow-body (even) and slow-header (odd) ones."""
        bodies, headers = self.sockets[0::2], self.sockets[1::2]
        self.sockets = bodies
        body = self.count_refused()
        self.sockets = headers
        header = self.count_refused()
        self.sockets = [*bodies, *headers]
        return {"body": body, "header": header}

    def close(self) -> None:
        self.stop.set()
        for sock in self.sockets:
            sock.close()


def timed_upload(port: int, token: str, study: Path, result: dict) -> None:
    began = time.perf_counter()
    try:
        status, body = stream_upload(port, token, study)
        result.update(status=status, seconds=time.perf_counter() - began, body=body[:200])
    except Exception as exc:
        result.update(status=0, seconds=time.perf_counter() - began, body=repr(exc)[:200])


def show(title: str, figures: dict[str, dict]) -> None:
    print(f"  {title}")
    for route, f in figures.items():
        print(
            f"    {route:9} p50 {f['p50'] * 1000:7.1f} ms  p99 {f['p99'] * 1000:7.1f} ms  "
            f"max {f['max'] * 1000:7.1f} ms  failed {f['failed']}/{f['n']}"
        )


def run(slow: int, requests: int, upload_mib: int, compare: bool) -> bool:
    raise_open_files_limit()
    workdir = Path(tempfile.mkdtemp(prefix="gateway-slow-"))
    stack = GatewayStack(workdir, extra_env={"STATIC_ROOT": str(workdir / "static")})
    processes: list[subprocess.Popen] = []
    ok = True
    try:
        print(f"Starting PostgreSQL and Redis under {workdir} ...")
        stack.start_services()
        stack.manage("collectstatic", "--noinput", "--verbosity", "0")
        token = make_patient(stack)
        study = workdir / "study.zip"
        make_study(study, upload_mib)
        conf = ["-c", "python:gateway.gunicorn_conf", "--workers", "2"]

        # 1-2. Behind a proxy: the cap is off, every slow connection reaches gunicorn.
        port = stack.web_port
        processes.append(start_gunicorn(stack, port, {"SERVER_MAX_CONNECTIONS_PER_IP": "0"}, conf))
        base = f"http://127.0.0.1:{port}"
        client = signed_in_client(base)
        print(f"gevent workers (2), {requests} requests alternating /healthz and /scans/:")
        baseline = measure(client, requests)
        show("baseline", baseline)
        slow_clients = SlowClients(port, slow).open()
        upload: dict = {}
        uploader = threading.Thread(target=timed_upload, args=(port, token, study, upload))
        uploader.start()
        loaded = measure(client, requests)
        uploader.join()
        closed = slow_clients.closed_by_kind()
        slow_clients.close()
        show(f"with {slow} slow connections open and a {upload_mib} MiB upload", loaded)
        print(
            f"    upload: HTTP {upload.get('status')} in {upload.get('seconds', 0):.1f} s; "
            f"closed by the server by then: {closed['header']}/{slow // 2} slow headers, "
            f"{closed['body']}/{slow - slow // 2} slow bodies (the rest held, each a greenlet)"
        )
        for route, figures in loaded.items():
            if figures["p99"] >= TARGET_SECONDS or figures["failed"]:
                print(
                    f"    MISSED: {route} p99 {figures['p99']:.2f} s (target < {TARGET_SECONDS} s)"
                )
                ok = False
        if upload.get("status") != 201:
            print(f"    MISSED: the upload answered {upload.get('status')}: {upload.get('body')!r}")
            ok = False

        # 3. Facing clients directly: the per-address cap.
        cap_port = port + 1 if port < 65000 else port - 1
        processes.append(
            start_gunicorn(
                stack,
                cap_port,
                {"SERVER_MAX_CONNECTIONS_PER_IP": "50"},
                [*conf[:2], "--workers", "1"],
            )
        )
        hog = SlowClients(cap_port, 100, source="127.0.0.2").open()
        time.sleep(0.5)  # let the server answer the refused ones; a fixed pause, not a handshake
        refused = hog.count_refused()
        others = httpx.get(f"http://127.0.0.1:{cap_port}/healthz", timeout=5).status_code
        hog.close()
        print(
            f"per-address cap 50 (one worker): 100 slow connections from 127.0.0.2: {refused} "
            f"refused with 503; /healthz from 127.0.0.1: HTTP {others}"
        )
        if refused < 50 or others != 200:
            ok = False

        # 4. The former set-up, for comparison.
        if compare:
            old_port = cap_port + 1 if cap_port < 65000 else cap_port - 2
            processes.append(
                start_gunicorn(
                    stack,
                    old_port,
                    {"DB_CONN_MAX_AGE": "60"},
                    ["--workers", "2", "--threads", "4", "--timeout", "900"],
                )
            )
            old_client = signed_in_client(f"http://127.0.0.1:{old_port}")
            stalled = SlowClients(old_port, 24).open()
            before = measure(old_client, 10, timeout=3)
            stalled.close()
            show("former set-up (gthread 2x4) with 24 slow connections (3 s timeout)", before)
        print(
            json.dumps(
                {
                    "baseline": baseline,
                    "loaded": loaded,
                    "upload": {k: v for k, v in upload.items() if k != "body"},
                },
                default=str,
            )
        )
        return ok
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        stack.web = None
        stack.stop()
        if not os.environ.get("KEEP_BENCH"):
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=500)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--upload-mib", type=int, default=100)
    parser.add_argument("--no-compare", action="store_true", help="skip the former set-up")
    args = parser.parse_args(argv)
    return 0 if run(args.slow, args.requests, args.upload_mib, not args.no_compare) else 1


if __name__ == "__main__":
    sys.exit(main())
