"""De-identifying one scan: the bodies of the ``process_scan`` and ``process_chunk`` tasks.

``process_scan`` plans: it claims the scan, cuts it into chunks (``scans.planning``: one chunk
for a small study, slice ranges by series for a large one), and hands them to the fair share
(``scans.fairshare``), running one of them itself. ``process_chunk`` runs a chunk, one image at a
time so memory stays bounded whatever the study's size:
claim -> for each image: decrypt -> clean -> verify -> seal outputs -> preview -> attest;
the last chunk to finish moves the scan to ready_for_review (some images clean) or quarantined
(none clean).

Each run holds a lease (the planner on the scan, a chunk's run on its chunk). A second message
while the lease is alive does nothing; after a crash the lease runs out, the sweeper hands the
work back, and the next run starts from a clean slate (it shreds whatever the dead run sealed),
so outputs are never duplicated (``scans.chunks`` says how).
Plaintext exists only in this process's memory: nothing is written to a temporary file.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO, cast

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from audit.actions import AuditAction
from audit.log import append as audit
from scans import attestation, chunks, fairshare, metrics, pipeline, planning
from scans.chunks import ChunkLease, LeaseLost
from scans.deid.engine import DeidKeys, DeidOptions, FileResult, Memo, deidentify_bytes
from scans.deid.preview import render_dicom_preview, render_photo_preview
from scans.intake import iter_zip_members
from scans.inventory import image_outputs
from scans.limits import intake_limits
from scans.logsafe import describe
from scans.models import FileKind, Outcome, Scan, ScanChunk, ScanFile, ScanImage, Status
from vault import get_vault
from vault.keys import read_key

log = logging.getLogger(__name__)

CLAIMABLE = (Status.UPLOADED, Status.QUEUED, Status.DEIDENTIFYING)


@dataclass
class Lease:
    scan_id: uuid.UUID
    token: uuid.UUID

    def renew(self) -> None:
        renewed = Scan.objects.filter(
            pk=self.scan_id, lease_token=self.token, status=Status.DEIDENTIFYING
        ).update(lease_expires_at=_lease_expiry())
        if not renewed:
            raise LeaseLost(str(self.scan_id))


def _lease_expiry():
    return timezone.now() + timedelta(seconds=settings.DEID_LEASE_SECONDS)


def claim(scan_id: str) -> Lease | None:
    """Take the scan for this run, or return None if it is done, deleted, or held by a live run."""
    token = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        scan = (
            Scan.objects.select_for_update()
            .filter(pk=scan_id, status__in=CLAIMABLE)
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
            .first()
        )
        if scan is None:
            return None
        if scan.status != Status.DEIDENTIFYING:
            pipeline.transition(scan.pk, Status.DEIDENTIFYING, expected={scan.status})
        Scan.objects.filter(pk=scan.pk).update(lease_token=token, lease_expires_at=_lease_expiry())
    return Lease(scan.pk, token)


def deid_keys() -> DeidKeys:
    return DeidKeys(secret=read_key(settings.DEID_KEY_PATH))


def deid_options() -> DeidOptions:
    return DeidOptions(
        retain_dates=settings.DEID_RETAIN_DATES,
        clean_descriptors=settings.DEID_CLEAN_DESCRIPTORS,
        exempt_modalities=settings.DEID_EXEMPT_MODALITIES,
    )


def discard_outputs(scan_id: uuid.UUID) -> None:
    """Shred what an earlier, interrupted run of this scan sealed, so this run starts clean."""
    vault = get_vault()
    for image in ScanImage.objects.filter(scan_id=scan_id):
        for obj in image_outputs(image):
            vault.shred(obj)
    ScanImage.objects.filter(scan_id=scan_id).delete()
    Scan.objects.filter(pk=scan_id).update(progress_done=0)


def iter_file_images(
    file: ScanFile, wanted: Callable[[int], bool] = lambda ordinal: True
) -> Iterator[tuple[int, bytes | None]]:
    """``(ordinal, plaintext)`` of each wanted image of an uploaded file: the file itself
    (ordinal 1), or each ZIP member (1-based among its images). Images not wanted are not read.

    An image larger than DEID_MAX_IMAGE_BYTES yields None instead of its bytes: one image is
    held in memory at a time, and that bound is what keeps a worker from being exhausted.
    """
    vault = get_vault()
    cap = settings.DEID_MAX_IMAGE_BYTES
    original = file.vault_object
    # Retention never takes the originals of a scan being processed (scans.busy).
    assert original is not None
    if file.kind != FileKind.ZIP:
        if wanted(1):
            yield 1, vault.read_bytes(original) if vault.size(original) <= cap else None
        return
    current = [0]

    def select(ordinal: int) -> bool:
        current[0] = ordinal
        return wanted(ordinal)

    with vault.open(original) as sealed:
        for _index, _kind, opener in iter_zip_members(
            cast(BinaryIO, sealed), intake_limits(), position=file.position, select=select
        ):
            ordinal = current[0]
            with opener() as member:
                data = member.read(cap + 1)
            yield ordinal, data if len(data) <= cap else None


def too_large(kind: str) -> FileResult:
    limit_mib = settings.DEID_MAX_IMAGE_BYTES // (1024 * 1024)
    return FileResult(
        "rejected",
        f"this image is larger than {limit_mib} MiB, more than the gateway processes safely",
        "dicom" if kind in (FileKind.DICOM, FileKind.ZIP) else "photo",
    )


FAILED_MESSAGE = gettext_noop(
    "Something went wrong while de-identifying this scan. "
    "Nothing was sent anywhere. Please delete it and upload it again."
)


def process_scan(scan_id: str) -> None:
    """Plan the scan's chunks and hand them out; run one of them here when its turn has come.

    A scan already planned (a redelivered message, the sweeper) is only handed out again.
    """
    if ScanChunk.objects.filter(scan_id=scan_id).exists():
        fairshare.dispatch()
        return
    lease = claim(scan_id)
    if lease is None:
        log.info("scan %s: nothing to do (done, deleted, or held by a live run)", scan_id)
        return
    try:
        discard_outputs(lease.scan_id)
        _record_plan(lease, planning.plan(Scan.objects.get(pk=lease.scan_id)))
    except LeaseLost:
        log.info("scan %s: lease lost while planning; leaving it to the holder", scan_id)
        return
    except (OperationalError, InterfaceError):
        # The database went away mid-run (a restart, a failover): nothing is wrong with the scan.
        # Its lease runs out and the sweeper hands it back; the next run starts from a clean
        # slate. Marking it failed here, once the connection is back, would lose the patient's
        # upload for a blip.
        log.warning("scan %s: database connection lost mid-run; left to the sweeper", scan_id)
        return
    except Exception as exc:
        log.error("scan %s: planning failed: %s", scan_id, describe(exc))
        fail(lease.scan_id)
        return
    mine = fairshare.dispatch(take_for=lease.scan_id)
    if mine is not None:
        process_chunk(str(mine))


def _record_plan(lease: Lease, ranges: list[tuple[int, int]]) -> None:
    """The chunks, all at once and only while the planner still holds the scan; the scan's own
    lease is then given up (each chunk's run holds its own)."""
    with transaction.atomic():
        held = (
            Scan.objects.select_for_update()
            .filter(pk=lease.scan_id, lease_token=lease.token, status=Status.DEIDENTIFYING)
            .exists()
        )
        if not held:
            raise LeaseLost(str(lease.scan_id))
        ScanChunk.objects.bulk_create(
            ScanChunk(
                scan_id=lease.scan_id, number=number, first_position=first, last_position=last
            )
            for number, (first, last) in enumerate(ranges, start=1)
        )
        Scan.objects.filter(pk=lease.scan_id).update(
            progress_done=0,
            progress_total=sum(last - first + 1 for first, last in ranges),
            lease_token=None,
            lease_expires_at=None,
        )
        if not ranges:
            _audit_end(lease.scan_id, chunks.finish_if_done(lease.scan_id))
    log.info("scan %s: planned in %d chunk(s)", lease.scan_id, len(ranges))


def process_chunk(chunk_id: str) -> None:
    """De-identify one chunk; the last chunk of a study ends it. Then hand out the next work."""
    lease = chunks.claim(chunk_id)
    if lease is None:
        log.info("chunk %s: nothing to do (done, waiting, or held by a live run)", chunk_id)
        return
    cpu = time.process_time()
    try:
        chunks.discard(lease)
        _process_range(lease)
        counts = chunks.complete(lease, cpu_seconds=time.process_time() - cpu)
    except LeaseLost:
        log.info("chunk %s: lease lost mid-run; leaving it to the holder", chunk_id)
    except (OperationalError, InterfaceError):
        # The database went away mid-run (a restart, a failover): nothing is wrong with the scan.
        # The chunk's lease runs out and the sweeper hands it back; failing the scan here would
        # lose the patient's upload for a blip.
        log.warning("chunk %s: database connection lost mid-run; left to the sweeper", chunk_id)
        return
    except Exception as exc:
        log.error("chunk %s: de-identification failed: %s", chunk_id, describe(exc))
        fail(lease.scan_id)
    else:
        _audit_end(lease.scan_id, counts)
    fairshare.dispatch()


def fail(scan_id: uuid.UUID, message: str = FAILED_MESSAGE) -> None:
    """End the scan as failed and shred every output; other chunks still running find their
    lease lost at their next image and leave nothing behind."""
    if not pipeline.transition(
        scan_id,
        Status.FAILED,
        expected={Status.DEIDENTIFYING},
        error_message=message,
        lease_token=None,
        lease_expires_at=None,
    ):
        return  # deleted meanwhile (deleting shreds everything) or already failed
    audit(
        AuditAction.SCAN_DEIDENTIFIED,
        actor="worker",
        object_type="scan",
        object_id=str(scan_id),
        details={"outcome": "failed"},
    )
    discard_outputs(scan_id)
    # A retry (failed -> queued) plans afresh.
    ScanChunk.objects.filter(scan_id=scan_id).delete()


def _audit_end(scan_id: uuid.UUID, counts: dict[str, int] | None) -> None:
    if counts is None:
        return
    clean = counts[Outcome.CLEAN.value]
    audit(
        AuditAction.SCAN_DEIDENTIFIED,
        actor="worker",
        object_type="scan",
        object_id=str(scan_id),
        details={
            "outcome": _end_outcome(counts),
            "clean": clean,
            "quarantined": counts[Outcome.QUARANTINED.value],
            "rejected": counts[Outcome.REJECTED.value],
            "not_image": counts[Outcome.NOT_IMAGE.value],
        },
    )
    log.info("scan %s: %d clean of %d image(s)", scan_id, clean, sum(counts.values()))


def _end_outcome(counts: dict[str, int]) -> str:
    if counts[Outcome.CLEAN.value]:
        return Status.READY_FOR_REVIEW.value
    if counts[Outcome.NOT_IMAGE.value] == sum(counts.values()):
        return Status.NO_IMAGES.value
    return Status.QUARANTINED.value


def _process_range(lease: ChunkLease) -> None:
    """The chunk's images, in order: files before the range are skipped unread."""
    keys, options = deid_keys(), deid_options()
    memo = Memo()  # a chunk is slices of one study: what repeats is worked out once
    scan = Scan.objects.get(pk=lease.scan_id)
    base = 0
    for file in scan.files.all():
        first, last = base + 1, base + file.image_count
        offset = base
        base = last
        if last < lease.first or first > lease.last:
            continue

        def wanted(ordinal: int, offset: int = offset) -> bool:
            return lease.covers(offset + ordinal)

        for ordinal, data in iter_file_images(file, wanted):
            started = time.monotonic()
            result = (
                deidentify_bytes(data, keys=keys, options=options, memo=memo)
                if data is not None
                else too_large(file.kind)
            )
            metrics.observe_deid_image(time.monotonic() - started, result.outcome)
            # Recording the image renews the chunk's lease (``chunks.count_image``).
            _store_image(scan, file, offset + ordinal, data or b"", result, lease)
            del data


def _store_image(
    scan: Scan,
    file: ScanFile,
    position: int,
    original: bytes,
    result: FileResult,
    lease: ChunkLease,
) -> None:
    """Seal one image's outputs and record it. Only clean images get a sanitized copy.

    The outputs' vault keys commit in one transaction with the image row, so a worker killed in
    between leaves no key for an object that no row references (which ``discard_outputs`` could
    never find, and deleting the scan could never shred): at most unreadable ciphertext. The row
    is written only if the chunk is still this run's and the scan still being de-identified,
    checked under the scan's row lock at the very end (``chunks.count_image``): a scan deleted
    meanwhile gets nothing, and what was sealed for it is shredded here.

    The three blobs are flushed to disk in parallel with the work that follows them
    (``Vault.together``), and the transaction commits only once all of them are durable; the
    commit itself does not wait for PostgreSQL's WAL flush
    (``chunks.commit_image_without_waiting_for_wal`` says why losing it is safe).
    """
    vault = get_vault()
    sealed: list[uuid.UUID] = []
    try:
        with transaction.atomic():
            chunks.commit_image_without_waiting_for_wal()
            image = ScanImage(
                scan=scan,
                source=file,
                position=position,
                outcome=result.outcome,
                reason=result.reason[:300],
                kind=result.kind,
                modality=result.modality[:16],
                report=result.report,
                needs_check=needs_check(result),
            )
            regions = result.report.get("pixels", {}).get("regions", [])
            flags = review_boxes(result)
            with vault.together() as batch:
                # Each blob reaches the disk on a helper thread while the next preview is drawn;
                # leaving ``together`` waits for all of them and records their keys, before the
                # row commits. Only the sanitized image's SHA-256 is used (its attestation).
                if Outcome(result.outcome) == Outcome.CLEAN and result.output is not None:
                    info = batch.put_bytes(result.output)
                    sealed.append(info.object_id)
                    image.sanitized_object = info.object_id
                    image.sanitized_sha256 = info.sha256
                    image.sanitized_size = info.size
                    image.attestation = attestation.attest(info.sha256, scan.pk)
                    preview = _preview(
                        result.kind, result.output, regions, outline=True, flags=flags
                    )
                    preview_info = batch.put_bytes(preview, digest=False)
                    sealed.append(preview_info.object_id)
                    image.preview_object = preview_info.object_id
                # The owner may compare with the original; its preview is sealed like everything
                # else. A non-image has no picture to show. (No statement runs here, so nothing
                # needs a savepoint: the batch records the keys when it ends.)
                with suppress(Exception):
                    if Outcome(result.outcome) == Outcome.NOT_IMAGE:
                        raise LookupError("not an image")
                    original_preview = _preview(result.kind, original, [], outline=False)
                    original_info = batch.put_bytes(original_preview, digest=False)
                    sealed.append(original_info.object_id)
                    image.original_preview_object = original_info.object_id
            chunks.count_image(lease)
            image.save()
    except Exception:
        # The keys rolled back with the transaction; shredding now removes the blobs too.
        for object_id in sealed:
            vault.shred(object_id)
        raise


def needs_check(result: FileResult) -> bool:
    """The pixel engine asked for a person to look at this image ("check this image")."""
    review = result.report.get("pixels", {}).get("review") or {}
    return Outcome(result.outcome) == Outcome.CLEAN and bool(review.get("needed"))


def review_boxes(result: FileResult) -> list:
    """The boxes to check, ``[frame, x, y, w, h, code]``, as the preview draws them."""
    review = result.report.get("pixels", {}).get("review") or {}
    return list(review.get("boxes") or [])


def _preview(
    kind: str, data: bytes, regions: list, *, outline: bool, flags: list | None = None
) -> bytes:
    if kind == "dicom":
        return render_dicom_preview(data, regions=regions, outline=outline, flags=flags)
    return render_photo_preview(data, regions=regions, outline=outline, flags=flags)
