"""The sealed format on its own, without Django or storage: layout and last-segment deferral."""

import io
import uuid

import pytest

from tests.support.blobs import random_bytes
from vault import TamperedError, VaultError
from vault.aead import (
    HEADER_SIZE,
    TAG_SIZE,
    DecryptingReader,
    EncryptingWriter,
    blob_layout,
)

SEGMENT = 1024
KEY = bytes(range(32))


class RecordingSink:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data) -> int:
        self.writes.append(bytes(data))
        return len(data)


def seal(data: bytes, object_id: uuid.UUID) -> bytes:
    sink = RecordingSink()
    writer = EncryptingWriter(sink, KEY, object_id, SEGMENT)
    writer.write(data)
    writer.finish()
    return b"".join(sink.writes)


@pytest.mark.parametrize("size", [0, 1, SEGMENT, SEGMENT + 1, 5 * SEGMENT, 5 * SEGMENT + 9])
def test_a_blob_is_the_header_plus_each_segment_and_its_tag(size):
    segments = max(1, -(-size // SEGMENT))

    blob = seal(random_bytes(size), uuid.uuid4())

    assert len(blob) == HEADER_SIZE + size + segments * TAG_SIZE
    assert blob_layout(len(blob), SEGMENT) == (size, segments)


def test_a_full_segment_is_held_back_until_more_data_shows_it_is_not_the_last():
    sink = RecordingSink()
    writer = EncryptingWriter(sink, KEY, uuid.uuid4(), SEGMENT)

    writer.write(random_bytes(SEGMENT))
    assert len(sink.writes) == 1  # only the header

    writer.write(b"x")
    assert [len(w) for w in sink.writes] == [HEADER_SIZE, SEGMENT + TAG_SIZE]

    writer.finish()
    assert [len(w) for w in sink.writes][-1] == 1 + TAG_SIZE
    with pytest.raises(VaultError):
        writer.write(b"late")


def test_the_same_plaintext_seals_differently_every_time():
    object_id = uuid.uuid4()
    data = random_bytes(3 * SEGMENT)

    assert seal(data, object_id) != seal(data, object_id)


def test_the_reader_decrypts_with_the_key_and_rejects_any_other():
    object_id = uuid.uuid4()
    data = random_bytes(3 * SEGMENT + 5)
    blob = seal(data, object_id)

    with DecryptingReader(io.BytesIO(blob), KEY, object_id) as reader:
        assert reader.read() == data
    with pytest.raises(TamperedError):
        DecryptingReader(io.BytesIO(blob), bytes(32), object_id)


def test_a_closed_reader_refuses_to_read():
    object_id = uuid.uuid4()
    reader = DecryptingReader(io.BytesIO(seal(b"abc", object_id)), KEY, object_id)
    reader.close()

    with pytest.raises(ValueError):
        reader.read(1)
    with pytest.raises(ValueError):
        reader.seek(0)


def test_a_segment_size_outside_the_supported_range_is_refused():
    with pytest.raises(VaultError, match="segment size"):
        EncryptingWriter(RecordingSink(), KEY, uuid.uuid4(), 16)
