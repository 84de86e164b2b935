"""One study over every worker: chunks, their leases, their end, and deleting a scan mid-way."""

from __future__ import annotations

import threading
import zipfile
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.utils import timezone

from scans import chunks, deletion, processing, reports, sweeper
from scans.deletion import delete_scan
from scans.inventory import image_outputs
from scans.models import ChunkState, Scan, ScanChunk, ScanImage, Status
from scans.planning import cut
from tests.support import builders
from tests.support.accounts import bearer
from tests.support.studies import series_slices
from tests.support.waiting import wait_until
from tests.support.workers import Worker, flush_broker, worker_env
from vault import get_vault
from vault.models import VaultKey

pytestmark = pytest.mark.django_db(transaction=True)

DONE = {Status.READY_FOR_REVIEW, Status.QUARANTINED, Status.FAILED}


def upload(client, user, files: list[tuple[str, bytes]]) -> Scan:
    payload = [SimpleUploadedFile(name, data) for name, data in files]
    response = client.post("/api/v1/scans", {"files": payload}, headers=bearer(user))
    assert response.status_code == 201, response.content
    return Scan.objects.get(pk=response.json()["id"])


def plain_study(count: int) -> list[tuple[str, bytes]]:
    return [(f"IM{i}", data) for i, data in enumerate(series_slices("1.2.3.9", count))]


def mixed_study() -> list[tuple[str, bytes]]:
    """Two series in one ZIP, a third series as single files, a photo with burned-in text and
    a file the engine rejects: every outcome, and chunk edges inside the ZIP."""
    archive = builders.make_zip(
        {
            f"s{n}/IM{i}": data
            for n, (uid, count) in enumerate([("1.2.3.1", 4), ("1.2.3.2", 3)])
            for i, data in enumerate(series_slices(uid, count))
        },
        compression=zipfile.ZIP_STORED,
    )
    singles = series_slices("1.2.3.3", 3)
    return [
        ("study.zip", archive),
        *((f"IM{i}", data) for i, data in enumerate(singles)),
        ("film.png", builders.make_png(320, 200, text="IMELDA CHUNKWORTH 1961")),
        ("broken.dcm", builders.make_dicom_bytes(Rows=32, Columns=32)),
    ]


def run_queued_chunks(scan: Scan) -> None:
    """Play the workers in this process: run every chunk handed out until none is left."""
    while chunk := ScanChunk.objects.filter(scan=scan, state=ChunkState.QUEUED).first():
        processing.process_chunk(str(chunk.pk))


def outputs_of(scan: Scan) -> list[dict]:
    """Everything de-identification produced for each image, decrypted, ids and the
    attestation (which binds the scan id) left out."""
    vault = get_vault()

    def read(object_id):
        return vault.read_bytes(object_id) if object_id else None

    return [
        {
            "position": image.position,
            "outcome": image.outcome,
            "reason": image.reason,
            "kind": image.kind,
            "modality": image.modality,
            "report": image.report,
            "sha256": image.sanitized_sha256,
            "size": image.sanitized_size,
            "sanitized": read(image.sanitized_object),
            "preview": read(image.preview_object),
            "original_preview": read(image.original_preview_object),
        }
        for image in scan.images.order_by("position")
    ]


def report_of(scan: Scan) -> dict:
    report = reports.scan_report(scan)
    report.pop("scan_id")
    for image in report["images"]:
        image.pop("id")
    return report


# --- the chunk size rule ------------------------------------------------------------------------


def test_it_cuts_a_long_series_into_nearly_equal_slice_ranges():
    assert cut(["a"] * 10, 4) == [(1, 4), (5, 7), (8, 10)]
    assert cut(["a"] * 8, 4) == [(1, 4), (5, 8)]


def test_it_never_mixes_a_long_series_with_another_but_packs_short_ones_whole():
    keys = ["loc"] * 2 + ["ax"] * 9 + ["sc"] * 2 + ["co"] * 3 + ["x"]
    assert cut(keys, 4) == [(1, 2), (3, 5), (6, 8), (9, 11), (12, 13), (14, 17)]


def test_a_study_of_one_chunk_is_planned_without_reading_and_run_by_its_planner(
    client, patient, settings
):
    settings.DEID_CHUNK_IMAGES = 5
    scan = upload(client, patient, plain_study(5))
    processing.process_scan(str(scan.pk))
    scan.refresh_from_db()
    assert scan.status == Status.READY_FOR_REVIEW, scan.error_message
    assert list(scan.chunks.values_list("first_position", "last_position", "state")) == [
        (1, 5, ChunkState.DONE)
    ]
    assert scan.progress_done == scan.progress_total == 5


def test_a_large_study_is_cut_by_series_then_slice_range(client, patient, settings):
    settings.DEID_CHUNK_IMAGES = 3
    scan = upload(client, patient, mixed_study())
    processing.process_scan(str(scan.pk))
    # ZIP: series 1 (4 slices, cut 2+2), series 2 (3 slices, whole); the single files: series 3
    # (3, whole); the photo (no series) and the broken file (a series of one) packed together.
    assert list(scan.chunks.values_list("first_position", "last_position")) == [
        (1, 2),
        (3, 4),
        (5, 7),
        (8, 10),
        (11, 12),
    ]


# --- the same outputs however the study is cut -------------------------------------------------


@pytest.mark.slow
@pytest.mark.worker
def test_chunked_and_single_task_runs_give_byte_identical_outputs_and_the_same_report(
    client, patient, settings
):
    """GIVEN the same study uploaded twice by the same patient
    WHEN it is de-identified once as one task, and once cut into chunks of 3 images that two
    real worker processes share
    THEN every output (sanitized image, previews), every image's report and the scan's report
    and summary are identical, byte for byte."""
    settings.DEID_CHUNK_IMAGES = 1000
    single = upload(client, patient, mixed_study())
    processing.process_scan(str(single.pk))
    single.refresh_from_db()
    assert single.chunks.count() == 1

    flush_broker()
    env = worker_env({"DEID_CHUNK_IMAGES": "3"})
    workers = [Worker(env, queues="deid").start() for _ in range(2)]
    try:
        chunked = upload(client, patient, mixed_study())
        wait_until(
            lambda: Scan.objects.get(pk=chunked.pk).status in DONE,
            timeout=300,
            what="two workers to finish the chunked study",
        )
    finally:
        for worker in workers:
            worker.stop()
    chunked.refresh_from_db()
    assert chunked.chunks.count() == 5
    assert set(chunked.chunks.values_list("state", flat=True)) == {ChunkState.DONE}

    assert single.status == chunked.status == Status.READY_FOR_REVIEW
    assert single.progress_done == chunked.progress_done == 12
    assert {row["outcome"] for row in outputs_of(single)} == {"clean", "rejected"}
    assert outputs_of(chunked) == outputs_of(single)
    assert report_of(chunked) == report_of(single)
    assert reports.plain_summary(chunked) == reports.plain_summary(single)


# --- leases: redelivered, held, dead --------------------------------------------------------------


class WorkerDied(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even ``except Exception`` blocks."""


def test_a_dead_workers_chunk_is_run_again_after_its_lease_runs_out_and_nothing_is_duplicated(
    client, patient, settings, monkeypatch
):
    """GIVEN a study of three chunks, and a worker that dies with chunk 2 fully recorded but
    not yet marked done
    WHEN the chunk's message comes again while the lease is alive, then after it ran out
    THEN the first does nothing; the sweeper hands the chunk back, the new run shreds the dead
    run's outputs, and every image is recorded once with no key left for anything unreferenced."""
    settings.DEID_CHUNK_IMAGES = 2
    started = timezone.now()
    scan = upload(client, patient, plain_study(6))
    processing.process_scan(str(scan.pk))  # plans; runs chunk 1 here; hands out chunks 2, 3
    first, second, third = scan.chunks.order_by("number")
    assert ScanChunk.objects.get(pk=first.pk).state == ChunkState.DONE

    def die(*args, **kwargs):
        raise WorkerDied

    with monkeypatch.context() as patched:
        patched.setattr(chunks, "complete", die)
        with pytest.raises(WorkerDied):
            processing.process_chunk(str(second.pk))
    dead_run = list(ScanImage.objects.filter(scan=scan, position__in=(3, 4)))
    assert len(dead_run) == 2
    dead_objects = [obj for image in dead_run for obj in image_outputs(image)]

    processing.process_chunk(str(second.pk))  # redelivered while the lease is alive
    assert list(ScanImage.objects.filter(scan=scan, position__in=(3, 4))) == dead_run

    ScanChunk.objects.filter(pk=second.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert sweeper.sweep() == 1
    assert ScanChunk.objects.get(pk=second.pk).state == ChunkState.QUEUED
    assert ScanChunk.objects.get(pk=second.pk).attempts == 1
    run_queued_chunks(scan)

    scan.refresh_from_db()
    assert scan.status == Status.READY_FOR_REVIEW, scan.error_message
    assert scan.progress_done == scan.progress_total == 6
    images = list(scan.images.order_by("position"))
    assert [image.position for image in images] == [1, 2, 3, 4, 5, 6]
    referenced = {obj for image in images for obj in image_outputs(image)}
    referenced |= set(scan.files.values_list("vault_object", flat=True))
    keys = set(VaultKey.objects.filter(created_at__gte=started).values_list("object_id", flat=True))
    assert keys == referenced
    assert not set(dead_objects) & keys

    before = list(ScanImage.objects.filter(scan=scan).values_list("id", "sanitized_object"))
    processing.process_chunk(str(first.pk))  # a done chunk redelivered
    processing.process_chunk(str(third.pk))
    processing.process_scan(str(scan.pk))  # the scan's own message redelivered
    after = list(ScanImage.objects.filter(scan=scan).values_list("id", "sanitized_object"))
    assert after == before
    assert scan.transitions.filter(to_status=Status.READY_FOR_REVIEW).count() == 1


def test_two_chunks_finishing_together_end_the_study_exactly_once(client, patient, settings):
    """GIVEN a study of two chunks whose images are all recorded
    WHEN both chunks complete at the same moment, on two connections
    THEN the scan's row lock orders them: the second sees the first done and ends the study,
    once."""
    settings.DEID_CHUNK_IMAGES = 2
    scan = upload(client, patient, plain_study(4))
    ScanChunk.objects.bulk_create(
        ScanChunk(
            scan=scan, number=n, first_position=f, last_position=f + 1, state=ChunkState.QUEUED
        )
        for n, f in ((1, 1), (2, 3))
    )
    Scan.objects.filter(pk=scan.pk).update(status=Status.DEIDENTIFYING)
    leases = [chunks.claim(str(chunk.pk)) for chunk in scan.chunks.order_by("number")]
    assert all(leases)
    barrier = threading.Barrier(2)
    ended: list[object] = []

    def finish(lease) -> None:
        try:
            barrier.wait()
            ended.append(chunks.complete(lease, cpu_seconds=0.0))
        finally:
            connection.close()

    threads = [threading.Thread(target=finish, args=(lease,)) for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ended) == 2 and sum(end is not None for end in ended) == 1
    assert Scan.objects.get(pk=scan.pk).status == Status.QUARANTINED  # no image was recorded
    assert scan.transitions.filter(to_status=Status.QUARANTINED).count() == 1


# --- deleting a scan while its chunks run -------------------------------------------------------


def test_deleting_a_scan_while_a_chunk_writes_shreds_what_the_late_chunk_sealed(
    client, patient, settings, monkeypatch, blob_dir
):
    """GIVEN a chunk about to record an image it has de-identified
    WHEN the patient deletes the scan at that moment (on another connection), the deletion
    having already listed what to shred
    THEN the chunk finds the scan gone under its row lock, records nothing and shreds what it
    sealed itself: no key and no blob of the scan is left, nothing a list made earlier missed."""
    settings.DEID_CHUNK_IMAGES = 2
    started = timezone.now()
    scan = upload(client, patient, plain_study(4))
    listed, store_done = threading.Event(), threading.Event()
    real_list, real_store = deletion.owned_objects, processing._store_image
    outcome: list[bool] = []

    def list_then_wait(target):
        objects = real_list(target)
        listed.set()
        store_done.wait(timeout=60)
        return objects

    def delete() -> None:
        try:
            outcome.append(delete_scan(Scan.objects.get(pk=scan.pk), actor=patient.pseudonym))
        finally:
            connection.close()

    def store_while_deleting(*args, **kwargs):
        if outcome or listed.is_set():
            return real_store(*args, **kwargs)
        other = threading.Thread(target=delete)
        other.start()
        assert listed.wait(timeout=60)
        try:
            return real_store(*args, **kwargs)
        finally:
            store_done.set()
            other.join()

    monkeypatch.setattr(deletion, "owned_objects", list_then_wait)
    monkeypatch.setattr(processing, "_store_image", store_while_deleting)
    processing.process_scan(str(scan.pk))

    assert outcome == [True]
    scan.refresh_from_db()
    assert scan.status == Status.DELETED
    assert not ScanImage.objects.filter(scan=scan).exists()
    assert not VaultKey.objects.filter(created_at__gte=started).exists()
    assert [path for path in blob_dir.rglob("*") if path.is_file()] == []
    # The other chunks find nothing to do.
    for chunk in ScanChunk.objects.filter(scan=scan):
        processing.process_chunk(str(chunk.pk))
    assert not ScanImage.objects.filter(scan=scan).exists()


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_only_an_images_own_transaction_commits_without_waiting_for_the_wal():
    """GIVEN the transaction that records one image WHEN it asks not to wait for the WAL flush
    THEN that transaction commits asynchronously, and the next one (a chunk's completion, a
    deletion) waits for the flush again, so it makes every image before it durable."""
    assert synchronous_commit() == "on"
    with transaction.atomic():
        chunks.commit_image_without_waiting_for_wal()
        assert synchronous_commit() == "off"
    assert synchronous_commit() == "on"
    with transaction.atomic():
        assert synchronous_commit() == "on"
    with transaction.atomic(), transaction.atomic():
        chunks.commit_image_without_waiting_for_wal()  # a transaction it did not open
        assert synchronous_commit() == "on"
