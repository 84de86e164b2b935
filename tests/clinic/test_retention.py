"""Retention: each rule destroys exactly what the policy says, at its boundary, and only once.

GIVEN scans aged by queryset updates, WHEN retention is applied, THEN the due vault objects are
crypto-shredded (no key, no blob) with their pointers cleared, and everything else still
decrypts. Days are checked one day either side of each boundary.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEntry
from clinic import retention
from scans.models import Answer, ConsentState, ScanFile, ScanImage, Status
from tests.support.stored import gone, in_vault, stored_scan
from vault import get_vault
from vault.models import VaultKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def apply(django_capture_on_commit_callbacks):
    """Apply retention now, running the after-commit blob deletions as a real commit would."""

    def run(**kwargs) -> retention.RetentionReport:
        with django_capture_on_commit_callbacks(execute=True):
            return retention.apply(timezone.now(), **kwargs)

    return run


def consented(patient, days: float, **kwargs):
    """A scan whose patient consented (and got no answer): never caught by the unconsented rule."""
    return stored_scan(patient, uploaded_days_ago=days, status=Status.SEND_FAILED,
                       consent_state=ConsentState.SEND_FAILED, **kwargs)


def test_originals_go_seven_days_after_upload_and_nothing_else_does(patient, blob_dir, apply):
    young = consented(patient, 6)
    old = consented(patient, 8)

    apply()

    assert all(in_vault(o) for o in young.everything)
    assert all(gone(o) for o in old.originals)
    assert all(in_vault(o) for o in old.sanitized + old.consent_material + [old.question])
    assert ScanFile.objects.get(scan=old.scan).vault_object is None
    image = ScanImage.objects.get(scan=old.scan)
    assert image.original_preview_object is None
    assert image.sanitized_object is not None


def test_sanitized_images_and_consent_material_go_thirty_days_after_upload(
    patient, blob_dir, apply
):
    young = consented(patient, 29)
    old = consented(patient, 31)

    apply()

    assert all(gone(o) for o in young.originals)
    assert all(in_vault(o) for o in young.sanitized + young.consent_material + [young.question])
    assert all(gone(o) for o in old.everything)
    image = ScanImage.objects.get(scan=old.scan)
    assert (image.sanitized_object, image.preview_object) == (None, None)
    old.scan.refresh_from_db()
    assert old.scan.status == Status.SEND_FAILED  # a consented scan is not marked deleted


def test_a_question_stays_with_its_answer_after_the_images_go(patient, blob_dir, apply):
    answered = stored_scan(patient, uploaded_days_ago=31, status=Status.ANSWERED,
                           answered_days_ago=30)

    apply()

    assert all(gone(o) for o in answered.originals + answered.sanitized)
    assert all(gone(o) for o in answered.consent_material)
    assert in_vault(answered.question)
    assert in_vault(answered.answer_object)


def test_answers_and_their_questions_go_a_year_after_the_answer(patient, blob_dir, apply):
    young = stored_scan(patient, uploaded_days_ago=400, status=Status.ANSWERED,
                        answered_days_ago=364)
    old = stored_scan(patient, uploaded_days_ago=400, status=Status.ANSWERED,
                      answered_days_ago=366)

    apply()

    assert in_vault(young.answer_object) and in_vault(young.question)
    assert gone(old.answer_object) and gone(old.question)
    old_answer = Answer.objects.get(pk=old.answer.pk)
    assert old_answer.answer_object is None
    assert old_answer.deleted_at is not None
    assert Answer.objects.get(pk=young.answer.pk).answer_object == young.answer_object


def test_a_scan_never_consented_is_destroyed_and_marked_deleted_after_fourteen_days(
    patient, blob_dir, apply
):
    young = stored_scan(patient, uploaded_days_ago=13)
    old = stored_scan(patient, uploaded_days_ago=15, status=Status.QUARANTINED)
    consented_once = consented(patient, 15)

    report = apply()

    assert report.targets["unconsented"] == [old.scan.pk]
    assert all(gone(o) for o in old.everything)
    old.scan.refresh_from_db()
    assert old.scan.status == Status.DELETED
    assert not old.scan.files.exists() and not old.scan.images.exists()
    # Thirteen days: only the originals (seven-day rule) are gone; the scan itself stays.
    assert all(gone(o) for o in young.originals) and all(in_vault(o) for o in young.sanitized)
    young.scan.refresh_from_db()
    assert young.scan.status == Status.READY_FOR_REVIEW
    consented_once.scan.refresh_from_db()
    assert consented_once.scan.status == Status.SEND_FAILED
    assert all(in_vault(o) for o in consented_once.sanitized)


@pytest.mark.parametrize("status", [Status.SENDING, Status.DEIDENTIFYING])
def test_a_scan_being_sent_or_processed_is_not_touched(patient, blob_dir, apply, status):
    busy = stored_scan(patient, uploaded_days_ago=400, status=status)

    report = apply()

    assert all(in_vault(o) for o in busy.everything)
    assert report.is_empty
    busy.scan.refresh_from_db()
    assert busy.scan.status == status


def test_a_consent_waiting_to_be_sent_keeps_its_scan_whole(patient, blob_dir, apply):
    waiting = stored_scan(patient, uploaded_days_ago=40, status=Status.CONSENTED,
                          consent_state=ConsentState.ACTIVE, consent_expires_in_days=1)

    apply()

    assert all(in_vault(o) for o in waiting.everything)
    assert waiting.scan.pk in retention.plan(timezone.now()).busy


def test_applying_twice_does_nothing_the_second_time(patient, blob_dir, apply):
    consented(patient, 31)
    stored_scan(patient, uploaded_days_ago=15)
    stored_scan(patient, uploaded_days_ago=400, status=Status.ANSWERED, answered_days_ago=366)
    first = apply()
    assert not first.is_empty
    entries = AuditEntry.objects.count()

    second = apply()

    assert second.is_empty
    assert retention.plan(timezone.now()).is_empty
    assert AuditEntry.objects.count() == entries


def test_what_was_done_is_in_the_audit_log_as_ids_and_counts(patient, blob_dir, apply):
    old = consented(patient, 8)

    apply(actor="beat")

    shredded = AuditEntry.objects.get(action="retention.shredded")
    assert (shredded.actor, shredded.object_type, shredded.object_id) == (
        "beat", "scan", str(old.scan.pk)
    )
    assert shredded.details == {"category": "originals", "objects": 2}
    summary = AuditEntry.objects.get(action="retention.applied")
    assert summary.details["originals"] == 1
    assert summary.details["originals_objects"] == 2
    assert summary.details["unconsented"] == 0


def test_the_policy_decides_the_days(patient, blob_dir, apply):
    scan = consented(patient, 3)
    retention.change_policy(actor="cli", originals_days=2)

    apply()

    assert all(gone(o) for o in scan.originals)
    entry = AuditEntry.objects.get(action="retention.changed")
    assert entry.details["fields"] == ["originals_days"]
    assert entry.details["originals_days"] == 2


def test_a_dry_run_prints_what_would_go_and_changes_nothing(patient, blob_dir):
    old = stored_scan(patient, uploaded_days_ago=15)
    keys, entries = VaultKey.objects.count(), AuditEntry.objects.count()
    out = io.StringIO()

    call_command("retention", "--dry-run", "--verbose", stdout=out)

    assert "unconsented: 1 scan(s), 4 object(s)" in out.getvalue()
    assert str(old.scan.pk) in out.getvalue()
    assert all(str(o) in out.getvalue() for o in old.everything)
    assert (VaultKey.objects.count(), AuditEntry.objects.count()) == (keys, entries)
    old.scan.refresh_from_db()
    assert old.scan.status == Status.READY_FOR_REVIEW


def test_the_command_without_dry_run_applies_the_policy(
    patient, blob_dir, django_capture_on_commit_callbacks
):
    old = stored_scan(patient, uploaded_days_ago=15)
    out = io.StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("retention", stdout=out)

    assert "unconsented: 1 done, 4 object(s) shredded" in out.getvalue()
    assert all(gone(o) for o in old.everything)
    assert AuditEntry.objects.filter(action="retention.applied", actor="cli").exists()


def test_a_question_whose_answer_the_patient_deleted_goes_with_the_images(
    patient, blob_dir, apply, django_capture_on_commit_callbacks
):
    answered = stored_scan(patient, uploaded_days_ago=31, status=Status.ANSWERED,
                           answered_days_ago=20)
    with django_capture_on_commit_callbacks(execute=True):
        get_vault().shred(answered.answer_object)
    Answer.objects.filter(pk=answered.answer.pk).update(
        answer_object=None, deleted_at=timezone.now()
    )

    apply()

    assert gone(answered.question)
