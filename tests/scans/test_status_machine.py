"""A scan's status changes in one place, only along the allowed paths, each change recorded."""

import pytest

from scans import pipeline
from scans.models import Scan, Status

pytestmark = pytest.mark.django_db


@pytest.fixture
def scan(patient):
    return Scan.objects.create(owner=patient)


def test_a_new_scan_starts_uploaded(scan):
    assert scan.status == Status.UPLOADED


def test_the_happy_path_is_allowed_and_every_step_recorded_with_its_time(scan):
    path = [
        Status.QUEUED,
        Status.DEIDENTIFYING,
        Status.READY_FOR_REVIEW,
        Status.CONSENTED,
        Status.SENDING,
        Status.ANSWERED,
    ]
    for target in path:
        assert pipeline.transition(scan.pk, target)
    recorded = list(scan.transitions.values_list("from_status", "to_status"))
    assert recorded == list(zip([Status.UPLOADED, *path[:-1]], path, strict=True))
    assert all(t.at is not None for t in scan.transitions.all())
    scan.refresh_from_db()
    assert scan.status == Status.ANSWERED


@pytest.mark.parametrize(
    "target",
    [
        Status.CONSENTED,
        Status.SENDING,
        Status.ANSWERED,
        Status.READY_FOR_REVIEW,
        Status.SEND_FAILED,
    ],
)
def test_an_illegal_jump_changes_nothing(scan, target):
    assert not pipeline.transition(scan.pk, target)
    scan.refresh_from_db()
    assert scan.status == Status.UPLOADED
    assert not scan.transitions.exists()


def test_asking_for_a_source_that_can_never_lead_there_is_an_error(scan):
    with pytest.raises(pipeline.IllegalTransition):
        pipeline.transition(scan.pk, Status.ANSWERED, expected={Status.UPLOADED})


def test_only_one_of_two_racing_claims_wins(scan):
    assert pipeline.transition(scan.pk, Status.DEIDENTIFYING, expected={Status.UPLOADED})
    assert not pipeline.transition(scan.pk, Status.DEIDENTIFYING, expected={Status.UPLOADED})
    assert scan.transitions.count() == 1


def test_a_deleted_scan_stays_deleted(scan):
    assert pipeline.transition(scan.pk, Status.DELETED)
    for target in Status.values:
        assert not pipeline.transition(scan.pk, target)


def test_a_scan_being_sent_cannot_be_deleted_until_sending_ends(scan):
    for target in [
        Status.QUEUED,
        Status.DEIDENTIFYING,
        Status.READY_FOR_REVIEW,
        Status.CONSENTED,
        Status.SENDING,
    ]:
        pipeline.transition(scan.pk, target)
    assert not pipeline.transition(scan.pk, Status.DELETED)
