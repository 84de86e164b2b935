"""Writing, signing, checking and proving the audit log. The only code that writes audit rows.

Each entry commits to its predecessor (``prev_hash``) and is a leaf of an RFC 6962 Merkle tree
whose leaf index is ``seq``. Signed tree heads (RFC 6962 §3.5) pin the log's size and root at a
moment in time, so rewriting, removing or reordering entries, or cutting the tail, is detected
by ``verify_log``, and a receipt from ``receipt_for`` lets anyone check one entry offline.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from audit import merkle
from audit.models import AuditEntry, SignedTreeHead
from vault.keys import new_signing_key_pem

# pg_advisory_xact_lock key that serializes appends and head signing; no other code may use it.
APPEND_LOCK_KEY = 6962_0001

# Free text must never reach the log (it could carry a name or a diagnosis), so every value is
# checked against one of these shapes. Patterns are used with re.fullmatch: "$" would let a
# trailing newline through.
ACTOR = re.compile(r"system|worker|beat|cli|[a-z]{1,4}-[0-9a-f]{8,40}")
ACTION = re.compile(r"[a-z][a-z_]{0,30}(\.[a-z][a-z_]{0,30}){1,2}")
OBJECT_TYPE = re.compile(r"[a-z][a-z_]{0,31}")
IDENTIFIER = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # UUID
    r"|[0-9a-f]{8,64}"  # hex id or UUID without dashes
    r"|[0-9]{1,19}"  # integer primary key
    r"|[a-z]{1,4}-[0-9a-f]{8,40}"  # pseudonym such as u-3f2a...
)
DETAIL_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
ENUM_VALUE = re.compile(r"[a-z][a-z0-9_.-]{0,39}")  # e.g. "ok", "http_502", "ct", "scan.sent"
HEX_VALUE = re.compile(r"[0-9a-f]{16,128}")
MAX_DETAIL_KEYS = 32
MAX_LIST_ITEMS = 64
MAX_SAFE_INT = 2**53  # beyond this, JavaScript verifiers would round the number in the JSON


class DisallowedAuditValue(ValueError):
    """A value that is not an id, hash, count, status or enum; the message never quotes it."""


class LogBrokenError(RuntimeError):
    """The stored log no longer matches its own hashes or signed heads."""


class HeadNotSignedYet(Http404):
    """No signed head covers the entry yet, and this process may not sign one (the worker that
    holds the key signs it within moments). A 404 for the pages and the API alike."""


@dataclass(frozen=True)
class LogVerdict:
    ok: bool
    entries: int
    head: dict[str, Any] | None
    first_bad: int | None
    reason: str


def _check(pattern: re.Pattern[str], value: object, what: str, *, blank: bool = False) -> str:
    if not isinstance(value, str) or not (
        (blank and value == "") or pattern.fullmatch(value)
    ):
        raise DisallowedAuditValue(f"{what} is not in an allowed form")
    return value


def _check_scalar(value: object, key: str) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            raise DisallowedAuditValue(f"details[{key!r}] is too large")
        return
    if isinstance(value, str) and any(
        p.fullmatch(value) for p in (ENUM_VALUE, HEX_VALUE, IDENTIFIER)
    ):
        return
    raise DisallowedAuditValue(
        f"details[{key!r}] must be an int, bool, None, enum, hex hash or id"
    )


def validate_details(details: dict[str, Any]) -> dict[str, Any]:
    """Refuse anything but a flat whitelist of value shapes; floats are refused (see merkle)."""
    if not isinstance(details, dict) or len(details) > MAX_DETAIL_KEYS:
        raise DisallowedAuditValue("details must be a dict of at most 32 keys")
    for key, value in details.items():
        _check(DETAIL_KEY, key, "a details key")
        if isinstance(value, list):
            if len(value) > MAX_LIST_ITEMS:
                raise DisallowedAuditValue(f"details[{key!r}] has too many items")
            for item in value:
                _check_scalar(item, key)
        else:
            _check_scalar(value, key)
    return details


def _lock_log() -> None:
    """Serialize writers so seq and prev_hash stay gapless; call inside transaction.atomic().

    PostgreSQL: a transaction-scoped advisory lock, released at commit or rollback, so an entry
    rolled back with its surrounding transaction leaves no gap. SQLite: settings open every
    transaction with BEGIN IMMEDIATE, which already holds the database's single write lock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK_KEY])


def append(
    action: str,
    *,
    actor: str,
    object_type: str = "",
    object_id: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Record one event. Raises DisallowedAuditValue before writing anything that isn't an id,
    hash, count or enum. If called inside a transaction, the entry commits or rolls back with it
    (and later appends wait for it)."""
    _check(ACTION, action, "action")
    _check(ACTOR, actor, "actor")
    _check(OBJECT_TYPE, object_type, "object_type", blank=True)
    _check(IDENTIFIER, object_id, "object_id", blank=True)
    details = validate_details(dict(details or {}))
    with transaction.atomic():
        _lock_log()
        last = AuditEntry.objects.order_by("-seq").values_list("seq", "leaf_hash").first()
        seq, prev_hash = (last[0] + 1, last[1]) if last else (0, "")
        entry = AuditEntry(
            seq=seq,
            at=timezone.now(),
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            details=details,
            prev_hash=prev_hash,
        )
        entry.leaf_hash = entry.compute_leaf_hash()
        entry.save(force_insert=True)
    return entry


# --- The signing key ---------------------------------------------------------------------------


def _signing_key() -> Ed25519PrivateKey:
    """``settings.AUDIT_SIGNING_KEY`` (PEM text) if set, else the file at AUDIT_SIGNING_KEY_PATH.

    The key lives outside the database: whoever can rewrite the tables must not also be able to
    re-sign them. A key file others can read is refused, like ssh does.
    """
    pem = settings.AUDIT_SIGNING_KEY
    if pem:
        return merkle.load_private_key_pem(pem.encode("ascii"))
    configured = settings.AUDIT_SIGNING_KEY_PATH
    if not configured:
        raise ImproperlyConfigured("Set AUDIT_SIGNING_KEY_PATH (or AUDIT_SIGNING_KEY).")
    path = Path(configured)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise ImproperlyConfigured(
            f"No audit signing key at {path}; create one with generate_signing_key()."
        ) from exc
    if mode & 0o077:
        raise ImproperlyConfigured(f"The audit signing key {path} must be mode 0600.")
    return merkle.load_private_key_pem(path.read_bytes())


def generate_signing_key(path: str | Path) -> str:
    """Write a new Ed25519 key (PKCS#8 PEM, mode 0600) and return its key id.

    Refuses to overwrite: losing the old key would make every published head unverifiable.
    """
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = new_signing_key_pem()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # FileExistsError if present
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return merkle.key_id(merkle.load_private_key_pem(pem).public_key())


def can_sign() -> bool:
    """Whether this process holds the signing key. In production only the processes that sign
    (the sending worker, which also takes the periodic signing) do; web checks with the
    public key alone."""
    if settings.AUDIT_SIGNING_KEY:
        return True
    configured = settings.AUDIT_SIGNING_KEY_PATH
    return bool(configured) and Path(configured).exists()


def _public_key() -> Ed25519PublicKey:
    """From the signing key where this process holds it, else from AUDIT_PUBLIC_KEY_PATH."""
    if can_sign():
        return _signing_key().public_key()
    path = Path(settings.AUDIT_PUBLIC_KEY_PATH or "")
    if not path.is_file():
        raise ImproperlyConfigured(
            f"Neither the audit signing key nor its public key ({path}) is available; "
            "run 'manage.py init_keys'."
        )
    return merkle.load_public_key_pem(path.read_bytes())


def public_key_pem() -> str:
    """The key to publish next to receipts, so anyone can check them."""
    return merkle.public_key_to_pem(_public_key())


# --- Signed heads, verification, receipts ------------------------------------------------------


def _stored_leaves(below: int | None = None) -> Iterator[tuple[int, bytes]]:
    rows = AuditEntry.objects.order_by("seq").values_list("seq", "leaf_hash")
    if below is not None:
        rows = rows.filter(seq__lt=below)
    for seq, leaf in rows.iterator(chunk_size=5000):
        yield seq, bytes.fromhex(leaf)


def sign_head() -> SignedTreeHead:
    """Sign the log as it is now and store the head.

    Refuses (LogBrokenError) if the stored leaves have a gap or no longer reproduce the previous
    head's root: a new signature must never launder a rewritten history (RFC 6962 §2.1.2, a later
    head must extend the earlier one).
    """
    key = _signing_key()
    with transaction.atomic():
        _lock_log()
        previous = SignedTreeHead.objects.order_by("-id").first()
        tree = merkle.IncrementalTree()
        if previous is not None and previous.tree_size == 0:
            _require_root(previous, tree.root())
        for seq, leaf in _stored_leaves():
            if seq != tree.size:
                raise LogBrokenError(f"entry {tree.size} is missing")
            tree.append(leaf)
            if previous is not None and tree.size == previous.tree_size:
                _require_root(previous, tree.root())
        if previous is not None and tree.size < previous.tree_size:
            raise LogBrokenError("the log is shorter than its last signed head")
        timestamp = int(timezone.now().timestamp() * 1000)
        sth = merkle.sign_tree_head(tree.size, tree.root(), timestamp, key)
        return SignedTreeHead.objects.create(
            tree_size=sth.tree_size,
            root_hash=sth.root_hash.hex(),
            timestamp=sth.timestamp,
            signature=sth.to_json()["signature"],
            key_id=sth.key_id,
        )


def sign_head_if_grown() -> SignedTreeHead | None:
    """The periodic anchor: sign a new head only if entries were appended since the last one,
    so an idle gateway does not add a row every few minutes forever."""
    latest = SignedTreeHead.objects.order_by("-id").values_list("tree_size", flat=True).first()
    if latest is not None and latest == AuditEntry.objects.count():
        return None
    return sign_head()


def _require_root(head: SignedTreeHead, root: bytes) -> None:
    if root.hex() != head.root_hash:
        raise LogBrokenError(f"the log no longer matches its signed head of size {head.tree_size}")


def head_summary(head: SignedTreeHead | None) -> dict[str, Any] | None:
    if head is None:
        return None
    return {
        "tree_size": head.tree_size,
        "root_hash": head.root_hash,
        "timestamp": head.timestamp,
        "signed_at": head.signed_at.isoformat(),
        "key_id": head.key_id,
    }


def verify_log() -> LogVerdict:
    """Recompute everything from the stored fields and compare with the stored hashes and heads.

    One pass, linear time: every leaf hash and prev_hash link, then each signed head's signature
    and its root at its size. Heads are consistent with each other (RFC 6962 §2.1.2) exactly when
    each is the root of a prefix of the same verified leaves, which is what is checked; a head
    bigger than the log means its tail was cut. ``first_bad`` is the first entry that is broken
    or, for a bad head, the first entry no valid head vouches for.
    """
    public_key = _public_key()
    latest = head_summary(SignedTreeHead.objects.order_by("-id").first())
    heads = list(SignedTreeHead.objects.order_by("tree_size", "id"))
    tree = merkle.IncrementalTree()
    vouched = 0  # entries covered by a head that checked out
    next_head = 0

    def broken(first_bad: int, reason: str) -> LogVerdict:
        return LogVerdict(False, tree.size, latest, first_bad, reason)

    def check_heads() -> str | None:
        nonlocal next_head, vouched
        while next_head < len(heads) and heads[next_head].tree_size == tree.size:
            head = heads[next_head]
            try:
                valid = merkle.verify_tree_head(head.as_merkle(), public_key)
            except (ValueError, KeyError):
                valid = False
            if not valid:
                return f"signed head of size {head.tree_size} has an invalid signature"
            if head.root_hash != tree.root().hex():
                return f"entries before {head.tree_size} do not match their signed head's root"
            vouched = head.tree_size
            next_head += 1
        return None

    prev_hash = ""
    if problem := check_heads():
        return broken(vouched, problem)
    for entry in AuditEntry.objects.order_by("seq").iterator(chunk_size=2000):
        seq = tree.size
        if entry.seq != seq:
            return broken(seq, f"entry {seq} is missing")
        if entry.prev_hash != prev_hash:
            return broken(seq, "prev_hash does not match the previous entry's leaf hash")
        leaf = entry.compute_leaf_hash()
        if leaf != entry.leaf_hash:
            return broken(seq, "stored fields do not match the entry's leaf hash")
        tree.append(bytes.fromhex(leaf))
        prev_hash = leaf
        if problem := check_heads():
            return broken(vouched, problem)
    if next_head < len(heads):
        cut = heads[-1].tree_size
        return broken(tree.size, f"a signed head covers {cut} entries but the log has {tree.size}")
    unsigned = tree.size - vouched
    reason = "log intact" + (f"; {unsigned} newest entries not yet signed" if unsigned else "")
    return LogVerdict(True, tree.size, latest, None, reason)


def receipt_for(entry: AuditEntry) -> dict[str, Any]:
    """A self-contained proof that ``entry`` is in the signed log (format: RECEIPTS.md).

    Uses the latest signed head that covers the entry, signing a fresh one if none does. Raises
    LogBrokenError rather than hand out a receipt that would not verify.
    """
    head = SignedTreeHead.objects.filter(tree_size__gt=entry.seq).order_by("-id").first()
    if head is None:
        if not can_sign():
            raise HeadNotSignedYet("The receipt is being prepared. Try again in a minute.")
        head = sign_head()
    leaves = [leaf for _, leaf in _stored_leaves(below=head.tree_size)]
    entry_json = entry.canonical_json()
    if (
        len(leaves) != head.tree_size
        or merkle.root_hash(leaves).hex() != head.root_hash
        or merkle.leaf_hash(entry_json.encode("utf-8")) != leaves[entry.seq]
    ):
        raise LogBrokenError("the stored log does not match its signed head")
    proof = merkle.inclusion_proof(entry.seq, leaves)
    return merkle.make_receipt(entry_json, entry.seq, proof, head.as_merkle())


def events(
    *,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """Entries in log order. ``action`` ending in "." matches a family, e.g. "consent."."""
    qs = AuditEntry.objects.order_by("seq")
    if actor is not None:
        qs = qs.filter(actor=actor)
    if action is not None:
        family = action.endswith(".")
        qs = qs.filter(action__startswith=action) if family else qs.filter(action=action)
    if object_type is not None:
        qs = qs.filter(object_type=object_type)
    if object_id is not None:
        qs = qs.filter(object_id=object_id)
    if since is not None:
        qs = qs.filter(at__gte=since)
    if until is not None:
        qs = qs.filter(at__lt=until)
    return qs
