"""Fair share of the de-identification workers between patients.

Celery's queues are first in, first out: a patient who queued a 5,000-image study would keep
every worker busy for an hour while a second patient's three images waited behind it. So a
study's chunks are not all handed to the broker at once. They are planned as ``pending`` and
``dispatch`` hands them out, patient by patient:

* **in flight**: a patient has at most ``DEID_PATIENT_CHUNKS_IN_FLIGHT`` chunks queued or
  running. Whatever one patient queued, the broker holds only a few of their chunks, so another
  patient's upload waits for at most about one chunk per worker, not for the whole study.
  Patients with the fewest chunks in flight are served first, so chunks interleave.
* **per hour**: images and worker CPU seconds of the last hour are counted per patient
  (``DEID_PATIENT_IMAGES_PER_HOUR``, ``DEID_PATIENT_CPU_SECONDS_PER_HOUR``). Past either, the
  patient's remaining chunks wait until the hour's window has room again; a chunk is always let
  through when the patient has used nothing in the window, so no study is held forever.

Work past a limit is accepted and held, never refused: the upload already succeeded (and may
have taken the patient a long time), what a study costs in CPU is only known once it ran, and
held work costs nothing but its encrypted storage, which the storage quota already bounds. A
held scan shows status ``queued`` ("Waiting for de-identification") with a sentence saying why,
and continues by itself; ``dispatch`` runs after every chunk and on every sweep.

Each patient's decision is taken under a lock on their account row, so two workers finishing
chunks at the same moment cannot both take the patient's last free slot.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Min, Q, Sum
from django.db.models.expressions import CombinedExpression
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from scans import pipeline
from scans.models import ChunkState, Scan, ScanChunk, Status
from scans.queue import publish_chunk

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)
IN_FLIGHT = (ChunkState.QUEUED, ChunkState.RUNNING)
# Scans whose chunks may be handed out: being de-identified, or held back by this module.
ACTIVE = (Status.DEIDENTIFYING, Status.QUEUED)


@dataclass
class Usage:
    """One patient's share right now: chunks and images in flight, and the last hour's use."""

    chunks_in_flight: int = 0
    images_in_flight: int = 0
    images_last_hour: int = 0
    cpu_seconds_last_hour: float = 0.0

    def over_allowance(self, images: int) -> bool:
        """Whether one more chunk of ``images`` would pass an hourly limit. Nothing used in the
        window means never: a chunk larger than the allowance still runs, alone."""
        used = self.images_last_hour + self.images_in_flight
        if used == 0 and self.cpu_seconds_last_hour == 0:
            return False
        return (
            self.cpu_seconds_last_hour >= settings.DEID_PATIENT_CPU_SECONDS_PER_HOUR
            or used + images > settings.DEID_PATIENT_IMAGES_PER_HOUR
        )


def _images() -> CombinedExpression:
    return F("last_position") - F("first_position") + 1


def usage_of(owner_id: int, now: datetime) -> Usage:
    chunks = ScanChunk.objects.filter(scan__owner_id=owner_id)
    flying = chunks.filter(state__in=IN_FLIGHT, scan__status__in=pipeline.WORKING).aggregate(
        count=Count("pk"), images=Sum(_images())
    )
    hour = chunks.filter(state=ChunkState.DONE, finished_at__gte=now - WINDOW).aggregate(
        images=Sum(_images()), cpu=Sum("cpu_seconds")
    )
    return Usage(
        chunks_in_flight=flying["count"] or 0,
        images_in_flight=flying["images"] or 0,
        images_last_hour=hour["images"] or 0,
        cpu_seconds_last_hour=hour["cpu"] or 0.0,
    )


def waiting_for_allowance() -> str:
    return gettext(
        "Waiting: your account has used this hour's share of de-identification work. "
        "This scan continues by itself as the hour goes by; nothing was lost and you need "
        "not upload it again."
    )


def waiting_for_turn() -> str:
    return gettext("Waiting for your earlier uploads to be de-identified first.")


def dispatch(take_for: uuid.UUID | None = None) -> uuid.UUID | None:
    """Hand out every chunk the fair share allows now; returns one chunk of scan ``take_for``
    that the caller runs itself instead of publishing it (its coordinator is already on a
    worker), or None."""
    taken: uuid.UUID | None = None
    for owner_id in _patients_waiting():
        admitted = _admit(owner_id)
        if take_for is not None and taken is None:
            mine = [chunk for chunk in admitted if chunk.scan_id == take_for]
            if mine:
                taken = mine[0].pk
                admitted.remove(mine[0])
        for chunk in admitted:
            _publish(chunk)
    return taken


def _patients_waiting() -> list[int]:
    """Patients with chunks waiting their turn: fewest chunks in flight first, then the one
    waiting longest."""
    pending = Q(chunks__state=ChunkState.PENDING)
    rows = (
        Scan.objects.filter(status__in=ACTIVE, chunks__state=ChunkState.PENDING)
        .values("owner_id")
        .annotate(oldest=Min("chunks__created_at", filter=pending))
        .order_by()
    )
    oldest = {row["owner_id"]: row["oldest"] for row in rows}
    flying = dict(
        ScanChunk.objects.filter(
            scan__owner_id__in=list(oldest),
            state__in=IN_FLIGHT,
            scan__status__in=pipeline.WORKING,
        )
        .values_list("scan__owner_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return sorted(oldest, key=lambda owner: (flying.get(owner, 0), oldest[owner]))


def _admit(owner_id: int) -> list[ScanChunk]:
    """Under the patient's lock: take as many pending chunks as their share allows, mark them
    queued, and show each of their scans as de-identifying or waiting (and why)."""
    now = timezone.now()
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=owner_id).exists()
        usage = usage_of(owner_id, now)
        pending = list(
            ScanChunk.objects.filter(
                scan__owner_id=owner_id, scan__status__in=ACTIVE, state=ChunkState.PENDING
            ).order_by("scan__created_at", "scan_id", "number")
        )
        admitted: list[ScanChunk] = []
        held_for_allowance = False
        for chunk in pending:
            if usage.chunks_in_flight >= settings.DEID_PATIENT_CHUNKS_IN_FLIGHT:
                break
            if usage.over_allowance(chunk.images):
                held_for_allowance = True
                break
            updated = ScanChunk.objects.filter(pk=chunk.pk, state=ChunkState.PENDING).update(
                state=ChunkState.QUEUED, queued_at=now
            )
            if updated:
                admitted.append(chunk)
                usage.chunks_in_flight += 1
                usage.images_in_flight += chunk.images
        _show_waiting(owner_id, held_for_allowance)
    if admitted:
        log.info("fair share: %d chunk(s) of patient %s handed out", len(admitted), owner_id)
    return admitted


def _show_waiting(owner_id: int, held_for_allowance: bool) -> None:
    """A scan with a chunk in flight is de-identifying; one whose chunks all wait is queued,
    with the reason in its message."""
    scans = Scan.objects.filter(owner_id=owner_id, status__in=ACTIVE, chunks__isnull=False)
    for scan_id, status in scans.distinct().values_list("pk", "status"):
        chunks = ScanChunk.objects.filter(scan_id=scan_id)
        if chunks.filter(state__in=IN_FLIGHT).exists():
            if status == Status.QUEUED:
                pipeline.transition(
                    scan_id, Status.DEIDENTIFYING, expected={Status.QUEUED}, error_message=""
                )
        elif chunks.filter(state=ChunkState.PENDING).exists():
            message = waiting_for_allowance() if held_for_allowance else waiting_for_turn()
            if status == Status.DEIDENTIFYING:
                pipeline.transition(
                    scan_id, Status.QUEUED, expected={Status.DEIDENTIFYING}, error_message=message
                )
            else:
                Scan.objects.filter(pk=scan_id, status=Status.QUEUED).update(
                    error_message=message
                )


def _publish(chunk: ScanChunk) -> None:
    """Hand one admitted chunk to the broker; if it is unreachable the chunk waits again."""
    try:
        publish_chunk(chunk.pk)
    except Exception:
        log.warning("chunk %s: broker unreachable, back to waiting", chunk.pk, exc_info=True)
        ScanChunk.objects.filter(pk=chunk.pk, state=ChunkState.QUEUED).update(
            state=ChunkState.PENDING, queued_at=None
        )
