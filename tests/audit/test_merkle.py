"""The Merkle tree library against a naive reference written straight from RFC 6962 §2.1.

The reference below slices lists and recurses exactly as the RFC's definitions read; the library
uses a stack and index arithmetic. Agreement for every size and every pair up to 40-70 leaves is
the test vector.
"""

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import merkle


def ref_mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [ref_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, leaves[:k], complete), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


def data(n: int) -> list[bytes]:
    return [f"leaf {i}".encode() for i in range(n)]


def hashes(leaves: list[bytes]) -> list[bytes]:
    return [merkle.leaf_hash(leaf) for leaf in leaves]


def flip(digest: bytes) -> bytes:
    return bytes([digest[0] ^ 1]) + digest[1:]


def test_leaf_and_node_hashes_use_the_rfc_6962_domain_prefixes():
    assert merkle.leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = b"L" * 32, b"R" * 32
    assert merkle.node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    # The empty-leaf hash everyone quotes for RFC 6962: SHA-256 of the single byte 0x00.
    assert merkle.leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


@pytest.mark.parametrize("n", range(71))
def test_the_root_matches_the_reference_for_every_size_up_to_70(n):
    leaves = data(n)
    assert merkle.root_hash(hashes(leaves)) == ref_mth(leaves)


def test_the_incremental_root_is_right_after_every_append():
    leaves = data(70)
    tree = merkle.IncrementalTree()
    assert tree.root() == ref_mth([])
    for i, leaf in enumerate(hashes(leaves), start=1):
        tree.append(leaf)
        assert tree.size == i
        assert tree.root() == ref_mth(leaves[:i])


def test_a_root_over_100k_leaves_costs_one_node_hash_per_interior_node(monkeypatch):
    calls = 0
    real_node_hash = merkle.node_hash

    def counting(left: bytes, right: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return real_node_hash(left, right)

    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(100_000)]
    monkeypatch.setattr(merkle, "node_hash", counting)
    root = merkle.root_hash(leaves)
    assert calls == 100_000 - 1  # linear: a binary tree of n leaves has n - 1 interior nodes
    monkeypatch.setattr(merkle, "node_hash", real_node_hash)
    assert root == ref_mth([i.to_bytes(4, "big") for i in range(100_000)])


def test_inclusion_proofs_match_the_reference_and_verify_for_every_leaf_of_every_size_to_40():
    for n in range(1, 41):
        leaves = data(n)
        leaf_hashes = hashes(leaves)
        root = ref_mth(leaves)
        for m in range(n):
            proof = merkle.inclusion_proof(m, leaf_hashes)
            assert proof == ref_path(m, leaves), (m, n)
            assert merkle.verify_inclusion(m, n, leaf_hashes[m], proof, root), (m, n)


def test_an_inclusion_proof_fails_for_any_other_leaf_hash_index_root_or_path():
    for n in range(1, 41):
        leaf_hashes = hashes(data(n))
        root = merkle.root_hash(leaf_hashes)
        for m in range(n):
            proof = merkle.inclusion_proof(m, leaf_hashes)
            leaf = leaf_hashes[m]
            assert not merkle.verify_inclusion(m, n, flip(leaf), proof, root)
            assert not merkle.verify_inclusion(m, n, leaf, proof, flip(root))
            assert not merkle.verify_inclusion(n, n, leaf, proof, root)
            if n > 1:
                assert not merkle.verify_inclusion((m + 1) % n, n, leaf, proof, root)
            for i in range(len(proof)):
                altered = [*proof[:i], flip(proof[i]), *proof[i + 1 :]]
                assert not merkle.verify_inclusion(m, n, leaf, altered, root)
            assert not merkle.verify_inclusion(m, n, leaf, [*proof, root], root)


def test_consistency_proofs_match_the_reference_and_verify_for_every_pair_to_40():
    for n in range(1, 41):
        leaves = data(n)
        leaf_hashes = hashes(leaves)
        new_root = ref_mth(leaves)
        for m in range(0, n + 1):
            old_root = ref_mth(leaves[:m])
            proof = merkle.consistency_proof(m, leaf_hashes)
            expected = [] if m in (0, n) else ref_subproof(m, leaves, True)
            assert proof == expected, (m, n)
            assert merkle.verify_consistency(m, n, old_root, new_root, proof), (m, n)


def test_a_consistency_proof_fails_against_a_tree_that_rewrote_history():
    for n in range(2, 41):
        leaves = data(n)
        leaf_hashes = hashes(leaves)
        new_root = merkle.root_hash(leaf_hashes)
        for m in range(1, n):
            old_root = merkle.root_hash(leaf_hashes[:m])
            proof = merkle.consistency_proof(m, leaf_hashes)
            assert not merkle.verify_consistency(m, n, flip(old_root), new_root, proof)
            assert not merkle.verify_consistency(m, n, old_root, flip(new_root), proof)
            assert not merkle.verify_consistency(m, n, old_root, new_root, [])
            for i in range(len(proof)):
                altered = [*proof[:i], flip(proof[i]), *proof[i + 1 :]]
                assert not merkle.verify_consistency(m, n, old_root, new_root, altered)
            rewritten = [*leaves[: m - 1], b"rewritten", *leaves[m:]]
            assert not merkle.verify_consistency(
                m, n, old_root, ref_mth(rewritten), merkle.consistency_proof(m, hashes(rewritten))
            )


def test_a_signed_tree_head_verifies_only_for_its_own_size_root_time_and_key():
    key = Ed25519PrivateKey.generate()
    other = Ed25519PrivateKey.generate()
    root = merkle.root_hash(hashes(data(5)))
    sth = merkle.sign_tree_head(5, root, 1_700_000_000_000, key)
    assert merkle.verify_tree_head(sth, key.public_key())
    assert sth.key_id == merkle.key_id(key.public_key())
    assert not merkle.verify_tree_head(sth, other.public_key())
    for changed in (
        merkle.SignedTreeHead(6, root, sth.timestamp, sth.signature, sth.key_id),
        merkle.SignedTreeHead(5, flip(root), sth.timestamp, sth.signature, sth.key_id),
        merkle.SignedTreeHead(5, root, sth.timestamp + 1, sth.signature, sth.key_id),
        merkle.SignedTreeHead(5, root, sth.timestamp, bytes(64), sth.key_id),
    ):
        assert not merkle.verify_tree_head(changed, key.public_key())


def test_the_signed_bytes_are_the_rfc_6962_tree_head_structure():
    root = bytes(range(32))
    signed = merkle.tree_head_bytes(3, root, 258)
    assert signed == b"\x00\x01" + (258).to_bytes(8, "big") + (3).to_bytes(8, "big") + root


def test_canonical_json_sorts_keys_and_drops_whitespace():
    assert merkle.canonical_json({"b": 1, "a": [True, None, "x"]}) == '{"a":[true,null,"x"],"b":1}'
