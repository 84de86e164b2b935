"""The clinic admin's settings for the node: its AE title, the peers it accepts, DICOMweb tokens.

Every change is audited (ids only: an AE title or an address is not written to the log).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit.actions import AuditAction
from audit.log import append as audit
from clinic.pacs.models import AllowedPeer, DicomNode, DicomwebToken

# PS3.5 6.2: an AE title is at most 16 characters of the default repertoire, no backslash
# or control characters, and not only spaces.
AE_TITLE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")


def valid_ae_title(value: str) -> bool:
    return bool(AE_TITLE.fullmatch(value)) and bool(value.strip())


def current_node() -> DicomNode:
    node, _ = DicomNode.objects.get_or_create(pk=DicomNode.SINGLETON_PK)
    return node


def _changed(admin: User, what: str, object_id: str = "") -> None:
    audit(
        AuditAction.DICOM_NODE_CHANGED,
        actor=admin.pseudonym,
        object_type="dicom_node",
        object_id=object_id,
        details={"change": what},
    )


def set_ae_title(title: str, *, admin: User) -> None:
    with transaction.atomic():
        DicomNode.objects.update_or_create(
            pk=DicomNode.SINGLETON_PK, defaults={"ae_title": title.strip()}
        )
        _changed(admin, "ae_title")


def add_peer(ae_title: str, address: str, *, admin: User) -> AllowedPeer:
    with transaction.atomic():
        peer, _ = AllowedPeer.objects.get_or_create(ae_title=ae_title.strip(), address=address)
        _changed(admin, "peer_added", str(peer.pk))
    return peer


def remove_peer(peer_id: int, *, admin: User) -> bool:
    with transaction.atomic():
        deleted, _ = AllowedPeer.objects.filter(pk=peer_id).delete()
        if deleted:
            _changed(admin, "peer_removed", str(peer_id))
    return deleted > 0


def hash_token(clear: str) -> str:
    return hashlib.sha256(clear.encode()).hexdigest()


def issue_token(name: str, *, admin: User) -> str:
    """A new DICOMweb token; its clear value is returned once and never stored."""
    clear = DicomwebToken.PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = DicomwebToken.objects.create(
            name=name, token_hash=hash_token(clear), hint=clear[:10], created_by=admin.pseudonym
        )
        _changed(admin, "token_issued", str(token.pk))
    return clear


def revoke_token(token_id: int, *, admin: User) -> bool:
    with transaction.atomic():
        changed = DicomwebToken.objects.filter(pk=token_id, revoked_at=None).update(
            revoked_at=timezone.now()
        )
        if changed:
            _changed(admin, "token_revoked", str(token_id))
    return changed == 1


def token_for(header: str) -> DicomwebToken | None:
    """The live DICOMweb token a ``Bearer`` header carries, or None."""
    scheme, _, clear = header.partition(" ")
    clear = clear.strip()
    if scheme.lower() != "bearer" or not clear.startswith(DicomwebToken.PREFIX):
        return None
    token = DicomwebToken.objects.filter(token_hash=hash_token(clear), revoked_at=None).first()
    if token is not None:
        DicomwebToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token
