"""The gateway's health as the clinic admin sees it: are the workers alive, are queues draining,
are scans stuck, is the audit chain intact, is there disk left for the vault.

Worker liveness comes from a heartbeat task that beat sends to each queue: whichever worker
takes it records the time in ``WorkerHeartbeat``. That works on every broker (the filesystem
broker has no broadcast, so Celery's ``control.ping`` cannot be used there), and it proves what
matters: that each queue is actually being consumed. Audit verification is slow on a large log,
so a periodic task runs it and stores the verdict; the page only reads the last one.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import redis
from django.conf import settings
from django.utils import timezone

from audit.log import verify_log
from audit.models import SignedTreeHead
from clinic.models import AuditVerification, WorkerHeartbeat
from scans import pipeline
from scans.models import Scan, Status

log = logging.getLogger(__name__)

# Verdicts kept for the page's history; older ones are pruned as new ones arrive.
KEEP_VERIFICATIONS = 200


def queue_names() -> list[str]:
    """The queues tasks are routed to, in the order the routes name them, default last."""
    names: list[str] = []
    for route in settings.CELERY_TASK_ROUTES.values():
        queue = route.get("queue")
        if queue and queue not in names:
            names.append(queue)
    default = settings.CELERY_TASK_DEFAULT_QUEUE
    if default not in names:
        names.append(default)
    return names


def heartbeat_interval() -> int:
    return settings.HEARTBEAT_INTERVAL_SECONDS


# --- Workers ------------------------------------------------------------------------------------


def record_heartbeat(queue: str, hostname: str, now: datetime | None = None) -> None:
    """Called by the heartbeat task on the worker that took it from ``queue``."""
    WorkerHeartbeat.objects.update_or_create(
        queue=queue, defaults={"hostname": hostname[:200], "last_seen": now or timezone.now()}
    )


@dataclass(frozen=True)
class QueueHealth:
    name: str
    depth: int | None  # None: the broker could not be asked
    last_seen: datetime | None
    age_seconds: int | None
    hostname: str

    @property
    def worker_ok(self) -> bool:
        # Three missed beats: one late beat is a busy worker, three are a dead or missing one.
        return self.age_seconds is not None and self.age_seconds <= 3 * heartbeat_interval()


def _redis_depths(url: str, names: list[str]) -> dict[str, int | None]:
    try:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return {name: int(client.llen(name)) for name in names}
    except redis.RedisError:
        log.warning("health: the Redis broker did not answer", exc_info=True)
        return dict.fromkeys(names)


def _filesystem_depths(names: list[str]) -> dict[str, int | None]:
    # kombu's filesystem transport names each message "<time>_<uuid>.<queue>.msg".
    folder = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", "")))
    if not folder.is_dir():
        return dict.fromkeys(names, 0)
    depths: dict[str, int | None] = dict.fromkeys(names, 0)
    for entry in folder.iterdir():
        queue = entry.name.partition(".")[2].removesuffix(".msg")
        if queue in depths and entry.name.endswith(".msg"):
            depths[queue] = (depths[queue] or 0) + 1
    return depths


def queue_depths(names: list[str]) -> dict[str, int | None]:
    """Messages waiting in each queue, read straight from the broker."""
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        return _redis_depths(url, names)
    if url.startswith("filesystem://"):
        return _filesystem_depths(names)
    return dict.fromkeys(names)


def queues(now: datetime) -> list[QueueHealth]:
    names = queue_names()
    depths = queue_depths(names)
    beats = {beat.queue: beat for beat in WorkerHeartbeat.objects.filter(queue__in=names)}
    rows = []
    for name in names:
        beat = beats.get(name)
        age = max(0, int((now - beat.last_seen).total_seconds())) if beat else None
        rows.append(
            QueueHealth(
                name,
                depths.get(name),
                beat.last_seen if beat else None,
                age,
                beat.hostname if beat else "",
            )
        )
    return rows


# --- Scans --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanCounts:
    stuck: int
    quarantined: int


def scan_counts(now: datetime) -> ScanCounts:
    """Scans in a working status for longer than the sweeper's timeout, and quarantined ones."""
    stuck_before = now - timedelta(seconds=settings.SWEEP_STUCK_AFTER_SECONDS)
    stuck = Scan.objects.filter(status__in=pipeline.WORKING, status_changed_at__lt=stuck_before)
    return ScanCounts(
        stuck=stuck.count(),
        quarantined=Scan.objects.filter(status=Status.QUARANTINED).count(),
    )


# --- The audit chain ----------------------------------------------------------------------------


def verify_audit_chain(now: datetime | None = None) -> AuditVerification:
    """Verify the whole audit log and store the verdict (also when verification cannot run)."""
    now = now or timezone.now()
    try:
        verdict = verify_log()
    except Exception as exc:
        # A missing signing key or database trouble must show on the page, not only in a log.
        log.exception("audit verification could not run")
        result = AuditVerification.objects.create(
            ran_at=now, ok=False, reason=f"verification could not run ({type(exc).__name__})"
        )
    else:
        result = AuditVerification.objects.create(
            ran_at=now,
            ok=verdict.ok,
            entries=verdict.entries,
            first_bad=verdict.first_bad,
            reason=verdict.reason[:300],
            head_tree_size=verdict.head["tree_size"] if verdict.head else None,
        )
        if not verdict.ok:
            log.error("audit chain broken at entry %s: %s", verdict.first_bad, verdict.reason)
    stale = AuditVerification.objects.values_list("pk", flat=True)[KEEP_VERIFICATIONS:]
    AuditVerification.objects.filter(pk__in=list(stale)).delete()
    return result


# --- Disk -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiskSpace:
    free: int
    total: int

    @property
    def free_percent(self) -> int:
        return round(100 * self.free / self.total) if self.total else 0


def blob_store_space() -> DiskSpace | None:
    """Free space where the vault writes blobs; None when they live in object storage."""
    if settings.VAULT_BACKEND != "local":
        return None
    path = Path(settings.VAULT_BLOB_DIR)
    while not path.exists() and path != path.parent:
        path = path.parent  # the folder is created on first write; its disk is the parent's
    usage = shutil.disk_usage(path)
    return DiskSpace(free=usage.free, total=usage.total)


# --- All of it ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthSnapshot:
    now: datetime
    queues: list[QueueHealth]
    scans: ScanCounts
    verification: AuditVerification | None
    anchor: SignedTreeHead | None
    disk: DiskSpace | None

    @property
    def stuck_after_minutes(self) -> int:
        return settings.SWEEP_STUCK_AFTER_SECONDS // 60


def snapshot(now: datetime | None = None) -> HealthSnapshot:
    now = now or timezone.now()
    return HealthSnapshot(
        now=now,
        queues=queues(now),
        scans=scan_counts(now),
        verification=AuditVerification.objects.first(),
        anchor=SignedTreeHead.objects.order_by("-id").first(),
        disk=blob_store_space(),
    )
