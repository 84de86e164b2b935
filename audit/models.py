"""The audit log: an append-only, hash-chained list of events, and the signed heads over it.

Rows hold pseudonymous actors, ids and hashes only, so crypto-shredding a patient's data never
needs to touch them. The database refuses UPDATE and DELETE on both tables (triggers installed by
migration 0002); ``audit.log`` is the only writer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import models

from audit import merkle


def format_instant(at: datetime) -> str:
    """UTC with microseconds and a Z: one spelling, so the leaf hash is reproducible."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditEntry(models.Model):
    # seq is the leaf index in the Merkle tree: 0, 1, 2, ... with no gaps.
    seq = models.BigIntegerField(primary_key=True)
    at = models.DateTimeField()
    actor = models.CharField(max_length=48)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    leaf_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["action", "at"]),
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["actor", "at"]),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"audit {self.seq} {self.action}"

    def canonical_fields(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": format_instant(self.at),
            "actor": self.actor,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "details": self.details,
            "prev_hash": self.prev_hash,
        }

    def canonical_json(self) -> str:
        """The exact leaf bytes (UTF-8) that the Merkle tree and receipts commit to."""
        return merkle.canonical_json(self.canonical_fields())

    def compute_leaf_hash(self) -> str:
        return merkle.leaf_hash(self.canonical_json().encode("utf-8")).hex()


class SignedTreeHead(models.Model):
    """An Ed25519 signature over (size, root, time) of the log, RFC 6962 §3.5."""

    tree_size = models.BigIntegerField()
    root_hash = models.CharField(max_length=64)
    timestamp = models.BigIntegerField(help_text="milliseconds since the Unix epoch")
    signature = models.CharField(max_length=100)  # base64
    key_id = models.CharField(max_length=64)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["tree_size"])]

    def __str__(self) -> str:
        return f"tree head size {self.tree_size}"

    @property
    def signed_at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp / 1000, tz=UTC)

    def as_merkle(self) -> merkle.SignedTreeHead:
        return merkle.SignedTreeHead.from_json(
            {
                "tree_size": self.tree_size,
                "root_hash": self.root_hash,
                "timestamp": self.timestamp,
                "signature": self.signature,
                "key_id": self.key_id,
            }
        )
