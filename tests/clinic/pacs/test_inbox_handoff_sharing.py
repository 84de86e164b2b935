"""Clinicians' inbox, hand-off to a patient, and answers shared back.

GIVEN a study the PACS sent, a clinician sees it (and every look is audited), hands it to a
patient by e-mail, and the patient's scan follows exactly the path of an upload; the clinician
can never consent for the patient, and sees the patient's question only once it is shared.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import Role, User
from audit.export import export_fhir
from audit.models import AuditEntry
from audit.reading import trail
from clinic.pacs.handoff import HandoffRefused, hand_off
from clinic.pacs.models import Handoff, Share, Source, Study
from clinic.pacs.receiving import receive_instance
from clinic.pacs.sharing import revoke_share, share_answer
from scans.models import Answer, Scan, ScanFile, Status
from tests.support import builders
from tests.support.accounts import make_user, with_totp
from tests.support.stored import stored_scan

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("blob_dir")]

NAME = "Quillfeather^Ambrosine"


@pytest.fixture
def study() -> Study:
    uid = "1.2.826.0.1.3680043.8.498.1"
    for i in range(2):
        receive_instance(
            builders.make_dicom_bytes(StudyInstanceUID=uid, PatientName=NAME, InstanceNumber=i),
            source=Source.DIMSE,
        )
    return Study.objects.get()


@pytest.fixture
def clinician() -> User:
    return with_totp(make_user("doctor@example.org", Role.CLINICIAN))


@pytest.fixture
def clinician_client(clinician) -> Client:
    client = Client()
    client.force_login(clinician)
    return client


def test_clinicians_see_the_clinics_studies_and_each_look_is_audited(clinician_client, study):
    listing = clinician_client.get(reverse("pacs:inbox"))
    detail = clinician_client.get(reverse("pacs:study", args=[study.pk]))

    assert NAME in listing.content.decode() and NAME in detail.content.decode()
    views = AuditEntry.objects.filter(action="study.viewed")
    assert {v.object_type for v in views} == {"inbox", "study"}
    assert NAME not in str(list(AuditEntry.objects.values_list("details", flat=True)))


def test_handing_a_study_to_a_new_address_invites_a_patient_whose_scan_takes_the_upload_path(
    clinician_client, study, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = clinician_client.post(
            reverse("pacs:handoff", args=[study.pk]), {"email": "New.Patient@example.org"}
        )
    assert response.status_code == 302
    patient = User.objects.get(email="new.patient@example.org")
    assert patient.role == Role.PATIENT
    handoff = Handoff.objects.get()
    scan = handoff.scan
    assert scan.owner == patient and scan.status == Status.UPLOADED
    assert ScanFile.objects.filter(scan=scan, kind="dicom").count() == 2
    # The clinic keeps its own copy: the scan's files are separate vault objects.
    assert not set(ScanFile.objects.values_list("vault_object", flat=True)) & set(
        study.instances.values_list("vault_object", flat=True)
    )
    entry = AuditEntry.objects.get(action="study.handed_off")
    assert entry.details["patient"] == patient.pseudonym and entry.details["invited"] is True


def test_handing_a_study_to_an_existing_patient_tells_them_by_mail(
    clinician, study, patient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        hand_off(study, "pat@example.org", clinician=clinician)
    assert Scan.objects.get().owner == patient
    assert any("given you a scan" in m.subject for m in mail.outbox)


def test_a_study_is_never_handed_to_a_staff_account(clinician, study, blob_dir):
    blobs_before = sum(1 for p in blob_dir.rglob("*") if p.is_file())
    with pytest.raises(HandoffRefused):
        hand_off(study, "doctor@example.org", clinician=clinician)
    assert Scan.objects.count() == 0 and Handoff.objects.count() == 0
    assert sum(1 for p in blob_dir.rglob("*") if p.is_file()) == blobs_before


def test_a_clinician_cannot_consent_or_read_the_patients_scan(clinician, clinician_client, study):
    handoff = hand_off(study, "someone@example.org", clinician=clinician)
    assert clinician_client.get(reverse("scans:detail", args=[handoff.scan.pk])).status_code == 403
    ask = reverse("consent:ask", args=[handoff.scan.pk])
    assert clinician_client.get(ask).status_code == 403
    assert clinician_client.post(ask, {}).status_code == 403


def test_a_shared_answer_shows_the_question_to_clinicians_until_the_patient_revokes_it(
    clinician_client, patient, patient_client
):
    answer = stored_scan(patient, answered_days_ago=0).scan.answers.get()
    assert clinician_client.get(reverse("pacs:shared")).content.count(b"Read") == 0

    patient_client.post(reverse("pacs:share", args=[answer.pk]))
    share = Share.objects.get()
    page = clinician_client.get(reverse("pacs:shared_answer", args=[share.pk]))
    assert page.status_code == 200 and "What is this shadow?" in page.content.decode()

    patient_client.post(reverse("pacs:revoke", args=[share.pk]))
    assert clinician_client.get(reverse("pacs:shared_answer", args=[share.pk])).status_code == 404
    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert {"share.created", "share.viewed", "share.revoked"} <= set(actions)


def test_a_patient_cannot_share_or_revoke_anothers_answer(patient, other_patient):
    answer = stored_scan(patient, answered_days_ago=0).scan.answers.get()
    intruder = Client()
    intruder.force_login(other_patient)
    assert intruder.post(reverse("pacs:share", args=[answer.pk])).status_code == 404
    owner = Client()
    owner.force_login(patient)
    owner.post(reverse("pacs:share", args=[answer.pk]))
    share = Share.objects.get()
    assert intruder.post(reverse("pacs:revoke", args=[share.pk])).status_code == 404
    assert Share.objects.get().revoked_at is None


def test_the_fhir_export_carries_a_share_as_a_consent(patient, patient_client):
    answer = stored_scan(patient, answered_days_ago=0).scan.answers.get()
    patient_client.post(reverse("pacs:share", args=[answer.pk]))
    bundle = export_fhir(AuditEntry.objects.order_by("seq"))
    resources = [e["resource"] for e in bundle["entry"]]
    consents = [r for r in resources if r["resourceType"] == "Consent"]
    share_id = str(Share.objects.get().pk)
    assert any(c.get("identifier", [{}])[0].get("value") == share_id for c in consents)


def test_the_case_trail_of_a_handed_over_scan_holds_intake_hand_off_share_and_revoke(
    clinician, study, patient
):
    handoff = hand_off(study, "pat@example.org", clinician=clinician)
    answer = stored_scan(patient, answered_days_ago=0).scan.answers.get()
    # The answer of the handed-over scan (built directly: the worker is not part of this test).
    Answer.objects.filter(pk=answer.pk).update(scan=handoff.scan)
    answer.refresh_from_db()
    share = share_answer(answer, patient)
    revoke_share(share.pk, patient)

    actions = [e.action for e in trail(str(handoff.scan.pk)).entries]

    for action in ("study.received", "study.handed_off", "share.created", "share.revoked"):
        assert action in actions


def test_a_study_left_in_the_inbox_too_long_is_crypto_shredded_but_the_patients_scan_stays(
    clinician, study, settings
):
    from datetime import timedelta

    from django.utils import timezone

    from clinic.pacs.expiry import shred_expired_studies
    from vault import get_vault

    handoff = hand_off(study, "kept@example.org", clinician=clinician)
    objects = [*study.instances.values_list("vault_object", flat=True), study.summary_object]
    settings.DICOM_INBOX_DAYS = 30

    assert shred_expired_studies(timezone.now() + timedelta(days=29)) == 0
    assert shred_expired_studies(timezone.now() + timedelta(days=31)) == 1

    assert Study.objects.count() == 0
    assert not any(get_vault().exists(o) for o in objects)
    assert Scan.objects.filter(pk=handoff.scan_id).exists()
    assert AuditEntry.objects.filter(action="retention.shredded", object_type="study").exists()


def test_a_clinician_blacks_out_a_held_back_image_and_the_verifier_releases_it(
    clinician, clinician_client, study
):
    from tests.support.pacs import held_back_image

    handoff = hand_off(study, "redact@example.org", clinician=clinician)
    image = held_back_image(handoff)
    url = reverse("pacs:image_redact", args=[study.pk, image.pk])
    page = clinician_client.get(reverse("pacs:study", args=[study.pk])).content.decode()
    assert "Black out and verify again" in page

    clinician_client.post(url, {"boxes": "0,0,16,4"})

    image.refresh_from_db()
    assert image.outcome == "clean" and image.sanitized_object and image.attestation
    assert image.report["clinic_redaction"] == {"boxes": 1}
    entry = AuditEntry.objects.get(action="study.image_redacted")
    assert entry.details["outcome"] == "clean" and entry.object_id == str(handoff.scan_id)


def test_a_quarantined_study_becomes_reviewable_once_the_verifier_releases_an_image(
    clinician, clinician_client, study
):
    """GIVEN a handed-over scan with every image held back (quarantined: nothing to review)
    WHEN a clinician blacks out the text and the verifier, run again, releases the image
    THEN the patient's scan waits for their review, with only that released image sendable."""
    from tests.support.pacs import held_back_image

    handoff = hand_off(study, "redact@example.org", clinician=clinician)
    image = held_back_image(handoff)
    Scan.objects.filter(pk=handoff.scan_id).update(status=Status.QUARANTINED)

    clinician_client.post(
        reverse("pacs:image_redact", args=[study.pk, image.pk]), {"boxes": "0,0,16,4"}
    )

    image.refresh_from_db()
    assert image.outcome == "clean"
    scan = Scan.objects.get(pk=handoff.scan_id)
    assert scan.status == Status.READY_FOR_REVIEW and scan.error_message == ""


@pytest.mark.parametrize("boxes", ["0,0,99,4", "5,5,2,2", "not a box", ""])
def test_a_box_outside_the_image_or_malformed_changes_nothing(
    clinician, clinician_client, study, boxes
):
    from tests.support.pacs import held_back_image

    image = held_back_image(hand_off(study, "redact@example.org", clinician=clinician))
    clinician_client.post(
        reverse("pacs:image_redact", args=[study.pk, image.pk]), {"boxes": boxes}
    )
    image.refresh_from_db()
    assert image.outcome == "quarantined"
    assert not AuditEntry.objects.filter(action="study.image_redacted").exists()


def test_no_redaction_once_the_patient_has_moved_on(clinician, clinician_client, study):
    from tests.support.pacs import held_back_image

    image = held_back_image(hand_off(study, "redact@example.org", clinician=clinician))
    Scan.objects.filter(pk=image.scan_id).update(status=Status.CONSENTED)
    clinician_client.post(
        reverse("pacs:image_redact", args=[study.pk, image.pk]), {"boxes": "0,0,4,4"}
    )
    image.refresh_from_db()
    assert image.outcome == "quarantined"
