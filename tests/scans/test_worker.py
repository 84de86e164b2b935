"""The pipeline on a real Celery worker process, over the real Redis broker and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from scans import processing, sweeper
from scans.models import Scan, ScanImage, Status
from tests.support import builders
from tests.support.accounts import bearer
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DONE = {Status.READY_FOR_REVIEW, Status.QUARANTINED, Status.FAILED}


def upload_study(client, user, count: int = 3) -> str:
    files = [SimpleUploadedFile(f"IM{i}", builders.make_dicom_bytes()) for i in range(count)]
    response = client.post("/api/v1/scans", {"files": files}, headers=bearer(user))
    assert response.status_code == 201, response.content
    return response.json()["id"]


def status_of(scan_id: str) -> str:
    return Scan.objects.get(pk=scan_id).status


def queue_is_empty() -> bool:
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return all(broker.llen(queue) == 0 for queue in ("deid", "send", "default"))


@pytest.mark.slow
def test_an_uploaded_study_is_processed_by_the_worker_to_ready_for_review(
    client, patient, celery_worker_process
):
    scan_id = upload_study(client, patient)
    wait_until(
        lambda: status_of(scan_id) in DONE, timeout=180, what="the worker to finish the scan"
    )
    scan = Scan.objects.get(pk=scan_id)
    assert scan.status == Status.READY_FOR_REVIEW, scan.error_message
    assert scan.progress_done == scan.progress_total == 3
    assert [t.to_status for t in scan.transitions.all()] == [
        Status.QUEUED,
        Status.DEIDENTIFYING,
        Status.READY_FOR_REVIEW,
    ] or [t.to_status for t in scan.transitions.all()] == [
        Status.DEIDENTIFYING,
        Status.READY_FOR_REVIEW,
    ]
    assert scan.images.filter(outcome="clean").count() == 3


@pytest.mark.slow
def test_running_the_task_twice_changes_nothing_the_second_time(
    client, patient, celery_worker_process
):
    scan_id = upload_study(client, patient, count=2)
    wait_until(lambda: status_of(scan_id) in DONE, timeout=180, what="the first run")
    before = (
        list(
            ScanImage.objects.filter(scan_id=scan_id).values_list(
                "id", "sanitized_object", "attestation"
            )
        ),
        Scan.objects.get(pk=scan_id).transitions.count(),
    )
    # A duplicate message (a redelivery) reaches the worker ...
    from scans.tasks import process_scan

    process_scan.delay(scan_id)
    wait_until(queue_is_empty, timeout=60, what="the duplicate message to be consumed")
    # ... and the same task body runs once more here, synchronously.
    processing.process_scan(scan_id)
    after = (
        list(
            ScanImage.objects.filter(scan_id=scan_id).values_list(
                "id", "sanitized_object", "attestation"
            )
        ),
        Scan.objects.get(pk=scan_id).transitions.count(),
    )
    assert after == before


@pytest.mark.slow
def test_the_sweeper_hands_back_a_scan_whose_message_never_reached_the_broker(
    client, patient, settings
):
    """GIVEN a scan left 'uploaded' (the broker was down at upload time)
    WHEN the sweeper runs and a worker is up
    THEN the scan is processed, nothing lost."""
    from tests.support.workers import Worker, flush_broker, worker_env

    scan_id = upload_study(client, patient, count=1)
    flush_broker()  # the message is lost, as if Redis had been down
    Scan.objects.filter(pk=scan_id).update(
        status=Status.UPLOADED, status_changed_at=timezone.now() - timedelta(minutes=5)
    )
    assert sweeper.sweep() == 1
    assert status_of(scan_id) == Status.QUEUED
    worker = Worker(worker_env()).start()
    try:
        wait_until(lambda: status_of(scan_id) in DONE, timeout=180, what="the swept scan to finish")
    finally:
        worker.stop()
    assert status_of(scan_id) == Status.READY_FOR_REVIEW


def test_a_run_holding_a_live_lease_is_not_duplicated(patient):
    scan = Scan.objects.create(owner=patient, status=Status.QUEUED)
    first = processing.claim(str(scan.pk))
    assert first is not None
    assert processing.claim(str(scan.pk)) is None  # a second message while the first run is alive
    Scan.objects.filter(pk=scan.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert processing.claim(str(scan.pk)) is not None  # the first run died; its lease ran out


def test_the_sweeper_gives_up_on_a_scan_that_keeps_failing(patient, settings):
    settings.SWEEP_MAX_ATTEMPTS = 2
    scan = Scan.objects.create(
        owner=patient,
        status=Status.QUEUED,
        attempts=2,
        status_changed_at=timezone.now() - timedelta(hours=2),
    )
    Scan.objects.filter(pk=scan.pk).update(status_changed_at=timezone.now() - timedelta(hours=2))
    sweeper.sweep()
    scan.refresh_from_db()
    assert scan.status == Status.FAILED
    assert "failed repeatedly" in scan.error_message


def test_a_scan_whose_database_connection_drops_mid_run_is_left_for_the_sweeper(
    client, patient, monkeypatch
):
    """GIVEN a worker part-way through a study's chunk WHEN its database connection is cut
    (PostgreSQL restarting) THEN the scan is not marked failed: the chunk keeps its lease, and
    once the lease runs out the sweeper hands it back and a new run finishes the study."""
    from django.db import connection

    from scans.models import ChunkState, ScanChunk
    from tests.support.workers import flush_broker

    scan_id = upload_study(client, patient, count=2)
    flush_broker()  # this test runs the tasks itself

    def connection_cut(data: bytes, **kwargs: object) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    real = processing.deidentify_bytes
    monkeypatch.setattr(processing, "deidentify_bytes", connection_cut)
    processing.process_scan(scan_id)
    connection.close()  # the next query opens a new connection, as a new task's would

    scan = Scan.objects.get(pk=scan_id)
    assert scan.status == Status.DEIDENTIFYING and scan.error_message == ""
    chunk = ScanChunk.objects.get(scan_id=scan_id)
    assert chunk.state == ChunkState.RUNNING and chunk.lease_token is not None

    monkeypatch.setattr(processing, "deidentify_bytes", real)
    past = timezone.now() - timedelta(hours=1)
    ScanChunk.objects.filter(pk=chunk.pk).update(lease_expires_at=past)
    assert sweeper.sweep() == 1
    flush_broker()
    while queued := ScanChunk.objects.filter(scan_id=scan_id, state=ChunkState.QUEUED).first():
        processing.process_chunk(str(queued.pk))
    assert status_of(scan_id) == Status.READY_FOR_REVIEW
    assert ScanImage.objects.filter(scan_id=scan_id).count() == 2
