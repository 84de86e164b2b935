"""The health page: queue depth, worker heartbeats, stuck and quarantined scans, the audit chain
and free disk, each shown from conditions the test creates."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from audit.log import append, sign_head
from audit.models import AuditEntry
from clinic import health
from clinic.models import AuditVerification
from scans.models import Scan, Status

pytestmark = pytest.mark.django_db

# A Redis database of its own: the suite's worker tests flush and consume database 14.
HEALTH_REDIS = "redis://127.0.0.1:6379/9"


def depth_cells(page: str) -> dict[str, str]:
    rows = re.findall(r"<td[^>]*>(\w+)</td>\s*<td class=\"depth\"[^>]*>([^<]+)<", page)
    return {name: value.strip() for name, value in rows}


@pytest.fixture
def redis_broker(settings):
    settings.CELERY_BROKER_URL = HEALTH_REDIS
    client = redis.Redis.from_url(HEALTH_REDIS)
    client.delete("deid", "send", "default")
    yield client
    client.delete("deid", "send", "default")


def test_queue_depth_is_read_from_a_redis_broker(admin_client, redis_broker):
    redis_broker.rpush("deid", *[b"message"] * 3)
    redis_broker.rpush("send", b"message")

    page = admin_client.get("/clinic/health/").content.decode()

    assert depth_cells(page) == {"deid": "3", "send": "1", "default": "0"}


def test_queue_depth_is_counted_from_a_filesystem_broker(admin_client, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    for index, queue in enumerate(["deid", "deid", "default"]):
        (tmp_path / f"{index}_abc.{queue}.msg").write_bytes(b"{}")

    page = admin_client.get("/clinic/health/").content.decode()

    assert depth_cells(page) == {"deid": "2", "send": "0", "default": "1"}


def test_an_unreachable_broker_is_shown_as_such(admin_client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    page = admin_client.get("/clinic/health/").content.decode()

    assert page.count("broker unreachable") == 3


def test_stuck_and_quarantined_scans_are_counted(admin_client, patient, settings):
    settings.SWEEP_STUCK_AFTER_SECONDS = 900

    def scan_in(status: str, seconds_ago: int) -> None:
        scan = Scan.objects.create(owner=patient, status=status)
        since = timezone.now() - timedelta(seconds=seconds_ago)
        Scan.objects.filter(pk=scan.pk).update(status_changed_at=since)

    scan_in(Status.QUEUED, 1000)  # stuck
    scan_in(Status.DEIDENTIFYING, 1000)  # stuck
    scan_in(Status.QUEUED, 800)  # waiting, not yet stuck
    scan_in(Status.READY_FOR_REVIEW, 5000)  # done, not stuck however old
    scan_in(Status.QUARANTINED, 5000)
    scan_in(Status.QUARANTINED, 10)

    page = admin_client.get("/clinic/health/").content.decode()

    assert '<strong id="stuck">2</strong>' in page
    assert '<strong id="quarantined">2</strong>' in page


def test_a_worker_heartbeat_shows_its_age_and_a_silent_queue_is_flagged(admin_client, settings):
    settings.HEARTBEAT_INTERVAL_SECONDS = 60
    now = timezone.now()
    health.record_heartbeat("deid", "celery@worker-1", now - timedelta(seconds=30))
    health.record_heartbeat("send", "celery@worker-1", now - timedelta(seconds=600))

    rows = {row.name: row for row in health.snapshot(now).queues}
    page = admin_client.get("/clinic/health/").content.decode()

    assert rows["deid"].worker_ok and rows["deid"].age_seconds == 30
    assert not rows["send"].worker_ok
    assert rows["default"].age_seconds is None
    assert "celery@worker-1" in page
    assert page.count("not seen recently") == 2


def test_the_last_audit_verification_and_the_latest_signed_head_are_shown(
    admin_client, signing_key
):
    append("test.event", actor="system")
    head = sign_head()
    result = health.verify_audit_chain()

    page = admin_client.get("/clinic/health/").content.decode()

    assert result.ok and result.entries == AuditEntry.objects.count()
    assert '<strong class="status status-answered" id="audit-verdict">intact</strong>' in page
    assert head.root_hash in page


def test_a_verification_that_cannot_run_is_stored_as_a_failure(admin_client, settings, tmp_path):
    settings.AUDIT_SIGNING_KEY = ""
    settings.AUDIT_SIGNING_KEY_PATH = tmp_path / "missing.pem"
    settings.AUDIT_PUBLIC_KEY_PATH = tmp_path / "missing.pub.pem"  # verifying needs one of them

    result = health.verify_audit_chain()

    assert not result.ok
    assert "could not run" in result.reason
    assert AuditVerification.objects.get() == result
    assert 'id="audit-verdict">BROKEN' in admin_client.get("/clinic/health/").content.decode()


def test_free_disk_is_shown_for_local_blobs_and_object_storage_is_named(admin_client, settings):
    page = admin_client.get("/clinic/health/").content.decode()
    assert re.search(r'<p id="disk">[\d.]+\s\w+ free of', page.replace("\xa0", " "))

    settings.VAULT_BACKEND = "s3"
    page = admin_client.get("/clinic/health/").content.decode()
    assert "Object storage" in page
