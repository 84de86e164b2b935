"""Fair share of the de-identification workers: one patient's queued work never starves another's,
and work past a patient's hourly allowance waits, visibly, and continues by itself."""

from __future__ import annotations

import json
import zipfile
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from scans import fairshare, sweeper
from scans.models import ChunkState, Scan, ScanChunk, Status
from tests.support import builders
from tests.support.accounts import bearer, make_user
from tests.support.studies import series_slices
from tests.support.waiting import wait_until
from tests.support.workers import Worker, flush_broker, worker_env

pytestmark = pytest.mark.django_db(transaction=True)

DONE = {Status.READY_FOR_REVIEW, Status.QUARANTINED, Status.FAILED}


def planned_scan(owner, chunk_sizes: list[int], status: str = Status.DEIDENTIFYING) -> Scan:
    """A scan whose chunks are planned and waiting their turn (no files: nothing runs here)."""
    scan = Scan.objects.create(owner=owner, status=status)
    first = 1
    for number, size in enumerate(chunk_sizes, start=1):
        ScanChunk.objects.create(
            scan=scan, number=number, first_position=first, last_position=first + size - 1
        )
        first += size
    return scan


def used_last_hour(owner, *, images: int, cpu_seconds: float, minutes_ago: int = 10) -> ScanChunk:
    scan = planned_scan(owner, [images], status=Status.READY_FOR_REVIEW)
    chunk = scan.chunks.get()
    ScanChunk.objects.filter(pk=chunk.pk).update(
        state=ChunkState.DONE,
        cpu_seconds=cpu_seconds,
        finished_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    return chunk


def states(scan: Scan) -> list[str]:
    return list(scan.chunks.order_by("number").values_list("state", flat=True))


def broker_order() -> list[str]:
    """Chunk ids on the deid queue, in the order a worker will take them."""
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    # kombu pushes on the left and workers pop from the right.
    messages = [json.loads(raw) for raw in reversed(broker.lrange("deid", 0, -1))]
    return [
        json.loads(message["headers"]["argsrepr"].replace("'", '"'))[0]
        for message in messages
        if message["headers"]["task"] == "scans.tasks.process_chunk"
    ]


# --- in flight ----------------------------------------------------------------------------------


def test_a_patient_has_at_most_their_share_in_flight_and_the_patient_with_fewer_goes_first(
    patient, other_patient, settings
):
    """GIVEN patient A with a study of six chunks and a cap of two chunks in flight
    WHEN A's chunks are handed out, then patient B queues two chunks and one of A's finishes
    THEN only two of A's are ever out; B's go to the broker before A's next one."""
    settings.DEID_PATIENT_CHUNKS_IN_FLIGHT = 2
    flush_broker()
    big = planned_scan(patient, [4] * 6)
    fairshare.dispatch()
    assert states(big) == [ChunkState.QUEUED] * 2 + [ChunkState.PENDING] * 4
    ScanChunk.objects.filter(scan=big, state=ChunkState.QUEUED).update(state=ChunkState.RUNNING)

    small = planned_scan(other_patient, [2, 2])
    fairshare.dispatch()
    assert states(big).count(ChunkState.PENDING) == 4  # A is at their share
    assert states(small) == [ChunkState.QUEUED] * 2

    flush_broker()
    ScanChunk.objects.filter(scan=small).update(state=ChunkState.PENDING)
    ScanChunk.objects.filter(scan=big, number=1).update(
        state=ChunkState.DONE, finished_at=timezone.now()
    )
    fairshare.dispatch()
    order = broker_order()
    small_ids = [str(pk) for pk in small.chunks.order_by("number").values_list("pk", flat=True)]
    third = str(big.chunks.get(number=3).pk)
    assert order == [*small_ids, third]


# --- per hour -----------------------------------------------------------------------------------


def test_work_past_the_hourly_cpu_allowance_waits_visibly_and_continues_by_itself(
    patient, other_patient, patient_client, settings
):
    """GIVEN a patient who used more worker CPU in the last hour than their allowance
    WHEN their next study's chunks come up
    THEN none is handed out; the scan shows "Waiting for de-identification" and why; another
    patient is not affected; the sweeper never counts the held scan as stuck; and once the hour
    has passed, the study goes on by itself."""
    settings.DEID_PATIENT_CPU_SECONDS_PER_HOUR = 10
    earlier = used_last_hour(patient, images=4, cpu_seconds=12)
    held = planned_scan(patient, [4, 4])
    other = planned_scan(other_patient, [4])
    fairshare.dispatch()

    held.refresh_from_db()
    assert states(held) == [ChunkState.PENDING] * 2
    assert states(other) == [ChunkState.QUEUED]
    assert held.status == Status.QUEUED
    assert held.error_message == fairshare.waiting_for_allowance()
    page = patient_client.get(f"/scans/{held.pk}/").content.decode()
    assert "Waiting for de-identification" in page
    assert "used this hour" in page.replace("&#x27;", "'")

    long_ago = timezone.now() - timedelta(seconds=settings.SWEEP_STUCK_AFTER_SECONDS + 60)
    Scan.objects.filter(pk=held.pk).update(status_changed_at=long_ago)
    sweeper.sweep()
    held.refresh_from_db()
    assert (held.status, held.attempts) == (Status.QUEUED, 0)

    ScanChunk.objects.filter(pk=earlier.pk).update(
        finished_at=timezone.now() - timedelta(minutes=61)
    )
    sweeper.sweep()
    held.refresh_from_db()
    assert states(held) == [ChunkState.QUEUED] * 2
    assert (held.status, held.error_message) == (Status.DEIDENTIFYING, "")


def test_images_past_the_hourly_allowance_wait_but_a_study_is_never_held_forever(
    patient, settings
):
    settings.DEID_PATIENT_IMAGES_PER_HOUR = 10
    used_last_hour(patient, images=6, cpu_seconds=1)
    scan = planned_scan(patient, [4, 4])
    fairshare.dispatch()
    assert states(scan) == [ChunkState.QUEUED, ChunkState.PENDING]  # 6 + 4 fit; 6 + 8 do not

    ScanChunk.objects.filter(scan__owner=patient, state=ChunkState.DONE).update(
        finished_at=timezone.now() - timedelta(hours=2)
    )
    ScanChunk.objects.filter(scan=scan).delete()
    huge = planned_scan(patient, [50])
    fairshare.dispatch()
    assert states(huge) == [ChunkState.QUEUED]  # larger than the allowance, nothing else used


# --- with real workers --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.worker
def test_a_small_upload_finishes_before_a_huge_study_queued_before_it(client, settings):
    """GIVEN two real workers, and patient A's study of 400 slices (100 chunks) being
    de-identified
    WHEN patient B uploads three images
    THEN B's scan is ready while A's study is still in progress (first in, first out would have
    put B behind all of A's chunks); A never had more than their share of chunks out; and A's
    study is then finished in full."""
    a, b = make_user("huge@example.org"), make_user("small@example.org")
    flush_broker()
    env = worker_env({"DEID_CHUNK_IMAGES": "4", "DEID_PATIENT_CHUNKS_IN_FLIGHT": "2"})
    workers = [Worker(env, queues="deid").start() for _ in range(2)]
    most_in_flight = [0]

    def a_in_flight() -> int:
        count = ScanChunk.objects.filter(
            scan__owner=a, state__in=(ChunkState.QUEUED, ChunkState.RUNNING)
        ).count()
        most_in_flight[0] = max(most_in_flight[0], count)
        return count

    try:
        archive = builders.make_zip(
            {f"IM{i:04d}": data for i, data in enumerate(series_slices("1.2.4.1", 400, size=256))},
            compression=zipfile.ZIP_STORED,
        )
        response = client.post(
            "/api/v1/scans",
            {"files": [SimpleUploadedFile("huge.zip", archive)]},
            headers=bearer(a),
        )
        assert response.status_code == 201, response.content
        huge = Scan.objects.get(pk=response.json()["id"])
        wait_until(
            lambda: a_in_flight() >= 0 and Scan.objects.get(pk=huge.pk).progress_done >= 4,
            timeout=300,
            what="A's study to be under way",
        )
        three = [SimpleUploadedFile(f"IM{i}", builders.make_dicom_bytes()) for i in range(3)]
        response = client.post("/api/v1/scans", {"files": three}, headers=bearer(b))
        assert response.status_code == 201, response.content
        small = Scan.objects.get(pk=response.json()["id"])
        wait_until(
            lambda: a_in_flight() >= 0 and Scan.objects.get(pk=small.pk).status in DONE,
            timeout=300,
            what="B's scan to finish",
        )
        huge.refresh_from_db()
        assert huge.status in (Status.DEIDENTIFYING, Status.QUEUED)
        assert huge.progress_done < 400
        wait_until(
            lambda: a_in_flight() >= 0 and Scan.objects.get(pk=huge.pk).status in DONE,
            timeout=900,
            what="A's study to finish",
        )
    finally:
        for worker in workers:
            worker.stop()
    small.refresh_from_db()
    huge.refresh_from_db()
    assert small.status == Status.READY_FOR_REVIEW, small.error_message
    assert huge.status == Status.READY_FOR_REVIEW, huge.error_message
    assert huge.progress_done == huge.progress_total == 400
    assert huge.chunks.count() == 100
    assert most_in_flight[0] <= 2
    b_ready = small.transitions.get(to_status=Status.READY_FOR_REVIEW).at
    a_ready = huge.transitions.get(to_status=Status.READY_FOR_REVIEW).at
    assert b_ready < a_ready
