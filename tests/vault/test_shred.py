"""Shredding: the wrapped data key goes first, so no copy of the blob can ever be read again."""

import pytest

from tests.support.blobs import blob_of, random_bytes, replace_blob
from vault import UnknownObjectError
from vault.models import VaultKey

pytestmark = pytest.mark.django_db


def test_a_shredded_object_reads_as_unknown(vault, django_capture_on_commit_callbacks):
    info = vault.put_bytes(random_bytes(10_000))

    with django_capture_on_commit_callbacks(execute=True):
        vault.shred(info.object_id)

    assert not vault.exists(info.object_id)
    assert not vault.store.exists(info.object_id.hex)
    with pytest.raises(UnknownObjectError):
        vault.read_bytes(info.object_id)
    with pytest.raises(UnknownObjectError):
        vault.size(info.object_id)


def test_the_key_is_destroyed_before_the_blob_which_goes_only_after_commit(
    vault, django_capture_on_commit_callbacks
):
    info = vault.put_bytes(random_bytes(10_000))

    with django_capture_on_commit_callbacks(execute=False) as pending:
        vault.shred(info.object_id)
        assert not VaultKey.objects.filter(object_id=info.object_id).exists()
        assert vault.store.exists(info.object_id.hex)

    for callback in pending:
        callback()
    assert not vault.store.exists(info.object_id.hex)


def test_a_restored_copy_of_a_shredded_blob_cannot_be_read(
    vault, django_capture_on_commit_callbacks
):
    info = vault.put_bytes(random_bytes(10_000))
    backup = blob_of(vault, info.object_id)

    with django_capture_on_commit_callbacks(execute=True):
        vault.shred(info.object_id)
    replace_blob(vault, info.object_id, backup)

    assert not vault.exists(info.object_id)
    with pytest.raises(UnknownObjectError):
        vault.read_bytes(info.object_id)


def test_shredding_twice_or_shredding_an_unknown_id_is_harmless(
    vault, django_capture_on_commit_callbacks
):
    info = vault.put_bytes(b"x")
    other = vault.put_bytes(b"y")

    with django_capture_on_commit_callbacks(execute=True):
        vault.shred(info.object_id)
        vault.shred(info.object_id)
        vault.shred(info.object_id.hex)

    assert vault.read_bytes(other.object_id) == b"y"
