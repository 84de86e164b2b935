"""Objects stored together: their blobs reach the disk in parallel, their keys commit with the
caller's transaction, and nothing is left of them if the transaction cannot commit."""

import os

import pytest
from django.db import transaction

from tests.support.blobs import SEGMENT, random_bytes
from vault import VaultError
from vault.models import VaultKey

pytestmark = pytest.mark.django_db


def test_objects_stored_together_read_back_once_the_block_ends(vault):
    datas = [random_bytes(size, seed=size) for size in (0, 17, 3 * SEGMENT + 5)]

    with transaction.atomic(), vault.together() as batch:
        infos = [batch.put_bytes(data) for data in datas]

    for info, data in zip(infos, datas, strict=True):
        assert vault.read_bytes(info.object_id) == data
        assert info.size == len(data)
    assert VaultKey.objects.filter(object_id__in=[info.object_id for info in infos]).count() == 3


def test_when_the_block_fails_no_key_and_no_blob_of_the_batch_is_left(vault):
    before = set(vault.store.names())

    with pytest.raises(RuntimeError), transaction.atomic(), vault.together() as batch:
        stored = [batch.put_bytes(random_bytes(2 * SEGMENT, seed=seed)) for seed in range(3)]
        raise RuntimeError("the image could not be recorded")

    assert not VaultKey.objects.filter(object_id__in=[info.object_id for info in stored]).exists()
    assert set(vault.store.names()) == before


def test_a_blob_that_cannot_reach_the_disk_fails_the_batch_and_takes_the_others_with_it(
    vault, monkeypatch
):
    """GIVEN a disk whose flush fails for one blob of a batch WHEN the batch ends THEN it
    raises, so the transaction cannot commit a key whose blob might not survive a crash, and
    no blob of the batch is left behind."""
    real_fsync, calls = os.fsync, []

    def fsync_failing_once(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 3:  # blobs flush in parallel: which one fails does not matter
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_failing_once)
    with pytest.raises(OSError), transaction.atomic(), vault.together() as batch:
        for seed in range(3):
            batch.put_bytes(random_bytes(SEGMENT, seed=seed))
    monkeypatch.setattr(os, "fsync", real_fsync)

    assert list(vault.store.names()) == []


@pytest.mark.django_db(transaction=True)
def test_objects_are_stored_together_only_inside_a_transaction(vault):
    """Outside one, each key would commit at once, before its blob is durable."""
    with pytest.raises(VaultError), vault.together():
        pass
