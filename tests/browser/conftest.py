"""Playwright drives Debian's Chromium; no browser is downloaded."""

import shutil
from urllib.parse import urlparse

import pytest

from tests.support.screens import ARTIFACTS, shot  # noqa: F401

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
