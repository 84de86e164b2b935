"""A chunk's run: its lease, its clean slate, the guard on every image it records, its end.

Each step is a conditional UPDATE or a check under the scan's row lock, so that:

* a chunk runs in one worker at a time (``claim``: a second message finds it held or done);
* a worker that died gives its chunk back once the lease runs out, and the next run first
  shreds what the dead one recorded (``discard``), so no image is ever recorded twice;
* an image is recorded only while the scan is still being de-identified and the chunk is still
  this run's (``count_image``, under the scan's row lock, which deleting a scan also takes): a
  late chunk's outputs are either committed before the deletion (and shredded by it) or refused
  after it (and shredded by the chunk itself); recording an image renews the chunk's lease;
* an image's commit does not wait for PostgreSQL to flush it to disk
  (``commit_image_without_waiting_for_wal``): a database crash may lose the last images a run
  recorded, and the chunk, still not done, is run again from a clean slate; every other commit
  of a chunk's run, its end above all, waits for the flush as usual;
* the study ends exactly once: the last chunk to finish, under the scan's row lock, sees every
  other chunk done and moves the scan on (``complete``); two chunks finishing together queue on
  the lock, so the second one sees the first one's chunk done.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from scans import pipeline
from scans.inventory import image_outputs
from scans.models import ChunkState, Outcome, Scan, ScanChunk, ScanImage, Status
from vault import get_vault

QUARANTINED_MESSAGE = gettext_noop(
    "No image could be made safe to share, so none can be sent. See each image's reason below."
)

NO_IMAGES_MESSAGE = gettext_noop(
    "These files hold no images (reports, plans, recordings or other documents), so there is "
    "nothing to send. Each file's description is listed below."
)


class LeaseLost(Exception):
    """The scan was deleted or failed, or another run took the chunk over, while this run
    was working."""


@dataclass(frozen=True)
class ChunkLease:
    chunk_id: uuid.UUID
    scan_id: uuid.UUID
    token: uuid.UUID
    first: int
    last: int

    def covers(self, position: int) -> bool:
        return self.first <= position <= self.last

    def renew(self) -> None:
        """Extend the lease by DEID_LEASE_SECONDS; raises LeaseLost if the run lost the chunk."""
        renewed = ScanChunk.objects.filter(
            pk=self.chunk_id,
            lease_token=self.token,
            state=ChunkState.RUNNING,
            scan__status=Status.DEIDENTIFYING,
        ).update(lease_expires_at=lease_expiry())
        if not renewed:
            raise LeaseLost(str(self.chunk_id))


def lease_expiry():
    return timezone.now() + timedelta(seconds=settings.DEID_LEASE_SECONDS)


def claim(chunk_id: str) -> ChunkLease | None:
    """Take the chunk for this run, or None if it is done, waiting its turn, held by a live
    run, or its scan is no longer being de-identified (deleted, failed)."""
    token = uuid.uuid4()
    now = timezone.now()
    claimed = (
        ScanChunk.objects.filter(
            pk=chunk_id,
            state__in=(ChunkState.QUEUED, ChunkState.RUNNING),
            scan__status=Status.DEIDENTIFYING,
        )
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(state=ChunkState.RUNNING, lease_token=token, lease_expires_at=lease_expiry())
    )
    if not claimed:
        return None
    chunk = ScanChunk.objects.get(pk=chunk_id)
    return ChunkLease(chunk.pk, chunk.scan_id, token, chunk.first_position, chunk.last_position)


def discard(lease: ChunkLease) -> int:
    """Shred what an earlier, interrupted run of this chunk recorded, so this run starts clean.

    Returns how many images were discarded (and taken off the scan's progress).
    """
    vault = get_vault()
    with transaction.atomic():
        check_held(lease)
        images = list(
            ScanImage.objects.filter(
                scan_id=lease.scan_id, position__gte=lease.first, position__lte=lease.last
            )
        )
        ScanImage.objects.filter(pk__in=[image.pk for image in images]).delete()
        if images:
            Scan.objects.filter(pk=lease.scan_id).update(
                progress_done=F("progress_done") - len(images)
            )
    # Shredded once the rows are gone: a crash in between leaves unreadable blobs, never rows
    # that point at nothing.
    for image in images:
        for obj in image_outputs(image):
            vault.shred(obj)
    return len(images)


def check_held(lease: ChunkLease) -> None:
    """Inside the caller's transaction: lock the scan's row and make sure this run may still
    write for it, renewing the chunk's lease (one statement checks and renews). Raises LeaseLost
    otherwise (the caller's transaction then rolls back)."""
    held = (
        Scan.objects.select_for_update()
        .filter(pk=lease.scan_id, status=Status.DEIDENTIFYING)
        .exists()
    )
    if not held or not ScanChunk.objects.filter(
        pk=lease.chunk_id, lease_token=lease.token, state=ChunkState.RUNNING
    ).update(lease_expires_at=lease_expiry()):
        raise LeaseLost(str(lease.chunk_id))


def commit_image_without_waiting_for_wal() -> None:
    """First thing in the transaction that records one image: on PostgreSQL, let its COMMIT
    return before the WAL is flushed to disk (``SET LOCAL synchronous_commit TO OFF``, this
    transaction only), which saves a disk flush per image.

    Why losing such a commit is safe. PostgreSQL never corrupts or reorders on a crash: it may
    only lose the last asynchronous commits, a suffix of the WAL (at most about three times
    ``wal_writer_delay``), never one that a later synchronous commit followed, since that flush
    covers all the WAL written before it. So after a database crash:

    * the chunk cannot be done: ``complete`` commits synchronously after every image of the
      chunk, so if the images are lost, so is nothing that says the chunk ended, and no scan
      moves on (to review, or to sending) without every image row it was counted from;
    * the lost rows are the chunk's last images, their vault keys and their progress: the blobs
      were flushed before the commit (``Vault.together``), so what survives is at most blobs
      without keys, unreadable noise, as after a worker killed mid-image;
    * the chunk's run lost its connection and stops (``OperationalError``: left to the
      sweeper); its lease, whose renewals may be lost too, runs out, the sweeper hands the chunk
      back, and the next run's ``discard`` shreds whatever of it did survive before running it
      whole again. No image is recorded twice, none is lost;
    * a deletion or a failure of the scan commits synchronously, which flushes any image
      committed before it: its shredding never misses a row that comes back after a crash.

    Inside a transaction the caller already opened (a test's, say) nothing is changed.
    """
    connection = transaction.get_connection()
    if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def count_image(lease: ChunkLease) -> None:
    """Inside the transaction that records an image, before its row is written: one more image
    on the scan's progress. The same UPDATE locks the scan's row (as ``check_held`` does, and as
    deleting or failing the scan does) and checks the scan is still being de-identified; then
    the chunk's lease is checked and renewed. Two statements where a lock, a check and a count
    took three. Raises LeaseLost if the run may no longer write (the caller's transaction then
    rolls back, the count with it)."""
    counted = Scan.objects.filter(pk=lease.scan_id, status=Status.DEIDENTIFYING).update(
        progress_done=F("progress_done") + 1
    )
    if not counted or not ScanChunk.objects.filter(
        pk=lease.chunk_id, lease_token=lease.token, state=ChunkState.RUNNING
    ).update(lease_expires_at=lease_expiry()):
        raise LeaseLost(str(lease.chunk_id))


def complete(lease: ChunkLease, cpu_seconds: float) -> dict[str, int] | None:
    """Mark the chunk done; if it was the study's last, end the study.

    Returns the study's counts per outcome when this call ended it, else None. Raises LeaseLost
    if the run no longer holds the chunk.
    """
    with transaction.atomic():
        check_held(lease)
        ScanChunk.objects.filter(pk=lease.chunk_id, lease_token=lease.token).update(
            state=ChunkState.DONE,
            finished_at=timezone.now(),
            cpu_seconds=cpu_seconds,
            lease_token=None,
            lease_expires_at=None,
        )
        return finish_if_done(lease.scan_id)


def finish_if_done(scan_id: uuid.UUID) -> dict[str, int] | None:
    """Inside a transaction holding the scan's row lock: when every chunk is done, move the scan
    to ready_for_review (some image clean), no_images (every file a non-image: nothing failed)
    or quarantined (no clean image and something held back), once."""
    if ScanChunk.objects.filter(scan_id=scan_id).exclude(state=ChunkState.DONE).exists():
        return None
    outcomes = list(ScanImage.objects.filter(scan_id=scan_id).values_list("outcome", flat=True))
    counts = {outcome.value: outcomes.count(outcome.value) for outcome in Outcome}
    clean = counts[Outcome.CLEAN.value]
    only_non_images = bool(outcomes) and counts[Outcome.NOT_IMAGE.value] == len(outcomes)
    if clean:
        target, message = Status.READY_FOR_REVIEW, ""
    elif only_non_images:
        target, message = Status.NO_IMAGES, NO_IMAGES_MESSAGE
    else:
        target, message = Status.QUARANTINED, QUARANTINED_MESSAGE
    ended = pipeline.transition(
        scan_id,
        target,
        expected={Status.DEIDENTIFYING},
        error_message=message,
        progress_done=len(outcomes),
        progress_total=len(outcomes),
        lease_token=None,
        lease_expires_at=None,
    )
    return counts if ended else None
