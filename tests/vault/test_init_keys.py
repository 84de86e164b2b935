"""``init_keys --output DIR``: every production key as the files compose.yaml mounts as secrets."""

import stat

import pytest
from django.core.management import CommandError, call_command

from audit import merkle
from tests.support.workers import ROOT

NAMES = {"django-secret.key", "vault-keyring.json", "deid.key", "attestation.key",
         "audit-signing.pem", "audit-signing.pub.pem"}


def test_it_writes_every_key_mode_0600_in_a_private_folder(tmp_path):
    folder = tmp_path / "secrets"
    call_command("init_keys", "--output", str(folder))

    assert {p.name for p in folder.iterdir()} == NAMES
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    private = merkle.load_private_key_pem((folder / "audit-signing.pem").read_bytes())
    public = merkle.load_public_key_pem((folder / "audit-signing.pub.pem").read_bytes())
    assert merkle.key_id(public) == merkle.key_id(private.public_key())
    assert len((folder / "django-secret.key").read_text()) >= 50


def test_it_never_overwrites_and_adds_only_what_is_missing(tmp_path):
    """GIVEN a keys backup copied into a new folder (it has no public key)
    WHEN init_keys --output runs on it THEN only the public key is added."""
    folder = tmp_path / "secrets"
    call_command("init_keys", "--output", str(folder))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    (folder / "audit-signing.pub.pem").unlink()

    call_command("init_keys", "--output", str(folder))

    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_it_refuses_a_folder_inside_the_source_tree():
    with pytest.raises(CommandError, match="source tree"):
        call_command("init_keys", "--output", str(ROOT / "secrets"))
    assert not (ROOT / "secrets").exists() or not any((ROOT / "secrets").iterdir())
