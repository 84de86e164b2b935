"""The management commands operators run, and how the signing key is created and found."""

import stat

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from audit import merkle
from audit.log import append, generate_signing_key, public_key_pem, sign_head
from tests.support.tampering import tamper

pytestmark = pytest.mark.django_db


def test_sign_tree_head_signs_the_log_as_it_is_now(signing_key, capsys):
    append("auth.sign_in", actor="u-3f2a9c0d1e4b5a6f7c8d")
    call_command("sign_tree_head")
    assert capsys.readouterr().out.startswith("Signed head: size 1 root ")


def test_verify_audit_log_prints_ok_with_the_latest_head(signing_key, capsys):
    append("auth.sign_in", actor="u-3f2a9c0d1e4b5a6f7c8d")
    head = sign_head()
    call_command("verify_audit_log")
    assert capsys.readouterr().out.strip() == (
        f"OK: 1 entries, head size 1 root {head.root_hash} signed at {head.signed_at.isoformat()}"
    )


def test_verify_audit_log_prints_the_broken_entry_and_exits_1(signing_key, capsys):
    for _ in range(3):
        append("auth.sign_in", actor="u-3f2a9c0d1e4b5a6f7c8d")
    tamper(("UPDATE audit_auditentry SET action = 'auth.sign_out' WHERE seq = %s", [1]))
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_audit_log")
    assert exit_info.value.code == 1
    assert capsys.readouterr().out.startswith("BROKEN at entry 1: ")


def test_a_new_signing_key_is_private_to_its_owner_and_never_overwritten(tmp_path):
    path = tmp_path / "keys" / "audit.pem"
    key_id = generate_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        generate_signing_key(path)
    assert path.read_bytes() == before
    assert merkle.key_id(merkle.load_private_key_pem(before).public_key()) == key_id


def test_a_key_file_others_can_read_is_refused(signing_key):
    signing_key.chmod(0o644)
    with pytest.raises(ImproperlyConfigured, match="0600"):
        sign_head()


def test_a_missing_key_file_fails_loudly(settings, tmp_path):
    settings.AUDIT_SIGNING_KEY = ""
    settings.AUDIT_SIGNING_KEY_PATH = tmp_path / "absent.pem"
    with pytest.raises(ImproperlyConfigured, match="No audit signing key"):
        sign_head()


def test_the_key_can_come_from_the_environment_as_pem_text(settings, signing_key):
    expected = public_key_pem()
    settings.AUDIT_SIGNING_KEY = signing_key.read_text()
    settings.AUDIT_SIGNING_KEY_PATH = None
    assert public_key_pem() == expected
    assert public_key_pem().startswith("-----BEGIN PUBLIC KEY-----")
