"""Resumable uploads: a file arrives in pieces, each sealed into the vault as it arrives.

A 2 GiB study over a slow or flaky link must survive a dropped connection or a closed laptop.
The browser (tus-js-client) and API clients speak tus 1.0 (``scans.tus``); this module is the
service behind it, with no HTTP in it:

* ``start_upload`` records the file's announced length (refused over the size, count or
  storage limits before a byte is sent);
* ``append_piece`` seals one request body as its own vault object and moves the offset, with a
  conditional update so two requests racing on one upload cannot both claim the same offset.
  A body cut off by a dropped connection is sealed as far as it arrived, so the client resumes
  exactly there;
* ``finish_uploads`` joins each file's pieces into one vault object (decrypting and re-sealing
  chunk by chunk, in memory only) and hands the files to ``submit_scan`` as one scan;
* ``discard_upload`` and ``discard_stale_uploads`` crypto-shred what will never be finished.

Nothing here ever holds more than one network chunk of plaintext, and nothing names the file.
"""

from __future__ import annotations

import errno
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.models import User
from scans.models import ResumableUpload, Scan
from scans.submission import submit_scan
from scans.upload import (
    STORAGE_FULL_MESSAGE,
    TOO_MANY_FILES,
    Rejection,
    SealedUpload,
    quota_refusal,
)
from vault import ObjectInfo, get_vault

log = logging.getLogger(__name__)

# How much of a request body is read (and sealed) at a time.
READ_BYTES = 1024 * 1024


class OffsetMismatch(Rejection):
    """The client's idea of how much arrived differs from ours (tus: 409 Conflict)."""

    def __init__(self) -> None:
        super().__init__(409, "This upload has moved on; ask for its offset and resume from there.")


def pending_bytes(user: User) -> int:
    """Bytes announced by this patient's unfinished uploads: they count against the quota."""
    total = ResumableUpload.objects.filter(owner=user).aggregate(total=Sum("length"))["total"]
    return int(total or 0)


def start_upload(user: User, length: int) -> ResumableUpload:
    """Record a new file of ``length`` bytes for ``user``, or raise a Rejection (nothing stored)."""
    if length <= 0:
        raise Rejection(400, gettext_noop("The file is empty; please choose it again."))
    if length > settings.UPLOAD_MAX_BYTES:
        raise Rejection(
            413,
            gettext_noop("The file is larger than the limit of %(mib)s MiB."),
            {"mib": settings.UPLOAD_MAX_BYTES // (1024 * 1024)},
        )
    if ResumableUpload.objects.filter(owner=user).count() >= settings.UPLOAD_MAX_FILES:
        raise Rejection(
            413,
            TOO_MANY_FILES,
            {"count": settings.UPLOAD_MAX_FILES},
        )
    refusal = quota_refusal(user, pending_bytes(user) + length)
    if refusal is not None:
        raise refusal
    return ResumableUpload.objects.create(owner=user, length=length)


def upload_of(user: User, upload_id: uuid.UUID) -> ResumableUpload | None:
    return ResumableUpload.objects.filter(owner=user, pk=upload_id).first()


def append_piece(
    upload: ResumableUpload, offset: int, read: Callable[[int], bytes], declared: int | None
) -> int:
    """Seal what ``read`` yields (up to ``declared`` bytes) as the piece starting at ``offset``.

    Returns the new offset. Raises OffsetMismatch if ``offset`` is not where the upload stands
    (the piece is then shredded), or a Rejection if the piece would pass the announced length.
    A body that stops early (the connection dropped) is kept as far as it arrived.
    """
    if offset != upload.offset:
        raise OffsetMismatch()
    room = upload.length - offset
    if declared is not None and declared > room:
        raise Rejection(413, gettext_noop("This piece would make the file longer than announced."))
    want = room if declared is None else declared
    vault = get_vault()
    writer = vault.create(digest=False)
    received = 0
    try:
        while received < want:
            try:
                data = read(min(READ_BYTES, want - received))
            except OSError:
                # The connection dropped mid-piece: keep what arrived, the client resumes there.
                break
            if not data:
                break
            writer.write(data)
            received += len(data)
        info = writer.close()
    except OSError as exc:
        writer.abort()
        if _storage_full(exc):
            raise Rejection(507, STORAGE_FULL_MESSAGE) from exc
        raise
    except BaseException:
        writer.abort()
        raise
    if received == 0:
        vault.shred(info.object_id)
        return offset
    return _claim_piece(upload, offset, info)


def _storage_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _claim_piece(upload: ResumableUpload, offset: int, info: ObjectInfo) -> int:
    """Move the offset only if nobody else moved it meanwhile; otherwise shred our piece."""
    with transaction.atomic():
        locked = ResumableUpload.objects.select_for_update().filter(pk=upload.pk).first()
        if locked is None or locked.offset != offset:
            transaction.on_commit(lambda: get_vault().shred(info.object_id))
            raise OffsetMismatch()
        locked.segments = [*locked.segments, [str(info.object_id), info.size]]
        locked.offset = offset + info.size
        locked.save(update_fields=["segments", "offset", "updated_at"])
    upload.offset, upload.segments = locked.offset, locked.segments
    return locked.offset


def _join(upload: ResumableUpload) -> ObjectInfo:
    """One vault object holding the file's pieces in order (re-sealed chunk by chunk)."""
    vault = get_vault()
    if len(upload.segments) == 1:
        object_id, size = upload.segments[0]
        return ObjectInfo(uuid.UUID(object_id), int(size), "")
    with vault.create(digest=False) as writer:
        for object_id, _size in upload.segments:
            for chunk in vault.iter_chunks(object_id):
                writer.write(chunk)
    info = writer.close()
    for object_id, _size in upload.segments:
        vault.shred(object_id)
    return info


def finish_uploads(user: User, upload_ids: Sequence[uuid.UUID]) -> Scan:
    """Turn this patient's finished uploads, in the given order, into one scan.

    Raises a Rejection for an unknown or unfinished upload, or IntakeRejected (from
    ``submit_scan``) for a file that is not acceptable; the files are then shredded, as a
    refused form upload is, so a refusal never leaves anything stored.
    """
    if not upload_ids:
        raise Rejection(400, gettext_noop("Choose at least one file to upload."))
    uploads = list(ResumableUpload.objects.filter(owner=user, pk__in=upload_ids))
    by_id = {u.pk: u for u in uploads}
    if len(by_id) != len(set(upload_ids)):
        raise Rejection(
            404, gettext_noop("One of these uploads is not known here; please upload it again.")
        )
    ordered = [by_id[i] for i in dict.fromkeys(upload_ids)]
    if any(not u.complete for u in ordered):
        raise Rejection(409, gettext_noop("One of the files has not finished uploading yet."))
    sealed = [SealedUpload(_join(upload), position=n) for n, upload in enumerate(ordered, start=1)]
    ResumableUpload.objects.filter(pk__in=[u.pk for u in ordered]).delete()
    try:
        scan = submit_scan(user, sealed)
    finally:
        for item in sealed:
            if not item.claimed:
                get_vault().shred(item.info.object_id)
    log.info("scan %s assembled from %d resumable upload(s)", scan.pk, len(sealed))
    return scan


def discard_upload(upload: ResumableUpload) -> None:
    """Crypto-shred every piece of an upload the patient abandoned, then forget it."""
    for object_id, _size in upload.segments:
        get_vault().shred(object_id)
    upload.delete()


def discard_stale_uploads() -> int:
    """Shred uploads untouched for RESUMABLE_UPLOAD_TTL_SECONDS. Returns how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.RESUMABLE_UPLOAD_TTL_SECONDS)
    stale = list(ResumableUpload.objects.filter(updated_at__lt=cutoff))
    for upload in stale:
        discard_upload(upload)
    if stale:
        log.info("shredded %d abandoned resumable upload(s)", len(stale))
    return len(stale)
