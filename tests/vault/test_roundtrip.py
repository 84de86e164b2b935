"""Storing and reading objects: exact round trips, streaming, seeking, and real file consumers."""

import hashlib
import io
import random
import tracemalloc
import zipfile

import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from tests.support.blobs import SEGMENT, random_bytes
from vault import ObjectInfo, VaultError, get_vault
from vault.models import VaultKey

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "size",
    [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 17, 4 * SEGMENT],
)
def test_an_object_reads_back_exactly_at_every_size_around_segment_boundaries(vault, size):
    data = random_bytes(size, seed=size)

    info = vault.put_bytes(data)

    assert info == ObjectInfo(info.object_id, size, hashlib.sha256(data).hexdigest())
    assert vault.read_bytes(info.object_id) == data
    assert b"".join(vault.iter_chunks(info.object_id)) == data
    assert vault.size(info.object_id) == size
    assert vault.exists(info.object_id)


def test_an_object_with_real_one_mebibyte_segments_round_trips(vault_settings):
    vault_settings.VAULT_SEGMENT_SIZE = 1024 * 1024
    vault = get_vault()
    data = random_bytes(2 * 1024 * 1024 + 12345)

    info = vault.put_bytes(data)

    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert vault.read_bytes(info.object_id) == data
    assert [len(c) for c in vault.iter_chunks(info.object_id)] == [1024 * 1024, 1024 * 1024, 12345]


def test_writes_of_any_size_give_the_same_object(vault):
    data = random_bytes(5 * SEGMENT + 300, seed=7)
    rng = random.Random(7)

    with vault.create() as writer:
        pos = 0
        for _ in range(2000):  # 1-byte writes first
            writer.write(data[pos : pos + 1])
            pos += 1
        while pos < len(data):
            step = rng.choice([1, 3, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT])
            writer.write(memoryview(data)[pos : pos + step])
            pos += step
    info = writer.close()

    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert vault.read_bytes(info.object_id) == data
    assert vault.read_bytes(vault.put_bytes(data).object_id) == data


def test_seeking_to_random_positions_reads_the_same_slice_as_the_plaintext(vault):
    data = random_bytes(6 * SEGMENT + 123, seed=3)
    info = vault.put_bytes(data)
    rng = random.Random(3)

    with vault.open(info.object_id) as reader:
        assert reader.seekable() and reader.readable()
        for _ in range(300):
            start = rng.randrange(0, len(data) + 10)
            length = rng.choice([0, 1, 7, SEGMENT - 1, SEGMENT, 2 * SEGMENT + 5])
            assert reader.seek(start) == start
            assert reader.read(length) == data[start : start + length]
            assert reader.tell() == min(start + length, max(start, len(data)))
        assert reader.seek(-10, io.SEEK_END) == len(data) - 10
        assert reader.read() == data[-10:]
        reader.seek(100)
        assert reader.seek(50, io.SEEK_CUR) == 150
        buffer = bytearray(3 * SEGMENT)
        assert reader.readinto(buffer) == len(buffer)
        assert buffer == data[150 : 150 + 3 * SEGMENT]
        reader.seek(len(data))
        assert reader.read(5) == b""


def test_zipfile_lists_and_extracts_members_from_a_vault_reader(vault):
    members = {f"series/{i:03d}.bin": random_bytes(1000 * i + 5, seed=i) for i in range(1, 12)}
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for position, (name, content) in enumerate(members.items()):
            method = zipfile.ZIP_DEFLATED if position % 2 else zipfile.ZIP_STORED
            zf.writestr(name, content, compress_type=method)
    info = vault.put_bytes(archive.getvalue())

    with vault.open(info.object_id) as reader, zipfile.ZipFile(reader) as zf:
        assert zf.namelist() == list(members)
        assert zf.testzip() is None
        for name in reversed(members):
            assert zf.read(name) == members[name]


def test_pydicom_reads_a_dataset_from_a_vault_reader(vault):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.Rows, ds.Columns = 64, 64
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = random_bytes(64 * 64, seed=5)
    encoded = io.BytesIO()
    ds.save_as(encoded, enforce_file_format=True)
    info = vault.put_bytes(encoded.getvalue())

    with vault.open(info.object_id) as reader:
        read_back = dcmread(reader)

    assert read_back.SOPInstanceUID == ds.SOPInstanceUID
    assert read_back.PixelData == ds.PixelData


def test_pillow_opens_an_image_from_a_vault_reader(vault):
    image = Image.frombytes("L", (120, 80), random_bytes(120 * 80, seed=9))
    encoded = io.BytesIO()
    image.save(encoded, format="PNG")
    info = vault.put_bytes(encoded.getvalue())

    with vault.open(info.object_id) as reader, Image.open(reader) as opened:
        assert opened.size == (120, 80)
        assert opened.tobytes() == image.tobytes()


def test_put_file_streams_from_file_objects_with_or_without_readinto(vault, tmp_path):
    data = random_bytes(7 * SEGMENT + 11, seed=11)
    path = tmp_path / "upload.bin"
    path.write_bytes(data)

    class ReadOnly:
        def __init__(self, raw: bytes) -> None:
            self._raw = io.BytesIO(raw)

        def read(self, n: int) -> bytes:
            return self._raw.read(min(n, 100))

    with path.open("rb") as handle:
        from_file = vault.put_file(handle)
    from_reader = vault.put_file(ReadOnly(data))

    for info in (from_file, from_reader):
        assert info.size == len(data)
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        assert vault.read_bytes(info.object_id) == data


def _leftovers(vault_settings):
    return sorted(p.name for p in vault_settings.VAULT_BLOB_DIR.rglob("*") if p.is_file())


def test_aborting_a_writer_leaves_no_blob_partial_or_key(vault, vault_settings):
    writer = vault.create()
    writer.write(random_bytes(3 * SEGMENT))

    writer.abort()
    writer.abort()

    assert _leftovers(vault_settings) == []
    assert not VaultKey.objects.filter(object_id=writer.object_id).exists()
    assert not vault.exists(writer.object_id)
    with pytest.raises(VaultError):
        writer.write(b"more")
    with pytest.raises(VaultError):
        writer.close()


def test_an_exception_inside_the_with_block_aborts_the_object(vault, vault_settings):
    with pytest.raises(RuntimeError), vault.create() as writer:
        writer.write(random_bytes(2 * SEGMENT + 1))
        raise RuntimeError("upload interrupted")

    assert _leftovers(vault_settings) == []
    assert not VaultKey.objects.filter(object_id=writer.object_id).exists()


def test_a_closed_writer_refuses_more_data_and_close_returns_the_same_info(vault):
    writer = vault.create()
    writer.write(b"abc")
    info = writer.close()

    assert writer.close() == info
    with pytest.raises(VaultError):
        writer.write(b"d")
    assert vault.read_bytes(info.object_id) == b"abc"


def test_memory_stays_flat_while_streaming_a_large_object(vault):
    chunk = random_bytes(64 * 1024)
    total = 16 * 1024 * 1024

    tracemalloc.start()
    try:
        with vault.create() as writer:
            for _ in range(total // len(chunk)):
                writer.write(chunk)
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        seen = 0
        for piece in vault.iter_chunks(writer.close().object_id):
            seen += len(piece)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert seen == total
    assert write_peak < 1024 * 1024
    assert read_peak < 1024 * 1024


def test_an_object_written_without_a_digest_reads_back_the_same(vault):
    data = random_bytes(3 * SEGMENT + 5, seed=11)

    with vault.create(digest=False) as writer:
        writer.write(data)
    info = writer.close()

    assert info.sha256 == ""
    assert info.size == len(data)
    assert vault.read_bytes(info.object_id) == data
