"""A private vault for each test that seals API keys."""

import base64
import json
import secrets

import pytest


@pytest.fixture
def vault_settings(settings, tmp_path):
    """Point the vault at a fresh blob folder and a fresh one-key keyring."""
    kid = "k-test-forwarding"
    settings.VAULT_BLOB_DIR = tmp_path / "blobs"
    settings.VAULT_KEYRING = json.dumps(
        {"primary": kid, "keys": {kid: base64.b64encode(secrets.token_bytes(32)).decode()}}
    )
    return settings
