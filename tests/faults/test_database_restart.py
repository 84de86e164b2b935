"""PostgreSQL restarts while the gateway runs: the app recovers with nobody touching it.

The web side (gunicorn) and a Celery worker (with beat, so the sweeper runs on its schedule) use a
private PostgreSQL cluster, which ``pg_ctl restart -m fast`` restarts: every open connection is cut.
With CONN_HEALTH_CHECKS on, Django checks a persistent connection before reusing it, so the first
request after the restart already succeeds; no failed request is acceptable.
"""

from __future__ import annotations

import httpx
import pytest

from tests.support.services import GatewayStack
from tests.support.studies import study_zip
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.worker]

DONE = {"ready_for_review", "quarantined", "failed"}
# Short lease and sweep times, so recovering a scan whose run died takes seconds, not minutes.
FAST_RECOVERY = {
    "DEID_LEASE_SECONDS": "5",
    "SWEEP_INTERVAL_SECONDS": "2",
    "SWEEP_STUCK_AFTER_SECONDS": "5",
}


class Patient:
    def __init__(self, stack: GatewayStack) -> None:
        token = stack.create_patients(1)[0]
        self.http = httpx.Client(
            base_url=stack.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def upload(self, study: bytes) -> str:
        response = self.http.post(
            "/api/v1/scans", files=[("files", ("study.zip", study, "application/zip"))]
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def scan(self, scan_id: str) -> dict:
        response = self.http.get(f"/api/v1/scans/{scan_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_until_done(self, scan_id: str) -> dict:
        wait_until(
            lambda: self.scan(scan_id)["status"] in DONE,
            timeout=240,
            what=f"scan {scan_id} to finish",
        )
        return self.scan(scan_id)


def images_of(stack: GatewayStack, scan_id: str) -> list[tuple[int, str]]:
    return stack.postgres.query(
        "gateway",
        "SELECT position, sanitized_object::text FROM scans_scanimage WHERE scan_id = %s"
        " ORDER BY position",
        (scan_id,),
    )


def test_requests_after_a_database_restart_succeed_from_the_first_one_on(start_stack):
    stack = start_stack()
    stack.start_web(workers=1, threads=2)
    stack.start_worker(queues="deid,send,default")
    patient = Patient(stack)
    before = patient.upload(study_zip(2))
    assert patient.wait_until_done(before)["status"] == "ready_for_review"

    stack.postgres.restart()

    first = patient.http.get(f"/api/v1/scans/{before}")
    assert first.status_code == 200, first.text  # the very first request after the restart
    after = patient.upload(study_zip(2))
    done = patient.wait_until_done(after)  # the worker's connection recovered too
    assert done["status"] == "ready_for_review", done["error_message"]
    assert done["progress"] == {"done": 2, "total": 2}


def test_a_scan_being_deidentified_when_the_database_restarts_is_finished_afterwards(
    start_stack,
):
    """GIVEN a worker part-way through a 40-image study WHEN PostgreSQL restarts under it (its
    run fails on the cut connection) THEN the sweeper hands the scan back once the lease runs
    out, and it is finished with every image exactly once."""
    stack = start_stack(FAST_RECOVERY)
    stack.start_web(workers=1, threads=2)
    stack.start_worker(queues="deid,send,default", beat=True)
    patient = Patient(stack)
    scan_id = patient.upload(study_zip(40))
    wait_until(
        lambda: patient.scan(scan_id)["progress"]["done"] >= 1,
        timeout=180,
        what="the worker to be part-way through the scan",
    )

    stack.postgres.restart()

    assert patient.http.get(f"/api/v1/scans/{scan_id}").status_code == 200
    done = patient.wait_until_done(scan_id)
    assert done["status"] == "ready_for_review", done["error_message"]
    assert done["progress"] == {"done": 40, "total": 40}
    images = images_of(stack, scan_id)
    assert [position for position, _ in images] == list(range(1, 41))
    sanitized = [object_id for _, object_id in images]
    assert len(set(sanitized)) == 40 and None not in sanitized
