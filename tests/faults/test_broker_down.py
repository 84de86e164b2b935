"""Redis, the broker, is down while a patient uploads.

GIVEN the app and its workers on a private Redis, which is then stopped
WHEN a patient uploads a study
THEN the upload is stored and answered promptly (201), the scan waits as 'uploaded'; once Redis
is back the sweeper hands it to a worker and it is processed: nothing is lost.
"""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.test import Client
from django.utils import timezone

from scans import sweeper
from scans.models import Scan, Status
from tests.support import builders
from tests.support.accounts import bearer
from tests.support.waiting import wait_until
from tests.support.workers import Worker, worker_env

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Far longer than a bounded publish retry takes; an upload still running then is hanging.
UPLOAD_BOUND_SECONDS = 60


def upload_in_thread(headers: dict[str, str]) -> tuple[int, dict, float]:
    """Upload from another thread, so a hanging request fails the test instead of stalling it."""

    def upload() -> tuple[int, dict, float]:
        began = time.monotonic()
        try:
            files = [SimpleUploadedFile(f"IM{i}", builders.make_dicom_bytes()) for i in range(3)]
            response = Client().post("/api/v1/scans", {"files": files}, headers=headers)
            return response.status_code, response.json(), time.monotonic() - began
        finally:
            connections.close_all()

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(upload).result(timeout=UPLOAD_BOUND_SECONDS)
    except TimeoutError:
        pytest.fail(f"the upload was still running after {UPLOAD_BOUND_SECONDS}s: it hangs")
    finally:
        pool.shutdown(wait=False)


def test_an_upload_while_redis_is_down_is_stored_and_processed_once_redis_is_back(
    client, patient, app_broker, blob_dir, capsys
):
    headers = bearer(patient)
    app_broker.stop()

    status, body, seconds = upload_in_thread(headers)

    assert status == 201, body
    with capsys.disabled():
        print(f"\n  upload with the broker down answered in {seconds:.2f}s")
    scan_id = body["id"]
    waiting = client.get(f"/api/v1/scans/{scan_id}", headers=headers).json()
    assert waiting["status"] == Status.UPLOADED
    assert waiting["file_count"] == 3

    app_broker.start()
    assert app_broker.queue_length("deid") == 0  # the message was never published
    # The sweeper leaves fresh uploads alone for 30 s (their message may still be on its way).
    Scan.objects.filter(pk=scan_id).update(status_changed_at=timezone.now() - timedelta(minutes=1))
    assert sweeper.sweep() == 1
    assert app_broker.queue_length("deid") == 1
    assert Scan.objects.get(pk=scan_id).status == Status.QUEUED

    worker = Worker(worker_env({"CELERY_BROKER_URL": app_broker.url(0)}), queues="deid").start()
    try:
        wait_until(
            lambda: Scan.objects.get(pk=scan_id).status
            in (Status.READY_FOR_REVIEW, Status.QUARANTINED, Status.FAILED),
            timeout=180,
            what="the worker to process the scan uploaded while Redis was down",
        )
    finally:
        worker.stop()
    done = client.get(f"/api/v1/scans/{scan_id}", headers=headers).json()
    assert done["status"] == Status.READY_FOR_REVIEW, done["error_message"]
    assert done["progress"] == {"done": 3, "total": 3}
    assert [image["outcome"] for image in done["images"]] == ["clean"] * 3


def test_an_upload_while_redis_accepts_connections_but_never_answers_does_not_hang(
    client, patient, app_broker, blob_dir
):
    """GIVEN a frozen Redis (SIGSTOP: connections are accepted, nothing is ever answered, as in a
    network partition or a paused container) WHEN a patient uploads THEN the publish gives up
    within the broker's socket timeout and retry policy: the upload is stored as 'uploaded'."""
    headers = bearer(patient)
    warm = upload_in_thread(headers)  # the producer now holds a pooled connection to Redis
    assert warm[0] == 201
    app_broker.process.send_signal(signal.SIGSTOP)
    try:
        status, body, _seconds = upload_in_thread(headers)
    finally:
        app_broker.process.send_signal(signal.SIGCONT)

    assert status == 201, body
    assert Scan.objects.get(pk=body["id"]).status == Status.UPLOADED
