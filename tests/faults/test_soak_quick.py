"""The quick soak run (10 patients for 30 s on the production shape) loses nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.services import ROOT

pytestmark = [pytest.mark.faults, pytest.mark.worker]


def test_ten_patients_for_thirty_seconds_meet_no_error_and_lose_no_scan():
    run = subprocess.run(
        [sys.executable, "bench/soak.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "0 errors, 0 lost scans" in run.stdout
