"""Fixtures for the audit log: a throwaway signing key and its published public key."""

from pathlib import Path

import pytest

from audit.log import generate_signing_key, public_key_pem


@pytest.fixture
def signing_key(tmp_path: Path, settings) -> Path:
    path = tmp_path / "keys" / "audit-signing.pem"
    generate_signing_key(path)
    settings.AUDIT_SIGNING_KEY_PATH = path
    settings.AUDIT_SIGNING_KEY = ""
    return path


@pytest.fixture
def public_pem_file(signing_key: Path, tmp_path: Path) -> Path:
    path = tmp_path / "audit-public.pem"
    path.write_text(public_key_pem())
    return path
