"""The verifier's attestation: proof that an image passed verification for a given scan.

A keyed MAC over the image's SHA-256 and the scan id, made with a key that only the verifier
(the de-identification worker) and the sender read. The sender recomputes it before anything
leaves; an image that was swapped, altered or never verified has no valid attestation.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from django.conf import settings

from vault.keys import read_key


def attest(sha256_hex: str, scan_id: uuid.UUID) -> str:
    key = read_key(settings.ATTESTATION_KEY_PATH)
    message = f"attest-v1|{scan_id}|{sha256_hex}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def is_attested(sha256_hex: str, scan_id: uuid.UUID, attestation: str) -> bool:
    if not attestation:
        return False
    return hmac.compare_digest(attest(sha256_hex, scan_id), attestation)
