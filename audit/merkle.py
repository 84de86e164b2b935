"""RFC 6962 Merkle trees, Ed25519 signed tree heads and self-contained receipts.

This module has no Django imports on purpose: a patient, an auditor or a regulator can check a
receipt with nothing but this file, Python and ``cryptography``::

    python -m audit.merkle verify-receipt receipt.json public.pem

Formats, fixed here and described for humans in RECEIPTS.md:

* leaf hash   = SHA-256(0x00 || leaf bytes)              (RFC 6962 §2.1)
* node hash   = SHA-256(0x01 || left || right)           (RFC 6962 §2.1)
* empty tree  = SHA-256("")                              (RFC 6962 §2.1)
* leaf bytes  = the entry's canonical JSON, UTF-8: keys sorted, no whitespace, ``ensure_ascii``
  off (non-ASCII stays literal UTF-8, as in RFC 8785). The audit log only admits ASCII values,
  so in practice the bytes are the same either way; floats are refused, because their textual
  form differs between JSON libraries.
* signed data = the RFC 6962 §3.5 TreeHeadSignature structure for a tree head:
  version v1 (0x00) || signature_type tree_hash (0x01) || timestamp (uint64 big-endian,
  milliseconds since the epoch) || tree_size (uint64 big-endian) || root hash (32 bytes),
  signed with Ed25519 (RFC 8032).
* key id      = hex SHA-256 of the public key's DER SubjectPublicKeyInfo (RFC 6962 §3.2 LogID).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

RECEIPT_FORMAT = "scan-gateway-audit-receipt/1"
HASH_SIZE = 32


def canonical_json(value: Any) -> str:
    """Serialize ``value`` the one way every verifier can reproduce byte for byte."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 §2.1: the 0x00 prefix keeps a leaf from ever being read as an interior node."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 §2.1: interior nodes carry a 0x01 prefix (second-preimage resistance)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


class IncrementalTree:
    """The root of a growing RFC 6962 tree in O(log n) memory and one node hash per append.

    A tree of n leaves is a row of perfect subtrees whose sizes are the binary digits of n, largest
    on the left (this is what the "largest power of two smaller than n" split of RFC 6962 §2.1
    produces). Appending merges equal-sized neighbours like a binary counter; the root folds the
    row from the right. Computing a root over 100k stored leaf hashes is therefore linear.
    """

    def __init__(self) -> None:
        self.size = 0
        self._subtrees: list[tuple[int, bytes]] = []  # (leaf count, hash), sizes decreasing

    def append(self, leaf: bytes) -> None:
        size, digest = 1, leaf
        while self._subtrees and self._subtrees[-1][0] == size:
            left_size, left = self._subtrees.pop()
            size, digest = left_size + size, node_hash(left, digest)
        self._subtrees.append((size, digest))
        self.size += 1

    def root(self) -> bytes:
        if not self._subtrees:
            return EMPTY_ROOT
        digest = self._subtrees[-1][1]
        for _, left in reversed(self._subtrees[:-1]):
            digest = node_hash(left, digest)
        return digest


def root_hash(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH(D[n]) (RFC 6962 §2.1) over already-computed leaf hashes, streamed."""
    tree = IncrementalTree()
    for leaf in leaf_hashes:
        tree.append(leaf)
    return tree.root()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1), RFC 6962 §2.1."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    tree = IncrementalTree()
    for i in range(start, end):
        tree.append(leaves[i])
    return tree.root()


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 §2.1.1, over leaf hashes; linear in n."""
    if not 0 <= index < len(leaves):
        raise ValueError("leaf index outside the tree")
    proof: list[bytes] = []
    start, end, m = 0, len(leaves), index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            proof.append(_subtree_root(leaves, start + k, end))
            end = start + k
        else:
            proof.append(_subtree_root(leaves, start, start + k))
            start, m = start + k, m - k
    proof.reverse()  # collected root-down; the RFC lists siblings leaf-up
    return proof


def verify_inclusion(
    index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """The RFC 9162 §2.1.3.2 algorithm: recompute the root from a leaf hash and its audit path."""
    if not 0 <= index < tree_size:
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 §2.1.2; empty when m is 0 or n (nothing to prove)."""
    n = len(leaves)
    if not 0 <= old_size <= n:
        raise ValueError("old tree size outside 0..n")
    if old_size in (0, n):
        return []
    proof: list[bytes] = []
    start, end, m, complete = 0, n, old_size, True
    # SUBPROOF(m, D[start:end], complete), unrolled; siblings are collected root-down.
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(_subtree_root(leaves, start + k, end))
            end = start + k
        else:
            proof.append(_subtree_root(leaves, start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        proof.append(_subtree_root(leaves, start, end))
    proof.reverse()
    return proof


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """The RFC 9162 §2.1.4.2 algorithm: is the old tree a prefix of the new one?"""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node here
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


# --- Signed tree heads -------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedTreeHead:
    tree_size: int
    root_hash: bytes
    timestamp: int  # milliseconds since the Unix epoch, as in RFC 6962 §3.5
    signature: bytes
    key_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": self.timestamp,
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "key_id": self.key_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignedTreeHead:
        """Parse strictly; raises ValueError on any malformed field."""
        size, timestamp = data["tree_size"], data["timestamp"]
        if type(size) is not int or type(timestamp) is not int or size < 0 or timestamp < 0:
            raise ValueError("tree_size and timestamp must be non-negative integers")
        root = bytes.fromhex(data["root_hash"])
        if len(root) != HASH_SIZE:
            raise ValueError("root_hash must be 32 bytes")
        signature = base64.b64decode(data["signature"], validate=True)
        key_id = data["key_id"]
        if not isinstance(key_id, str):
            raise ValueError("key_id must be a string")
        return cls(size, root, timestamp, signature, key_id)


def tree_head_bytes(tree_size: int, root: bytes, timestamp: int) -> bytes:
    """RFC 6962 §3.5 TreeHeadSignature: v1, tree_hash, timestamp, tree_size, root hash."""
    if len(root) != HASH_SIZE:
        raise ValueError("root hash must be 32 bytes")
    return (
        b"\x00\x01"
        + timestamp.to_bytes(8, "big")
        + tree_size.to_bytes(8, "big")
        + root
    )


def key_id(public_key: Ed25519PublicKey) -> str:
    """RFC 6962 §3.2: a log is named by the SHA-256 of its DER SubjectPublicKeyInfo."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def sign_tree_head(
    size: int, root_hash: bytes, timestamp: int, private_key: Ed25519PrivateKey
) -> SignedTreeHead:
    signature = private_key.sign(tree_head_bytes(size, root_hash, timestamp))
    return SignedTreeHead(size, root_hash, timestamp, signature, key_id(private_key.public_key()))


def verify_tree_head(sth: SignedTreeHead, public_key: Ed25519PublicKey) -> bool:
    """True only if this key signed exactly this size, root and timestamp."""
    if sth.key_id != key_id(public_key):
        return False
    try:
        signed = tree_head_bytes(sth.tree_size, sth.root_hash, sth.timestamp)
        public_key.verify(sth.signature, signed)
    except (InvalidSignature, ValueError, OverflowError):
        return False
    return True


def load_public_key_pem(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key is not an Ed25519 key")
    return key


def load_private_key_pem(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the signing key is not an Ed25519 key")
    return key


def public_key_to_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


# --- Receipts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptVerdict:
    ok: bool
    reason: str


def make_receipt(
    entry_json: str, leaf_index: int, proof: Sequence[bytes], sth: SignedTreeHead
) -> dict[str, Any]:
    """A receipt proves one entry is in the log as signed; see RECEIPTS.md for the format."""
    return {
        "format": RECEIPT_FORMAT,
        "entry": entry_json,
        "leaf_index": leaf_index,
        "inclusion_proof": [p.hex() for p in proof],
        "tree_head": sth.to_json(),
    }


def verify_receipt(receipt: dict[str, Any], public_key: Ed25519PublicKey) -> ReceiptVerdict:
    """Check a receipt with nothing but the receipt and the log's public key.

    Never raises on malformed input: a receipt is untrusted data, and every failure is a verdict.
    """
    try:
        if receipt.get("format") != RECEIPT_FORMAT:
            return ReceiptVerdict(False, "unknown receipt format")
        entry_json = receipt["entry"]
        index = receipt["leaf_index"]
        if not isinstance(entry_json, str) or type(index) is not int:
            return ReceiptVerdict(False, "entry must be a string and leaf_index an integer")
        entry = json.loads(entry_json)
        if not isinstance(entry, dict) or canonical_json(entry) != entry_json:
            return ReceiptVerdict(False, "entry is not canonical JSON")
        if entry.get("seq") != index:
            return ReceiptVerdict(False, "entry seq does not match leaf_index")
        proof = [bytes.fromhex(p) for p in receipt["inclusion_proof"]]
        if any(len(p) != HASH_SIZE for p in proof):
            return ReceiptVerdict(False, "inclusion proof hashes must be 32 bytes")
        sth = SignedTreeHead.from_json(receipt["tree_head"])
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError, binascii.Error):
        return ReceiptVerdict(False, "receipt is malformed")
    if not verify_tree_head(sth, public_key):
        return ReceiptVerdict(False, "tree head signature does not verify with this public key")
    leaf = leaf_hash(entry_json.encode("utf-8"))
    if not verify_inclusion(index, sth.tree_size, leaf, proof, sth.root_hash):
        return ReceiptVerdict(False, "entry is not included in the signed tree head")
    return ReceiptVerdict(
        True,
        f"entry {index} is included in the tree of size {sth.tree_size} "
        f"(root {sth.root_hash.hex()}) signed at {sth.timestamp} ms by key {sth.key_id}",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audit.merkle")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify-receipt", help="check an audit receipt offline")
    check.add_argument("receipt", type=Path)
    check.add_argument("public_key", type=Path, help="the log's Ed25519 public key (PEM)")
    args = parser.parse_args(argv)
    try:
        receipt = json.loads(args.receipt.read_text(encoding="utf-8"))
        public_key = load_public_key_pem(args.public_key.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        print(f"FAILED: cannot read input ({type(exc).__name__})")
        return 1
    if not isinstance(receipt, dict):
        print("FAILED: receipt is malformed")
        return 1
    verdict = verify_receipt(receipt, public_key)
    print(("OK: " if verdict.ok else "FAILED: ") + verdict.reason)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
