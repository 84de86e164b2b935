"""Master key rotation: every data key re-wrapped, no content re-encrypted, safe to rerun."""

import base64
import io
import json

import pytest
from django.core.management import CommandError, call_command

from tests.support.blobs import blob_of, random_bytes
from vault import Keyring, get_vault
from vault.models import VaultKey

pytestmark = pytest.mark.django_db


def rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_master_key", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def store_objects(vault, count: int) -> dict:
    return {
        info.object_id: data
        for data in (random_bytes(1000 * i + 1, seed=i) for i in range(count))
        for info in [vault.put_bytes(data)]
    }


def test_rotation_rewraps_every_key_and_leaves_the_content_untouched(vault, keyring_path):
    old_kid = vault.keyring.primary
    objects = store_objects(vault, 7)
    blobs = {oid: blob_of(vault, oid) for oid in objects}

    output = rotate("--batch-size", "3")

    new_kid = Keyring.from_file(keyring_path).primary
    assert new_kid != old_kid
    assert f"Re-wrapped 7 data keys under master key {new_kid}; 0 were already under it." in output
    assert set(VaultKey.objects.values_list("master_key_id", flat=True)) == {new_kid}
    rotated = get_vault()
    for oid, data in objects.items():
        assert blob_of(rotated, oid) == blobs[oid]
        assert rotated.read_bytes(oid) == data


def test_running_the_rotation_again_rewraps_nothing(vault, keyring_path):
    store_objects(vault, 4)
    rotate()
    new_kid = Keyring.from_file(keyring_path).primary

    output = rotate("--key-id", new_kid)

    assert f"Re-wrapped 0 data keys under master key {new_kid}; 4 were already under it." in output


def test_the_old_master_key_can_be_removed_once_rotation_is_done(vault, keyring_path):
    old_kid = vault.keyring.primary
    objects = store_objects(vault, 5)
    rotate()
    doc = json.loads(keyring_path.read_text())
    del doc["keys"][old_kid]
    keyring_path.write_text(json.dumps(doc))

    reduced = get_vault()

    assert reduced.keyring.key_ids == {doc["primary"]}
    for oid, data in objects.items():
        assert reduced.read_bytes(oid) == data


def test_objects_stored_after_rotation_use_the_new_primary(vault, keyring_path):
    rotate()
    new_kid = Keyring.from_file(keyring_path).primary

    info = get_vault().put_bytes(b"after rotation")

    assert VaultKey.objects.get(object_id=info.object_id).master_key_id == new_kid


ENV_KEYS = {"k-old": bytes([1]) * 32, "k-new": bytes([2]) * 32}


def env_keyring(primary: str, *kids: str) -> str:
    keys = {kid: base64.b64encode(ENV_KEYS[kid]).decode() for kid in kids}
    return json.dumps({"primary": primary, "keys": keys})


def test_with_the_keyring_in_the_environment_a_key_id_is_required(vault_settings):
    vault_settings.VAULT_KEYRING = env_keyring("k-old", "k-old")

    with pytest.raises(CommandError, match=r"Add a new key to VAULT_KEYRING.*--key-id"):
        rotate()


def test_with_the_keyring_in_the_environment_rotation_targets_the_named_key(vault_settings):
    vault_settings.VAULT_KEYRING = env_keyring("k-old", "k-old")
    objects = store_objects(get_vault(), 3)
    vault_settings.VAULT_KEYRING = env_keyring("k-new", "k-old", "k-new")

    output = rotate("--key-id", "k-new")

    assert "Re-wrapped 3 data keys under master key k-new; 0 were already under it." in output
    vault_settings.VAULT_KEYRING = env_keyring("k-new", "k-new")
    for oid, data in objects.items():
        assert get_vault().read_bytes(oid) == data


def test_an_unknown_target_key_id_is_refused(vault):
    store_objects(vault, 1)

    with pytest.raises(CommandError, match="k-nope is not in the keyring"):
        rotate("--key-id", "k-nope")
