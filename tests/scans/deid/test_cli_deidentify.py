"""``manage.py deidentify`` is a thin shell over the engine with honest exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.support.phi_corpus import Patient, ct_series, to_bytes

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "deid.key"
    path.write_bytes(bytes(range(32)))
    path.chmod(0o600)
    return path


@pytest.fixture
def series(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for index, ds in enumerate(ct_series(Patient(), count=2)):
        (folder / f"{index}.dcm").write_bytes(to_bytes(ds))
    return folder


def run(*args: str) -> None:
    call_command("deidentify", *args)


def test_a_clean_run_writes_files_and_a_report(
    tmp_path: Path, key_file: Path, series: Path
) -> None:
    report = tmp_path / "report.json"
    run(str(series), str(tmp_path / "out"), "--key-file", str(key_file), "--report", str(report))
    data = json.loads(report.read_text())
    assert data["summary"]["clean"] == 2
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 2
    assert "MRK" not in report.read_text()  # tags, actions and paths; never values


def test_a_quarantined_file_exits_with_1(tmp_path: Path, key_file: Path, series: Path) -> None:
    (series / "broken.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x01" * 10)
    with pytest.raises(CommandError) as error:
        run(str(series), str(tmp_path / "out"), "--key-file", str(key_file))
    assert error.value.returncode == 1


def test_a_missing_or_public_key_is_a_usage_error(
    tmp_path: Path, key_file: Path, series: Path
) -> None:
    with pytest.raises(CommandError) as missing:
        run(str(series), str(tmp_path / "a"), "--key-file", str(tmp_path / "nope"))
    assert missing.value.returncode == 2
    key_file.chmod(0o644)
    with pytest.raises(CommandError, match="chmod 600") as public:
        run(str(series), str(tmp_path / "b"), "--key-file", str(key_file))
    assert public.value.returncode == 2


def test_without_a_key_option_the_settings_key_is_used(
    tmp_path: Path, key_file: Path, series: Path, settings: object
) -> None:
    settings.DEID_KEY_PATH = str(key_file)  # type: ignore[attr-defined]
    run(str(series), str(tmp_path / "out"))
    del settings.DEID_KEY_PATH  # type: ignore[attr-defined]
    with pytest.raises(CommandError, match="DEID_KEY_PATH") as error:
        run(str(series), str(tmp_path / "out2"))
    assert error.value.returncode == 2


def test_the_report_may_not_land_among_the_cleaned_files(
    tmp_path: Path, key_file: Path, series: Path
) -> None:
    out = tmp_path / "out"
    with pytest.raises(CommandError) as error:
        run(str(series), str(out), "--key-file", str(key_file), "--report", str(out / "r.json"))
    assert error.value.returncode == 2


@pytest.mark.slow
def test_the_real_command_line_returns_the_exit_codes(
    tmp_path: Path, key_file: Path, series: Path
) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    command = [sys.executable, str(ROOT / "manage.py"), "deidentify"]
    ok = subprocess.run([*command, str(series), str(tmp_path / "a"), "--key-file", str(key_file),
                         "--retain-dates", "--clean-descriptors", "--exempt-modality", "US"],
                        cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    usage = subprocess.run([*command], cwd=ROOT, env=env, capture_output=True, check=False)
    assert usage.returncode == 2
