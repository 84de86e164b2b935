"""Playwright drives Debian's Chromium; no browser is downloaded."""

import shutil
import subprocess
import sys
import urllib.request
from urllib.parse import urlparse

import pytest

from forwarding.endpoints import ensure_demo_endpoint
from tests.support.screens import ARTIFACTS, shot  # noqa: F401
from tests.support.waiting import free_port, wait_until
from tests.support.workers import ROOT, Worker, flush_broker, worker_env

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package.")
    return {**browser_type_launch_args, "executable_path": executable, "args": ARGS}


@pytest.fixture
def watched_page(page, live_server):
    """A page that records every request's origin and every CSP complaint on the console."""
    origins: set[str] = set()
    violations: list[str] = []
    page.on(
        "request",
        lambda r: origins.add(urlparse(r.url).netloc) if r.url.startswith("http") else None,
    )
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.watched = (origins, violations)
    return page


def demo_is_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def demo_endpoint():
    """The built-in demo endpoint as its own process, registered as the AI endpoint."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "forwarding.demo_server", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: demo_is_up(port), timeout=30, what="the demo endpoint to answer")
        yield ensure_demo_endpoint(f"http://127.0.0.1:{port}/v1")
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def worker():
    """A real Celery worker process on the test broker."""
    flush_broker()
    process = Worker(worker_env()).start()
    yield process
    process.stop()
