"""The hashes a consent commits to: one spelling of JSON and one digest, shared by every step
that computes or re-checks them (preparing a request, accepting it, verifying before sending)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """One spelling per value (sorted keys, no whitespace), so its hash is reproducible."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
