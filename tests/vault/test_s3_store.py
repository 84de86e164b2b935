"""The S3 blob store against a real S3-compatible server (SeaweedFS).

The vault's behaviour on S3 (round trips, tampering, shredding, rotation) is covered by the same
tests as on local disk, through the parametrized ``vault`` fixture. These tests cover what only
an object store has: multipart uploads that are invisible until completed and leave nothing
behind when aborted, ranged reads, prefixes, and what actually reaches the bucket.
"""

import tracemalloc
import uuid
from collections.abc import Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.support.blobs import random_bytes
from tests.support.s3server import S3Server
from vault import S3BlobStore, TamperedError, UnknownObjectError, VaultError, get_vault
from vault.models import VaultKey
from vault.s3 import MIN_PART_SIZE

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.parametrize("vault_settings", ["s3"], indirect=True),
]

READ_AHEAD = 64 * 1024


@pytest.fixture
def calls(s3_server: S3Server) -> Iterator[tuple[object, list[tuple[str, dict]]]]:
    """A client of its own that records every S3 operation it sends, with its parameters."""
    client = s3_server.client()
    seen: list[tuple[str, dict]] = []

    def record(model, params, **kwargs) -> None:
        seen.append((model.name, dict(params)))

    client.meta.events.register("provide-client-params.s3", record)
    yield client, seen


@pytest.fixture
def store(vault_settings, calls) -> S3BlobStore:
    """The vault's bucket and prefix, through the recording client, with the smallest parts."""
    client, _ = calls
    return S3BlobStore(
        client,
        vault_settings.VAULT_S3_BUCKET,
        vault_settings.VAULT_S3_PREFIX,
        part_size=MIN_PART_SIZE,
        read_ahead=READ_AHEAD,
    )


def operations(calls) -> list[str]:
    return [name for name, _ in calls[1]]


def write_in_chunks(store: S3BlobStore, name: str, data: bytes, chunk: int = 1_000_003):
    writer = store.open_write(name)
    for start in range(0, len(data), chunk):
        writer.write(data[start : start + chunk])
    return writer


def pending_uploads(store: S3BlobStore) -> list:
    listed = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix)
    return listed.get("Uploads", [])


def test_a_large_blob_is_uploaded_in_parts_and_invisible_until_commit(store, calls):
    data = random_bytes(2 * MIN_PART_SIZE + 12345)
    name = uuid.uuid4().hex

    writer = write_in_chunks(store, name, data)

    assert not store.exists(name)
    assert list(store.names()) == []
    assert len(pending_uploads(store)) == 1
    writer.commit()
    assert store.exists(name)
    assert store.size(name) == len(data)
    assert list(store.names()) == [name]
    assert pending_uploads(store) == []
    assert operations(calls).count("UploadPart") == 3
    with store.open_read(name) as blob:
        assert blob.read() == data


def test_a_blob_smaller_than_a_part_is_one_put_at_commit(store, calls):
    name = uuid.uuid4().hex

    writer = write_in_chunks(store, name, random_bytes(MIN_PART_SIZE - 1), chunk=4096)
    assert operations(calls) == []
    writer.commit()

    assert operations(calls) == ["PutObject"]
    assert store.size(name) == MIN_PART_SIZE - 1


def test_aborting_a_multipart_write_leaves_no_object_and_no_upload(store):
    name = uuid.uuid4().hex
    writer = write_in_chunks(store, name, random_bytes(MIN_PART_SIZE + 10))
    assert len(pending_uploads(store)) == 1

    writer.abort()
    writer.abort()

    assert not store.exists(name)
    assert pending_uploads(store) == []


def fail_on(client, operation: str, part_number: int) -> None:
    """Make the client fail one request the way a dropped connection would."""

    def interrupt(params, **kwargs) -> None:
        if params.get("PartNumber", part_number) == part_number:
            raise ConnectionResetError(f"{operation} interrupted by the test")

    client.meta.events.register(f"provide-client-params.s3.{operation}", interrupt)


def test_a_failed_part_upload_aborts_the_whole_blob(store, calls):
    fail_on(calls[0], "UploadPart", part_number=2)
    name = uuid.uuid4().hex

    with pytest.raises(ConnectionResetError):
        write_in_chunks(store, name, random_bytes(2 * MIN_PART_SIZE + 1))

    assert "AbortMultipartUpload" in operations(calls)
    assert not store.exists(name)
    assert pending_uploads(store) == []


def test_a_failed_completion_aborts_the_upload(store, calls):
    fail_on(calls[0], "CompleteMultipartUpload", part_number=0)
    name = uuid.uuid4().hex
    writer = write_in_chunks(store, name, random_bytes(MIN_PART_SIZE + 1))

    with pytest.raises(ConnectionResetError):
        writer.commit()

    assert not store.exists(name)
    assert pending_uploads(store) == []


def test_a_vault_object_aborted_mid_upload_leaves_nothing_in_the_bucket(vault):
    vault.store.part_size = MIN_PART_SIZE
    with pytest.raises(RuntimeError), vault.create() as writer:
        writer.write(random_bytes(MIN_PART_SIZE + 4096))
        raise RuntimeError("upload interrupted")

    assert list(vault.store.names()) == []
    assert pending_uploads(vault.store) == []
    assert not VaultKey.objects.filter(object_id=writer.object_id).exists()


def test_the_bucket_only_ever_receives_ciphertext(vault, s3_server):
    marker = b"PATIENT^JANE DOE 1970-01-01 " * 2000
    info = vault.put_bytes(marker)

    raw = (
        s3_server.client()
        .get_object(Bucket=vault.store.bucket, Key=vault.store.prefix + info.object_id.hex)["Body"]
        .read()
    )

    assert b"PATIENT" not in raw
    assert b"JANE DOE" not in raw
    assert vault.read_bytes(info.object_id) == marker


def test_seeking_in_a_vault_object_fetches_ranges_not_the_whole_blob(vault_settings, store, calls):
    vault_settings.VAULT_SEGMENT_SIZE = 16 * 1024
    vault = get_vault()
    data = random_bytes(64 * 16 * 1024 + 5)
    info = vault.put_bytes(data)
    vault.store = store  # read through the recording client
    calls[1].clear()

    with vault.open(info.object_id) as reader:
        reader.seek(40 * 16 * 1024 + 3)
        assert reader.read(100) == data[40 * 16 * 1024 + 3 :][:100]

    fetched = [params["Range"] for name, params in calls[1] if name == "GetObject"]
    spans = [tuple(int(x) for x in r.removeprefix("bytes=").split("-")) for r in fetched]
    assert sum(end - start + 1 for start, end in spans) <= 3 * READ_AHEAD
    assert all(end - start + 1 <= READ_AHEAD for start, end in spans)


def test_memory_stays_within_one_part_while_streaming_through_s3(vault):
    vault.store.part_size = MIN_PART_SIZE
    chunk = random_bytes(64 * 1024)
    total = 3 * MIN_PART_SIZE + 12345

    tracemalloc.start()
    try:
        with vault.create() as writer:
            for _ in range(total // len(chunk)):
                writer.write(chunk)
            writer.write(chunk[: total % len(chunk)])
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        seen = sum(len(piece) for piece in vault.iter_chunks(writer.close().object_id))
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert seen == total
    assert write_peak < MIN_PART_SIZE + 2 * 1024 * 1024
    assert read_peak < 2 * 1024 * 1024 + 1024 * 1024


def test_stores_under_different_prefixes_do_not_see_each_others_blobs(store, s3_server):
    other = S3BlobStore(s3_server.client(), store.bucket, store.prefix + "other/")
    mine, theirs = uuid.uuid4().hex, uuid.uuid4().hex
    for target, name in ((store, mine), (other, theirs)):
        writer = target.open_write(name)
        writer.write(b"sealed")
        writer.commit()
    store.client.put_object(Bucket=store.bucket, Key=store.prefix + "README", Body=b"not a blob")

    assert list(store.names()) == [mine]
    assert list(other.names()) == [theirs]


def test_a_missing_blob_is_file_not_found_and_deleting_twice_is_harmless(store):
    name = uuid.uuid4().hex
    with pytest.raises(FileNotFoundError):
        store.open_read(name)
    with pytest.raises(FileNotFoundError):
        store.size(name)
    writer = store.open_write(name)
    writer.write(b"x")
    writer.commit()

    assert store.delete(name) is True
    assert store.delete(name) is False
    assert not store.exists(name)


def swap_objects(store: S3BlobStore, first: str, second: str) -> None:
    """What someone with write access to the bucket could do, with server-side copies only."""
    client, bucket = store.client, store.bucket
    parking = store.prefix + "parking"
    client.copy_object(
        Bucket=bucket, Key=parking, CopySource={"Bucket": bucket, "Key": store.key(first)}
    )
    client.copy_object(
        Bucket=bucket, Key=store.key(first), CopySource={"Bucket": bucket, "Key": store.key(second)}
    )
    client.copy_object(
        Bucket=bucket, Key=store.key(second), CopySource={"Bucket": bucket, "Key": parking}
    )


def test_objects_swapped_inside_the_bucket_are_rejected(vault):
    first = vault.put_bytes(random_bytes(10_000, seed=1))
    second = vault.put_bytes(random_bytes(10_000, seed=2))

    swap_objects(vault.store, first.object_id.hex, second.object_id.hex)

    for info in (first, second):
        with pytest.raises(TamperedError, match="belongs to another object"):
            vault.read_bytes(info.object_id)


def test_a_blob_deleted_from_the_bucket_is_reported_not_read_as_empty(vault):
    info = vault.put_bytes(b"abc")
    vault.store.client.delete_object(
        Bucket=vault.store.bucket, Key=vault.store.key(info.object_id.hex)
    )

    assert not vault.exists(info.object_id)
    with pytest.raises(VaultError, match="blob is missing"):
        vault.read_bytes(info.object_id)


def test_get_vault_builds_the_s3_store_from_settings(vault_settings):
    vault = get_vault()

    assert isinstance(vault.store, S3BlobStore)
    assert vault.store.bucket == vault_settings.VAULT_S3_BUCKET
    assert vault.store.prefix == vault_settings.VAULT_S3_PREFIX
    assert "secret" not in repr(vault.store)


def test_an_s3_backend_without_a_bucket_is_improperly_configured(vault_settings):
    vault_settings.VAULT_S3_BUCKET = ""

    with pytest.raises(ImproperlyConfigured, match="VAULT_S3_BUCKET"):
        get_vault()


def test_a_shredded_object_cannot_be_read_even_from_a_copy_kept_in_the_bucket(
    vault, django_capture_on_commit_callbacks
):
    info = vault.put_bytes(random_bytes(10_000))
    key = vault.store.key(info.object_id.hex)
    copy = vault.store.prefix + "copy-" + info.object_id.hex
    client = vault.store.client
    client.copy_object(
        Bucket=vault.store.bucket, Key=copy, CopySource={"Bucket": vault.store.bucket, "Key": key}
    )

    with django_capture_on_commit_callbacks(execute=True):
        vault.shred(info.object_id)
    client.copy_object(
        Bucket=vault.store.bucket, Key=key, CopySource={"Bucket": vault.store.bucket, "Key": copy}
    )

    with pytest.raises(UnknownObjectError):
        vault.read_bytes(info.object_id)
