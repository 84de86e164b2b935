"""The audit signing key stays with the processes that sign: web checks with the public key.

In production web holds only ``audit-signing.pub.pem``; consent asks a worker to sign the tree
head that anchors it, and a receipt is handed out once a signed head covers its entry.
"""

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from audit.log import (
    HeadNotSignedYet,
    append,
    can_sign,
    public_key_pem,
    receipt_for,
    sign_head,
    verify_log,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def web_without_signing_key(signing_key: Path, settings, tmp_path: Path) -> Path:
    """The web process's view: the public key file only."""
    public = tmp_path / "audit-signing.pub.pem"
    public.write_text(public_key_pem())
    settings.AUDIT_SIGNING_KEY_PATH = tmp_path / "not-mounted.pem"
    settings.AUDIT_PUBLIC_KEY_PATH = public
    return public


def test_a_process_with_only_the_public_key_cannot_sign_but_verifies_the_log(
    signing_key, settings, web_without_signing_key
):
    settings.AUDIT_SIGNING_KEY_PATH = signing_key
    append("auth.sign_in", actor="u-3f2a9c0d1e4b5a6f7c8d")
    sign_head()
    settings.AUDIT_SIGNING_KEY_PATH = web_without_signing_key.parent / "not-mounted.pem"

    assert not can_sign()
    verdict = verify_log()
    assert verdict.ok and verdict.entries == 1


def test_it_publishes_the_same_public_key_from_the_public_key_file(
    signing_key, settings, web_without_signing_key
):
    assert public_key_pem() == web_without_signing_key.read_text()


def test_a_receipt_waits_for_a_signed_head_instead_of_signing_one_in_web(
    signing_key, settings, web_without_signing_key
):
    entry = append("consent.given", actor="u-3f2a9c0d1e4b5a6f7c8d")
    with pytest.raises(HeadNotSignedYet):
        receipt_for(entry)

    settings.AUDIT_SIGNING_KEY_PATH = signing_key  # the worker's view
    sign_head()
    settings.AUDIT_SIGNING_KEY_PATH = web_without_signing_key.parent / "not-mounted.pem"
    assert receipt_for(entry)["leaf_index"] == entry.seq


def test_without_either_key_it_says_what_is_missing(settings, tmp_path):
    settings.AUDIT_SIGNING_KEY = ""
    settings.AUDIT_SIGNING_KEY_PATH = tmp_path / "none.pem"
    settings.AUDIT_PUBLIC_KEY_PATH = tmp_path / "none.pub.pem"
    with pytest.raises(ImproperlyConfigured, match="init_keys"):
        public_key_pem()
