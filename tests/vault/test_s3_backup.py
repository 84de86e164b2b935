"""Backups of an instance whose blobs live in S3: ciphertext downloaded as it is, and uploaded
back into an empty prefix on restore."""

import tarfile
import uuid

import pytest

from tests.support.blobs import random_bytes
from vault import get_vault
from vault.backup import BLOBS_FILE, backup_data, restore

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.parametrize("vault_settings", ["s3"], indirect=True),
]


def test_s3_blobs_are_backed_up_as_stored_and_restore_into_an_empty_prefix(
    vault_settings, tmp_path
):
    content = random_bytes(6 * 1024 * 1024 + 3, seed=8)
    vault = get_vault()
    info = vault.put_bytes(content)
    with vault.store.open_read(info.object_id.hex) as blob:
        sealed = blob.read()

    manifest = backup_data(tmp_path / "data")

    assert manifest["blob_backend"] == "s3"
    with tarfile.open(tmp_path / "data" / BLOBS_FILE) as archive:
        assert archive.extractfile(info.object_id.hex).read() == sealed
    vault_settings.VAULT_S3_PREFIX = f"restored-{uuid.uuid4().hex[:8]}/"
    assert list(get_vault().store.names()) == []

    result = restore(tmp_path / "data", None, force=True)

    assert result.blobs == 1
    assert get_vault().read_bytes(info.object_id) == content
