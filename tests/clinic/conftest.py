"""A signed-in clinic admin with TOTP, for the clinic pages."""

import pytest
from django.test import Client

from accounts.models import Role, User
from tests.support.accounts import (
    make_user,
    with_totp,
)


@pytest.fixture
def admin(db, blob_dir) -> User:
    return with_totp(make_user("admin@example.org", Role.CLINIC_ADMIN))


@pytest.fixture
def admin_client(admin) -> Client:
    """Its own client, so a test can sign someone else in with ``client`` at the same time."""
    admin_client = Client()
    admin_client.force_login(admin)
    return admin_client


@pytest.fixture
def signing_key(tmp_path, settings):
    """A throwaway audit signing key, so heads can be signed and the chain verified."""
    from audit.log import generate_signing_key

    path = tmp_path / "keys" / "audit-signing.pem"
    generate_signing_key(path)
    settings.AUDIT_SIGNING_KEY_PATH = path
    settings.AUDIT_SIGNING_KEY = ""
    return path
