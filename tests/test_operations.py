"""Operations: JSON logs under the no-PHI rule, heartbeats and health endpoints for workers and
beat, Prometheus metrics on their own port, and processes started without secrets they never use.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from prometheus_client import CollectorRegistry

from gateway import health, metrics
from gateway.jsonlog import HideExceptionText, JsonFormatter
from scans import processing
from scans.models import Scan
from tests.support import builders
from tests.support.waiting import wait_until
from tests.support.workers import ROOT, flush_broker, worker_env

NAME = "Philippa^Ottersby-Quince"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def json_log_of(emit) -> dict:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(HideExceptionText())
    logger = logging.getLogger(f"tests.jsonlog.{time.monotonic_ns()}")
    logger.addHandler(handler)
    logger.propagate = False
    emit(logger)
    return json.loads(stream.getvalue())


# --- Logs ---------------------------------------------------------------------------------------


def test_it_writes_one_json_object_per_line_with_the_fixed_fields():
    line = json_log_of(lambda log: log.info("scan %s: %d clean", "ab12", 3))
    assert line["message"] == "scan ab12: 3 clean"
    assert line["level"] == "INFO"
    assert set(line) == {"time", "level", "logger", "message", "process"}


def test_it_logs_an_exception_by_type_and_place_never_by_its_text():
    def emit(log: logging.Logger) -> None:
        try:
            raise ValueError(f"could not parse PatientName={NAME}")
        except ValueError:
            log.exception("scan %s failed", "ab12")

    line = json_log_of(emit)
    assert line["error"].startswith("ValueError at test_operations.py:")
    assert NAME not in json.dumps(line)


def test_it_drops_the_extra_fields_libraries_attach():
    """GIVEN Celery's habit of attaching a task's arguments and result as ``extra``
    THEN none of it reaches the log line."""
    line = json_log_of(lambda log: log.info("Task received", extra={"data": {"args": [NAME]}}))
    assert NAME not in json.dumps(line)
    assert "data" not in line


def test_it_keeps_only_the_type_of_an_exception_in_celerys_task_failure_line():
    error = KeyError(NAME)

    def emit(log: logging.Logger) -> None:
        log.error("Task %(name)s[%(id)s] %(description)s: %(exc)s",
                  {"name": "scans.tasks.process_scan", "id": "ab12",
                   "description": "raised unexpected", "exc": repr(error)},
                  exc_info=(KeyError, error, None))

    line = json_log_of(emit)
    assert line["message"] == "Task scans.tasks.process_scan[ab12] raised unexpected: KeyError"
    assert NAME not in json.dumps(line)


# --- Metrics ------------------------------------------------------------------------------------


def scrape(registry: CollectorRegistry) -> str:
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()


@pytest.mark.django_db(transaction=True)
def test_it_measures_de_identification_time_per_image_and_counts_outcomes(patient_client):
    before = metrics.DEID_IMAGES.labels(outcome="clean")._value.get()
    count_before = sum(
        sample.value for sample in metrics.DEID_IMAGE_SECONDS.collect()[0].samples
        if sample.name.endswith("_count") and sample.labels["outcome"] == "clean"
    )
    files = [SimpleUploadedFile(f"{i}.dcm", builders.make_dicom_bytes(PatientName=NAME))
             for i in range(3)]
    assert patient_client.post("/scans/upload/", {"files": files}).status_code == 302
    processing.process_scan(str(Scan.objects.get().pk))

    assert metrics.DEID_IMAGES.labels(outcome="clean")._value.get() == before + 3
    count_after = sum(
        sample.value for sample in metrics.DEID_IMAGE_SECONDS.collect()[0].samples
        if sample.name.endswith("_count") and sample.labels["outcome"] == "clean"
    )
    assert count_after == count_before + 3
    text = scrape(metrics.REGISTRY)
    assert 'gateway_deid_images_total{outcome="clean"}' in text
    assert NAME not in text


def test_it_reads_the_queue_depth_from_the_broker():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    flush_broker()
    try:
        client.lpush("deid", b"{}", b"{}")
        client.lpush("send", b"{}")
        registry = CollectorRegistry()
        registry.register(metrics.QueueDepthCollector(settings.CELERY_BROKER_URL))
        text = scrape(registry)
    finally:
        flush_broker()
    assert 'gateway_queue_depth{queue="deid"} 2.0' in text
    assert 'gateway_queue_depth{queue="send"} 1.0' in text
    assert 'gateway_queue_depth{queue="default"} 0.0' in text


def test_the_exporter_answers_health_from_the_heartbeat_and_nothing_else(tmp_path):
    beat_file = tmp_path / "heartbeat"
    app = metrics.exporter_app(CollectorRegistry(), lambda: health.is_alive(beat_file, 60))

    def get(path: str) -> str:
        status: list[str] = []
        body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": "GET"},
                            lambda s, h: status.append(s)))
        return status[0] + " " + body.decode()

    assert get("/healthz").startswith("503")  # never beat
    health.touch_heartbeat(beat_file)
    assert get("/healthz").startswith("200")
    stale = time.time() - 120
    os.utime(beat_file, (stale, stale))
    assert get("/healthz").startswith("503")
    assert get("/metrics").startswith("200")
    assert get("/admin/").startswith("404")


# --- Heartbeats of real Celery processes --------------------------------------------------------


def celery_process(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    celery = shutil.which("celery", path=str(Path(sys.executable).parent))
    return subprocess.Popen([celery, "-A", "gateway", *args], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


def healthz(port: int) -> int:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code
    except httpx.HTTPError:
        return 0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_beats_and_serves_health_and_metrics_on_its_own_port(tmp_path):
    port = free_port()
    beat_file = tmp_path / "worker-heartbeat"
    env = worker_env({"METRICS_PORT": str(port), "GATEWAY_HEARTBEAT_FILE": str(beat_file)})
    process = celery_process(["worker", "--pool=solo", "--queues", "deid", "--without-mingle",
                              "--without-gossip", "--hostname", f"ops-{os.getpid()}@localhost"],
                             env)
    try:
        wait_until(lambda: healthz(port) == 200, timeout=60)
        assert beat_file.exists()
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "gateway_deid_image_seconds" in text
    finally:
        stop(process)
    assert healthz(port) == 0  # gone with its process


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_beat_touches_its_heartbeat_at_every_tick_and_reports_queue_depth(tmp_path):
    port = free_port()
    beat_file = tmp_path / "beat-heartbeat"
    env = worker_env({"METRICS_PORT": str(port), "GATEWAY_HEARTBEAT_FILE": str(beat_file)})
    process = celery_process(["beat", "--scheduler", "gateway.health:HeartbeatScheduler",
                              "--schedule", str(tmp_path / "schedule")], env)
    try:
        wait_until(lambda: healthz(port) == 200, timeout=60)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'gateway_queue_depth{queue="deid"}' in text
    finally:
        stop(process)
        flush_broker()  # beat published its first round of jobs; no worker here takes them


# --- Secrets a process never uses ---------------------------------------------------------------


def test_a_process_without_the_django_secret_gets_a_fresh_throwaway_one():
    env = {**os.environ, "SECRET_KEY_FILE": "/nonexistent/secret", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "gateway.throwaway_secret", sys.executable, "-c",
               "import os; print(os.environ['SECRET_KEY'], os.environ.get('SECRET_KEY_FILE'))"]
    first, second = (
        subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    )
    key, file_setting = first.split()
    assert len(key) >= 50 and file_setting == "None"
    assert first.split()[0] != second.split()[0]
