"""What the patient sees after de-identification: previews, changes, a plain summary, reasons."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from scans import processing
from scans.models import Scan, Status
from tests.support import builders

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "Zebulon^Quartermaine"
BIRTH = "19610203"
HOSPITAL = "Saint Quillon Infirmary"


def processed_scan(client, *files: tuple[str, bytes]) -> Scan:
    payload = [SimpleUploadedFile(name, data) for name, data in files]
    assert client.post("/scans/upload/", {"files": payload}).status_code == 302
    scan = Scan.objects.get()
    processing.process_scan(str(scan.pk))
    scan.refresh_from_db()
    return scan


def test_the_review_page_shows_previews_changes_and_a_plain_summary(patient_client):
    dicom = builders.make_dicom_bytes(
        PatientName=NAME, PatientBirthDate=BIRTH, InstitutionName=HOSPITAL
    )
    photo = builders.make_png(320, 200, text="ZEBULON QUARTERMAINE 1961")
    scan = processed_scan(patient_client, ("a.dcm", dicom), ("film.png", photo))
    assert scan.status == Status.READY_FOR_REVIEW, scan.error_message

    page = patient_client.get(f"/scans/{scan.id}/").content.decode()
    summary = page[page.index('class="summary"') :].split("</p>")[0]
    for words in ("Your name", "your birth date", "the hospital&#x27;s name"):
        assert words in summary
    assert "text area blacked out on image 2" in summary
    assert "PatientName" in page and "replaced" in page
    for image in scan.images.all():
        assert f"/scans/{scan.id}/images/{image.id}/preview.png" in page
        preview = patient_client.get(f"/scans/{scan.id}/images/{image.id}/preview.png")
        assert preview.status_code == 200 and preview.content.startswith(b"\x89PNG")
        assert preview["Cache-Control"] == "no-store, private"
    # Original values never appear in the page, not even for the owner.
    for value in (NAME, "Zebulon", BIRTH, HOSPITAL):
        assert value not in page


def test_the_api_report_lists_outcomes_and_actions_without_original_values(patient_client, patient):
    from tests.support.accounts import bearer

    scan = processed_scan(
        patient_client,
        ("a.dcm", builders.make_dicom_bytes(PatientName=NAME, InstitutionName=HOSPITAL)),
    )
    report = patient_client.get(f"/api/v1/scans/{scan.id}/report", headers=bearer(patient)).json()
    assert report["status"] == Status.READY_FOR_REVIEW
    assert report["images"][0]["outcome"] == "clean"
    actions = {row["keyword"]: row["action"] for row in report["images"][0]["report"]["attributes"]}
    assert actions["PatientName"] == "replaced"
    assert actions["InstitutionName"] == "removed"
    assert NAME not in str(report) and HOSPITAL not in str(report)
    detail = patient_client.get(f"/api/v1/scans/{scan.id}", headers=bearer(patient)).json()
    assert [image["outcome"] for image in detail["images"]] == ["clean"]


def test_an_unsafe_image_is_quarantined_with_its_reason_shown(patient_client):
    from pydicom.uid import generate_uid

    # A private SOP class nobody can say is safe: fail closed.
    private = builders.make_dicom_bytes(
        SOPClassUID="1.2.826.0.1.3680043.99.1", SOPInstanceUID=generate_uid()
    )
    scan = processed_scan(patient_client, ("private.dcm", private))
    assert scan.status == Status.QUARANTINED
    image = scan.images.get()
    assert image.outcome == "quarantined" and image.reason
    assert image.sanitized_object is None
    page = patient_client.get(f"/scans/{scan.id}/").content.decode()
    assert image.reason in page.replace("&#x27;", "'")
    assert "held back" in page


def test_an_image_over_the_memory_bound_is_rejected_without_being_read(patient_client, settings):
    settings.DEID_MAX_IMAGE_BYTES = 4096
    big = builders.make_dicom_bytes(Rows=64, Columns=64, PixelData=b"\0" * 64 * 64 * 2)
    archive = builders.make_zip({"a/IM1": big, "a/IM2": builders.make_dicom_bytes()})
    scan = processed_scan(patient_client, ("study.zip", archive))
    outcomes = [(image.outcome, image.reason) for image in scan.images.all()]
    assert outcomes[0][0] == "rejected" and "larger than" in outcomes[0][1]
    assert outcomes[1][0] == "clean"
    assert scan.status == Status.READY_FOR_REVIEW


def test_the_review_says_in_plain_words_what_was_removed_and_kept_and_why(patient_client):
    dicom = builders.make_dicom_bytes(PatientName="Doe^Jane", PatientSex="F", PatientAge="093Y")
    photo = builders.make_jpeg(32, 32)
    scan = processed_scan(patient_client, ("a.dcm", dicom), ("film.jpg", photo))

    page = patient_client.get(f"/scans/{scan.pk}/").content.decode()

    assert "Your name and identifiers" in page and "Replaced by a code" in page
    assert "Dates and times" in page
    assert "Your sex" in page and "Your age (shown as 90 if you are older)" in page
    assert "GPS" in page
    assert page.count("Why:") >= 4
    assert "Doe^Jane" not in page and "Jane" not in page


def test_the_owner_can_see_the_original_values_of_what_was_removed(patient_client, caplog):
    """GIVEN a photo and a ZIP whose DICOM images carry a name and a hospital
    WHEN the owner opens "the original values that were removed"
    THEN the values are shown grouped as the summary groups them, the page may not be stored,
    and the audit records the scan's and image's ids, never a value."""
    from audit.actions import AuditAction
    from audit.models import AuditEntry

    dicom = builders.make_dicom_bytes(
        PatientName=NAME, PatientBirthDate=BIRTH, InstitutionName=HOSPITAL
    )
    study = builders.make_zip({"IM1": dicom, "IM2": dicom})
    scan = processed_scan(patient_client, ("film.png", builders.make_png(32, 32)),
                          ("study.zip", study))
    detail = patient_client.get(f"/scans/{scan.id}/").content.decode()
    assert f'href="/scans/{scan.id}/removed/"' in detail

    caplog.set_level("DEBUG")
    response = patient_client.get(f"/scans/{scan.id}/removed/")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store, private"
    page = response.content.decode()
    assert "From the header of image 2" in page, "the first DICOM image, after the photo"
    identity = page[page.index("Your name and identifiers") :]
    assert identity.index("PatientName") < identity.index(NAME)
    assert BIRTH in page and HOSPITAL in page
    entry = AuditEntry.objects.get(action=AuditAction.ORIGINAL_VALUES_VIEWED)
    image = scan.images.get(position=2)
    assert entry.details == {"scan_id": str(scan.id), "image_id": str(image.id)}
    for value in (NAME, "Zebulon", BIRTH, HOSPITAL):
        assert value not in caplog.text
        assert value not in str(entry.details)


def test_a_scan_of_photos_has_no_original_header_to_show(patient_client):
    scan = processed_scan(patient_client, ("film.png", builders.make_png(32, 32)))

    page = patient_client.get(f"/scans/{scan.id}/removed/").content.decode()

    assert "This scan has no DICOM header to show" in page


def test_each_frame_of_a_multi_frame_image_can_be_viewed(patient_client, patient, settings):
    """GIVEN a de-identified cine loop of six frames WHEN the viewer asks for frame N
    THEN it gets that frame (each frame its own grey), and a frame that does not exist is a 404."""
    import io

    from PIL import Image

    from tests.support.studies import processed_multiframe

    scan = processed_multiframe(patient, frames=6)
    image = scan.images.get()
    base = f"/scans/{scan.id}/images/{image.id}/window/as_saved.png"
    page = patient_client.get(f"/scans/{scan.id}/").content.decode()
    assert '"frames": 6' in page

    for frame in range(6):
        response = patient_client.get(f"{base}?frame={frame}")
        assert response.status_code == 200 and response["Cache-Control"] == "no-store, private"
        picture = Image.open(io.BytesIO(response.content)).convert("L")
        scale = picture.height / 32
        middle = picture.width // 2
        bright = [y for y in range(picture.height) if picture.getpixel((middle, y)) > 200]
        assert bright and int(bright[0] / scale) == 4 * frame, f"frame {frame} is its own"
    for bad in ("6", "-1", "x"):
        assert patient_client.get(f"{base}?frame={bad}").status_code == 404
