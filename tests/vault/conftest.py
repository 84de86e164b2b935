"""A private vault per test: blobs and keyring under the test's tmp_path, 4 KiB segments."""

from pathlib import Path

import pytest

from scans.vault import Vault, generate_keyring_file, get_vault

SEGMENT = 4096


@pytest.fixture
def keyring_path(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "vault-keyring.json"
    generate_keyring_file(path)
    return path


@pytest.fixture
def vault_settings(settings, tmp_path: Path, keyring_path: Path):
    settings.VAULT_BACKEND = "local"
    settings.VAULT_BLOB_DIR = tmp_path / "blobs"
    settings.VAULT_KEYRING = ""
    settings.VAULT_KEYRING_PATH = keyring_path
    settings.VAULT_SEGMENT_SIZE = SEGMENT
    return settings


@pytest.fixture
def vault(vault_settings) -> Vault:
    return get_vault()
