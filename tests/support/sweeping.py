"""One sweep over every kind of stuck work, told as plain facts: the same on any database.

Used by the sweeper's test in this process (PostgreSQL) and in a subprocess with the embedded
settings (SQLite), so both engines run exactly the same queries.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from scans import sweeper
from scans.models import ChunkState, Scan, ScanChunk, Status


def sweep_stuck_work(owner: User) -> dict[str, object]:
    """GIVEN a scan whose message was lost, one whose chunk lost its worker, and one whose
    planner is alive; WHEN the sweeper runs; THEN what it did."""
    now = timezone.now()
    long_ago = now - timedelta(seconds=settings.SWEEP_STUCK_AFTER_SECONDS + 60)
    lost = Scan.objects.create(owner=owner, status=Status.QUEUED)
    busy = Scan.objects.create(
        owner=owner, status=Status.DEIDENTIFYING, lease_expires_at=now + timedelta(minutes=5)
    )
    planned = Scan.objects.create(owner=owner, status=Status.DEIDENTIFYING)
    Scan.objects.filter(pk__in=[lost.pk, busy.pk, planned.pk]).update(status_changed_at=long_ago)
    dead = ScanChunk.objects.create(
        scan=planned,
        number=1,
        first_position=1,
        last_position=4,
        state=ChunkState.RUNNING,
        lease_expires_at=now - timedelta(seconds=1),
    )
    handed_back = sweeper.sweep()
    return {
        "handed_back": handed_back,
        "lost": list(Scan.objects.filter(pk=lost.pk).values_list("status", "attempts")),
        "busy": list(Scan.objects.filter(pk=busy.pk).values_list("status", "attempts")),
        "dead_chunk": list(ScanChunk.objects.filter(pk=dead.pk).values_list("state", "attempts")),
    }


EXPECTED = {
    "handed_back": 2,
    "lost": [(Status.QUEUED, 1)],
    "busy": [(Status.DEIDENTIFYING, 0)],
    "dead_chunk": [(ChunkState.QUEUED, 1)],
}
