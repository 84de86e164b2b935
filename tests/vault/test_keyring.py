"""Master keys: the keyring format, its file's permissions, and how the settings choose it."""

import base64
import json
import stat
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured

from vault import (
    KeyNotFoundError,
    Keyring,
    TamperedError,
    VaultError,
    add_master_key,
    generate_keyring_file,
    get_vault,
)


def keyring_json(primary: str, keys: dict[str, bytes]) -> str:
    encoded = {kid: base64.b64encode(key).decode() for kid, key in keys.items()}
    return json.dumps({"primary": primary, "keys": encoded})


def test_a_generated_keyring_file_is_private_and_holds_one_primary_key(tmp_path):
    path = tmp_path / "keys" / "keyring.json"

    kid = generate_keyring_file(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keyring = Keyring.from_file(path)
    assert keyring.primary == kid
    assert keyring.key_ids == {kid}
    assert list(path.parent.iterdir()) == [path]


def test_generating_a_keyring_never_overwrites_an_existing_one(tmp_path):
    path = tmp_path / "keyring.json"
    generate_keyring_file(path)
    before = path.read_bytes()

    with pytest.raises(VaultError, match="already exists"):
        generate_keyring_file(path)

    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_adding_a_master_key_makes_it_primary_and_keeps_the_old_ones(tmp_path):
    path = tmp_path / "keyring.json"
    first = generate_keyring_file(path)
    old_key_wrap = Keyring.from_file(path).wrap(uuid.UUID(int=1), bytes(range(32)))

    second = add_master_key(path)

    keyring = Keyring.from_file(path)
    assert second != first
    assert keyring.primary == second
    assert keyring.key_ids == {first, second}
    assert keyring.unwrap(uuid.UUID(int=1), *old_key_wrap) == bytes(range(32))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_keyring_file_other_users_can_read_is_refused(tmp_path, mode):
    path = tmp_path / "keyring.json"
    generate_keyring_file(path)
    path.chmod(mode)

    with pytest.raises(VaultError, match="must be 0600"):
        Keyring.from_file(path)
    with pytest.raises(VaultError, match="must be 0600"):
        add_master_key(path)


def test_a_missing_keyring_file_is_a_clear_error(tmp_path):
    with pytest.raises(VaultError, match="does not exist"):
        Keyring.from_file(tmp_path / "nowhere.json")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("not json", "not valid JSON"),
        ('["a list"]', "expected"),
        (keyring_json("k-2", {"k-1": bytes(32)}), "primary key id k-2"),
        (keyring_json("k-1", {"k-1": bytes(16)}), "not 32 bytes"),
        ('{"primary": "k-1", "keys": {"k-1": "%%%"}}', "not valid base64"),
        ('{"primary": "k-1", "keys": {}}', "no keys"),
        (keyring_json("bad id", {"bad id": bytes(32)}), "key ids"),
    ],
)
def test_a_malformed_keyring_says_what_is_wrong(text, complaint):
    with pytest.raises(VaultError, match=complaint):
        Keyring.from_json(text)


def test_the_keyring_never_shows_its_key_material():
    key = bytes(range(32))
    keyring = Keyring({"k-1": key}, "k-1")

    assert base64.b64encode(key).decode() not in repr(keyring)
    assert "k-1" in repr(keyring)


def test_a_data_key_wrapped_for_one_object_cannot_be_unwrapped_for_another():
    keyring = Keyring({"k-1": bytes(32)}, "k-1")
    kid, wrapped = keyring.wrap(uuid.UUID(int=1), bytes(32))

    assert keyring.unwrap(uuid.UUID(int=1), kid, wrapped) == bytes(32)
    with pytest.raises(TamperedError):
        keyring.unwrap(uuid.UUID(int=2), kid, wrapped)
    with pytest.raises(KeyNotFoundError):
        keyring.unwrap(uuid.UUID(int=1), "k-unknown", wrapped)


def test_the_vault_keyring_setting_wins_over_the_keyring_file(vault_settings):
    vault_settings.VAULT_KEYRING = keyring_json("k-env", {"k-env": bytes(32)})

    assert get_vault().keyring.primary == "k-env"


def test_get_vault_is_cached_until_a_setting_or_the_keyring_file_changes(vault_settings, tmp_path):
    vault = get_vault()
    assert get_vault() is vault

    vault_settings.VAULT_BLOB_DIR = tmp_path / "other-blobs"
    moved = get_vault()
    assert moved is not vault

    new_kid = add_master_key(vault_settings.VAULT_KEYRING_PATH)
    assert get_vault() is not moved
    assert get_vault().keyring.primary == new_kid


def test_an_unknown_backend_is_improperly_configured(vault_settings):
    vault_settings.VAULT_BACKEND = "ftp"

    with pytest.raises(ImproperlyConfigured, match="VAULT_BACKEND"):
        get_vault()
