"""Production refuses to start half-configured, and passes Django's deployment checks."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            (
                "SECRET_KEY",
                "VAULT_",
                "DJANGO_SETTINGS",
                "DJANGO_ALLOW_ASYNC",
                "GATEWAY_",
                "DATA_DIR",
            )
        )
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**clean, "DJANGO_SETTINGS_MODULE": "gateway.settings", **env},
        timeout=120,
    )


def production_env(tmp_path: Path) -> dict[str, str]:
    keyring = {"primary": "k1", "keys": {"k1": "A" * 43 + "="}}
    return {
        "GATEWAY_ENV": "production",
        "SECRET_KEY": "s" * 20 + "-a-long-random-production-secret-value-0123456789",
        "VAULT_KEYRING": json.dumps(keyring),
        "ALLOWED_HOSTS": "gateway.example.org",
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    result = run_manage(["check"], env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_a_placeholder_secret_key(tmp_path):
    env = {**production_env(tmp_path), "SECRET_KEY": "change-me"}
    result = run_manage(["check"], env)
    assert result.returncode != 0
    assert "placeholder" in result.stderr


def test_production_refuses_to_start_without_vault_keys(tmp_path):
    env = production_env(tmp_path)
    del env["VAULT_KEYRING"]
    result = run_manage(["check"], env)
    assert result.returncode != 0
    assert "VAULT_KEYRING" in result.stderr


def test_production_settings_pass_the_deployment_checks(tmp_path):
    result = run_manage(["check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
