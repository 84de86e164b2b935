"""The local blob store: private files, atomic commits, and cleanup of crashed writes."""

import os
import stat
import time
import uuid

import pytest

from vault import LocalBlobStore, VaultError


def test_a_committed_blob_is_a_private_file_in_a_fanned_out_folder(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    name = uuid.uuid4().hex

    writer = store.open_write(name)
    writer.write(b"sealed bytes")
    writer.commit()

    path = tmp_path / "blobs" / name[:2] / name
    assert path.read_bytes() == b"sealed bytes"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert store.exists(name)
    assert store.size(name) == len(b"sealed bytes")
    with store.open_read(name) as blob:
        assert blob.read() == b"sealed bytes"


def test_a_blob_being_written_is_only_a_partial_file_and_not_listed(tmp_path):
    store = LocalBlobStore(tmp_path)
    name = uuid.uuid4().hex

    writer = store.open_write(name)
    writer.write(b"half")

    [partial] = (tmp_path / name[:2]).iterdir()
    assert partial.name.startswith(name) and partial.name.endswith(".partial")
    assert not store.exists(name)
    assert list(store.names()) == []
    writer.abort()
    assert list((tmp_path / name[:2]).iterdir()) == []


def test_names_lists_committed_blobs_only(tmp_path):
    store = LocalBlobStore(tmp_path)
    names = sorted(uuid.uuid4().hex for _ in range(5))
    for name in names:
        writer = store.open_write(name)
        writer.write(b"x")
        writer.commit()
    unfinished = store.open_write(uuid.uuid4().hex)
    unfinished.write(b"never committed")

    assert list(store.names()) == names
    unfinished.abort()


def test_deleting_a_blob_twice_is_not_an_error(tmp_path):
    store = LocalBlobStore(tmp_path)
    name = uuid.uuid4().hex
    writer = store.open_write(name)
    writer.write(b"x")
    writer.commit()

    assert store.delete(name) is True
    assert store.delete(name) is False
    with pytest.raises(FileNotFoundError):
        store.open_read(name)


def test_names_that_could_escape_the_root_are_refused(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")

    for name in ["../../etc/passwd", "ABCDEF" * 6, "", "a" * 31]:
        with pytest.raises(VaultError):
            store.open_read(name)


def test_only_stale_partials_are_removed(tmp_path):
    store = LocalBlobStore(tmp_path)
    stale = store.open_write(uuid.uuid4().hex)
    stale.write(b"crashed")
    fresh = store.open_write(uuid.uuid4().hex)
    fresh.write(b"in progress")
    [stale_path] = [p for p in tmp_path.rglob("*.partial") if p.read_bytes() == b"crashed"]
    an_hour_ago = time.time() - 3600
    os.utime(stale_path, (an_hour_ago, an_hour_ago))

    assert store.remove_stale_partials(older_than_seconds=600) == 1

    [left] = tmp_path.rglob("*.partial")
    assert left.read_bytes() == b"in progress"
    stale.abort()
    fresh.abort()
