"""A de-identification worker killed with SIGKILL in the middle of a scan.

GIVEN a study big enough that a worker is seen part-way through it
WHEN the worker is killed (no cleanup runs), its chunk's lease runs out and the sweeper hands
the chunk back
THEN a fresh worker finishes the scan: every image once, every sealed object referenced once,
no key left for anything unreferenced, and no plaintext written to disk along the way.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from scans import processing, sweeper
from scans.models import ChunkState, Scan, ScanChunk, ScanFile, ScanImage, Status
from tests.support import builders
from tests.support.accounts import bearer
from tests.support.studies import study_zip
from tests.support.waiting import wait_until
from tests.support.workers import ROOT, Worker, worker_env
from vault import get_vault
from vault.models import VaultKey

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

IMAGES = 60


def files_touched_since(folder: Path, since: float, skip: tuple[str, ...] = ()) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(folder, onerror=lambda _: None):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            path = Path(dirpath) / name
            try:
                info = path.lstat()
            except OSError:
                continue
            # From lstat: a second stat of a file in a shared /tmp may be refused (another
            # process's private mount), which must not end the search.
            regular = stat.S_ISREG(info.st_mode)
            if info.st_mtime >= since and regular and info.st_size < 512 * builders.MiB:
                yield path


def holds(path: Path, needle: bytes) -> bool:
    overlap = b""
    try:
        with path.open("rb") as source:
            while chunk := source.read(builders.MiB):
                if needle in overlap + chunk:
                    return True
                overlap = chunk[-len(needle) :]
    except OSError:
        return False
    return False


def plaintext_left_on_disk(marker: str, since: float) -> list[Path]:
    """Files written since ``since`` in the temp dir or the worker's cwd that hold the marker."""
    needle = marker.encode()
    found = []
    for folder in {Path(tempfile.gettempdir()), ROOT}:
        for path in files_touched_since(folder, since, skip=(".git",)):
            if holds(path, needle):
                found.append(path)
    return found


def test_a_scan_whose_worker_was_killed_mid_way_is_finished_by_a_new_worker_exactly_once(
    client, patient, app_broker, blob_dir
):
    started, started_at = time.time() - 1, timezone.now()
    marker = f"MRKKILL{uuid.uuid4().hex[:10]}"
    response = client.post(
        "/api/v1/scans",
        {"files": [SimpleUploadedFile("study.zip", study_zip(IMAGES, marker))]},
        headers=bearer(patient),
    )
    assert response.status_code == 201, response.content
    scan_id = response.json()["id"]
    env = worker_env({"CELERY_BROKER_URL": app_broker.url(0)})

    first = Worker(env, queues="deid").start()
    try:
        wait_until(
            lambda: Scan.objects.get(pk=scan_id).progress_done >= 1,
            timeout=180,
            what="the first worker to finish an image",
        )
        first.kill()
    finally:
        first.kill()
    killed = Scan.objects.get(pk=scan_id)
    assert killed.status == Status.DEIDENTIFYING
    assert 1 <= killed.progress_done < IMAGES, "the worker must die part-way through the scan"

    # Time passes: the dead worker's lease on its chunk runs out.
    long_ago = timezone.now() - timedelta(seconds=settings.SWEEP_STUCK_AFTER_SECONDS + 1)
    Scan.objects.filter(pk=scan_id).update(status_changed_at=long_ago)
    ScanChunk.objects.filter(scan_id=scan_id, state=ChunkState.RUNNING).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert sweeper.sweep() == 1  # the dead worker's chunk; the study's other chunk is queued

    second = Worker(env, queues="deid").start()
    try:
        wait_until(
            lambda: Scan.objects.get(pk=scan_id).status
            in (Status.READY_FOR_REVIEW, Status.QUARANTINED, Status.FAILED),
            timeout=300,
            what="the new worker to finish the scan",
        )
    finally:
        second.stop()

    scan = Scan.objects.get(pk=scan_id)
    assert scan.status == Status.READY_FOR_REVIEW, scan.error_message
    assert scan.progress_done == scan.progress_total == IMAGES
    images = list(ScanImage.objects.filter(scan_id=scan_id).order_by("position"))
    assert [image.position for image in images] == list(range(1, IMAGES + 1))
    assert all(image.outcome == "clean" for image in images)

    sanitized = [image.sanitized_object for image in images]
    referenced = [
        *ScanFile.objects.filter(scan_id=scan_id).values_list("vault_object", flat=True),
        *sanitized,
        *(image.preview_object for image in images),
        *(image.original_preview_object for image in images),
    ]
    assert None not in referenced
    assert len(set(referenced)) == len(referenced)  # each object referenced exactly once
    keys = set(
        VaultKey.objects.filter(created_at__gte=started_at).values_list("object_id", flat=True)
    )
    assert keys == set(referenced), "a key survives for an object nothing references"
    vault = get_vault()
    assert all(vault.exists(object_id) for object_id in referenced)
    assert b"MRKKILL" not in vault.read_bytes(sanitized[0])

    assert plaintext_left_on_disk(marker, since=started) == []


DIE_WHILE_RENDERING_THE_FIRST_PREVIEW = """
import os, signal, sys
import django
django.setup()
from scans import processing
processing._preview = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
processing.process_scan(sys.argv[1])
"""


def test_a_worker_killed_between_sealing_an_image_and_recording_it_leaves_no_key_behind(
    client, patient, app_broker, blob_dir
):
    """GIVEN a worker that dies right after sealing the first sanitized image, before the image
    row is written (the kill is placed there deterministically, inside the preview step)
    WHEN the chunk's lease runs out and the sweeper hands it back
    THEN no vault key survives for the object the dead run sealed."""
    started_at = timezone.now()
    response = client.post(
        "/api/v1/scans",
        {"files": [SimpleUploadedFile("IM1", builders.make_dicom_bytes())]},
        headers=bearer(patient),
    )
    assert response.status_code == 201, response.content
    scan_id = response.json()["id"]

    dead = subprocess.run(
        [sys.executable, "-c", DIE_WHILE_RENDERING_THE_FIRST_PREVIEW, scan_id],
        env=worker_env({"CELERY_BROKER_URL": app_broker.url(0)}),
        cwd=ROOT,
        capture_output=True,
    )
    assert dead.returncode == -signal.SIGKILL, dead.stderr.decode()[-2000:]
    assert Scan.objects.get(pk=scan_id).status == Status.DEIDENTIFYING

    chunk = ScanChunk.objects.get(scan_id=scan_id)
    ScanChunk.objects.filter(pk=chunk.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert sweeper.sweep() == 1
    processing.process_chunk(str(chunk.pk))  # as the worker the sweeper handed it to would

    scan = Scan.objects.get(pk=scan_id)
    assert scan.status == Status.READY_FOR_REVIEW, scan.error_message
    image = scan.images.get()
    referenced = {
        scan.files.get().vault_object,
        image.sanitized_object,
        image.preview_object,
        image.original_preview_object,
    }
    keys = set(
        VaultKey.objects.filter(created_at__gte=started_at).values_list("object_id", flat=True)
    )
    assert keys == referenced, "a key survives for an object nothing references"


def test_the_sweeper_leaves_a_long_scan_alone_while_its_worker_holds_a_live_lease(
    patient, settings
):
    """GIVEN a big study de-identifying for longer than SWEEP_STUCK_AFTER_SECONDS, its worker
    alive and renewing its lease WHEN the sweeper runs, however often THEN it neither re-enqueues
    the scan nor gives up on it; once the lease runs out, it hands the scan back."""
    settings.SWEEP_MAX_ATTEMPTS = 2
    scan = Scan.objects.create(owner=patient, status=Status.QUEUED)
    lease = processing.claim(str(scan.pk))
    assert lease is not None
    long_ago = timezone.now() - timedelta(seconds=settings.SWEEP_STUCK_AFTER_SECONDS + 1)
    Scan.objects.filter(pk=scan.pk).update(status_changed_at=long_ago)

    for _ in range(settings.SWEEP_MAX_ATTEMPTS + 1):
        lease.renew()
        assert sweeper.stuck_scans() == []
        sweeper.sweep()
    assert Scan.objects.get(pk=scan.pk).status == Status.DEIDENTIFYING
    assert Scan.objects.get(pk=scan.pk).attempts == 0

    Scan.objects.filter(pk=scan.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert [stuck.pk for stuck in sweeper.stuck_scans()] == [scan.pk]
