"""A throwaway audit signing key for the clinic pages."""

import pytest


@pytest.fixture
def signing_key(tmp_path, settings):
    """A throwaway audit signing key, so heads can be signed and the chain verified."""
    from audit.log import generate_signing_key

    path = tmp_path / "keys" / "audit-signing.pem"
    generate_signing_key(path)
    settings.AUDIT_SIGNING_KEY_PATH = path
    settings.AUDIT_SIGNING_KEY = ""
    return path
