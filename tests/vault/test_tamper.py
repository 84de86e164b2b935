"""Every way a stored object can be altered is reported as TamperedError, with no plaintext."""

import base64
import json
import os
import uuid
from collections.abc import Callable

import pytest

from tests.support.blobs import SEGMENT, blob_of, random_bytes, replace_blob, segment_span
from vault import KeyNotFoundError, TamperedError, UnknownObjectError, get_vault
from vault.aead import HEADER_SIZE, TAG_SIZE
from vault.models import VaultKey

pytestmark = pytest.mark.django_db

SIZE = 4 * SEGMENT + 100  # five segments, the last one short


def flip(position: int) -> Callable[[bytes], bytes]:
    def tamper(blob: bytes) -> bytes:
        altered = bytearray(blob)
        altered[position] ^= 0x01
        return bytes(altered)

    return tamper


def swap_segments(blob: bytes) -> bytes:
    first, second = segment_span(1, SEGMENT), segment_span(2, SEGMENT)
    altered = bytearray(blob)
    altered[first], altered[second] = blob[second], blob[first]
    return bytes(altered)


def drop_final_segment(blob: bytes) -> bytes:
    return blob[: segment_span(3, SEGMENT).stop]


BLOB_TAMPERING = {
    "a flipped byte in the header magic": flip(0),
    "a flipped byte in the header salt": flip(20),
    "a flipped byte in the header nonce prefix": flip(45),
    "a flipped byte in the header object id": flip(HEADER_SIZE - 1),
    "a flipped byte in a middle segment": flip(segment_span(2, SEGMENT).start + 100),
    "a flipped byte in a segment's tag": flip(segment_span(1, SEGMENT).stop - 3),
    "a flipped byte in the last segment": flip(-30),
    "truncating inside the last segment": lambda blob: blob[:-40],
    "truncating inside the last tag": lambda blob: blob[:-5],
    "truncating to a segment boundary": drop_final_segment,
    "truncating to the header": lambda blob: blob[:HEADER_SIZE],
    "an empty blob": lambda blob: b"",
    "appended bytes": lambda blob: blob + bytes(TAG_SIZE + 1),
    "reordered segments": swap_segments,
}


@pytest.mark.parametrize("tamper", BLOB_TAMPERING.values(), ids=BLOB_TAMPERING.keys())
def test_an_altered_blob_is_reported_not_returned(vault, tamper):
    info = vault.put_bytes(random_bytes(SIZE))
    replace_blob(vault, info.object_id, tamper(blob_of(vault, info.object_id)))

    with pytest.raises(TamperedError):
        vault.read_bytes(info.object_id)
    with pytest.raises(TamperedError):
        list(vault.iter_chunks(info.object_id))


def test_truncation_is_caught_when_opening_before_any_read(vault):
    info = vault.put_bytes(random_bytes(SIZE))
    replace_blob(vault, info.object_id, drop_final_segment(blob_of(vault, info.object_id)))

    with pytest.raises(TamperedError, match="last segment failed authentication"):
        vault.open(info.object_id)
    with pytest.raises(TamperedError):
        vault.size(info.object_id)


def test_a_failed_segment_leaves_no_unauthenticated_plaintext_in_the_callers_buffer(vault):
    data = random_bytes(SIZE)
    info = vault.put_bytes(data)
    tamper = flip(segment_span(2, SEGMENT).start + 7)
    replace_blob(vault, info.object_id, tamper(blob_of(vault, info.object_id)))

    with vault.open(info.object_id) as reader:
        assert reader.read(SEGMENT) == data[:SEGMENT]  # untouched segments still authenticate
        buffer = bytearray(b"\xaa" * (3 * SEGMENT))
        with pytest.raises(TamperedError, match="segment 2 failed authentication"):
            reader.readinto(buffer)

    assert buffer[:SEGMENT] == data[SEGMENT : 2 * SEGMENT]
    assert buffer[SEGMENT : 2 * SEGMENT] == bytes(SEGMENT)


def test_a_segment_taken_from_another_object_is_rejected(vault):
    victim = vault.put_bytes(random_bytes(SIZE, seed=1))
    donor = vault.put_bytes(random_bytes(SIZE, seed=2))
    altered = bytearray(blob_of(vault, victim.object_id))
    span = segment_span(1, SEGMENT)
    altered[span] = blob_of(vault, donor.object_id)[span]
    replace_blob(vault, victim.object_id, bytes(altered))

    with pytest.raises(TamperedError, match="segment 1"):
        vault.read_bytes(victim.object_id)


def test_blobs_swapped_between_two_ids_are_rejected_both_ways(vault):
    first = vault.put_bytes(random_bytes(SIZE, seed=1))
    second = vault.put_bytes(random_bytes(SIZE, seed=2))
    first_blob, second_blob = blob_of(vault, first.object_id), blob_of(vault, second.object_id)
    replace_blob(vault, first.object_id, second_blob)
    replace_blob(vault, second.object_id, first_blob)

    for info in (first, second):
        with pytest.raises(TamperedError, match="belongs to another object"):
            vault.read_bytes(info.object_id)


def test_a_blob_relabelled_with_another_objects_id_is_rejected(vault):
    first = vault.put_bytes(random_bytes(SIZE, seed=1))
    second = vault.put_bytes(random_bytes(SIZE, seed=2))
    relabelled = bytearray(blob_of(vault, second.object_id))
    relabelled[HEADER_SIZE - 16 : HEADER_SIZE] = first.object_id.bytes
    replace_blob(vault, first.object_id, bytes(relabelled))

    with pytest.raises(TamperedError):
        vault.read_bytes(first.object_id)


def test_a_wrong_master_key_under_the_same_key_id_is_rejected(vault, keyring_path):
    info = vault.put_bytes(random_bytes(SIZE))
    doc = json.loads(keyring_path.read_text())
    doc["keys"][doc["primary"]] = base64.b64encode(os.urandom(32)).decode()
    keyring_path.write_text(json.dumps(doc))

    with pytest.raises(TamperedError, match="master key"):
        get_vault().read_bytes(info.object_id)


def test_a_wrapped_key_moved_to_another_object_is_rejected(vault):
    first = vault.put_bytes(random_bytes(SIZE, seed=1))
    second = vault.put_bytes(random_bytes(SIZE, seed=2))
    moved = VaultKey.objects.get(object_id=first.object_id).wrapped_key
    VaultKey.objects.filter(object_id=second.object_id).update(wrapped_key=moved)

    with pytest.raises(TamperedError, match="data key"):
        vault.read_bytes(second.object_id)


def test_a_flipped_byte_in_the_wrapped_key_is_rejected(vault):
    info = vault.put_bytes(random_bytes(100))
    wrapped = bytearray(VaultKey.objects.get(object_id=info.object_id).wrapped_key)
    wrapped[20] ^= 0x80
    VaultKey.objects.filter(object_id=info.object_id).update(wrapped_key=bytes(wrapped))

    with pytest.raises(TamperedError):
        vault.read_bytes(info.object_id)


def test_a_key_row_naming_an_unknown_master_key_raises_key_not_found(vault):
    info = vault.put_bytes(random_bytes(100))
    VaultKey.objects.filter(object_id=info.object_id).update(master_key_id="k-gone")

    with pytest.raises(KeyNotFoundError, match="k-gone"):
        vault.read_bytes(info.object_id)


def test_reading_an_id_that_was_never_stored_is_an_unknown_object(vault):
    with pytest.raises(UnknownObjectError):
        vault.read_bytes(uuid.uuid4())
