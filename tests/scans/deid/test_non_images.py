"""Reports, plans, recordings, documents and indexes are "not an image — not sent", never a
failure: one plain sentence each, nothing written, nothing ever selectable for sending."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from scans import processing
from scans.consent.errors import ConsentError
from scans.consent.selection import chosen_images, sendable_images
from scans.deid.engine import DeidKeys, DeidOptions, deidentify_bytes, deidentify_tree
from scans.deid.non_images import DICOMDIR_CLASS
from scans.models import Outcome, Scan, Status
from tests.support import builders
from tests.support.accounts import bearer

KEYS = DeidKeys(secret=bytes(range(32)))
OPTIONS = DeidOptions(detect_text=False)

# SOP Class UIDs of the objects a CD carries besides images (PS3.4 Annex B).
NON_IMAGE_CLASSES = {
    "comprehensive SR": "1.2.840.10008.5.1.4.1.1.88.33",
    "RT structure set": "1.2.840.10008.5.1.4.1.1.481.3",
    "RT plan": "1.2.840.10008.5.1.4.1.1.481.5",
    "segmentation": "1.2.840.10008.5.1.4.1.1.66.4",
    "12-lead ECG": "1.2.840.10008.5.1.4.1.1.9.1.1",
    "grayscale presentation state": "1.2.840.10008.5.1.4.1.1.11.1",
    "key object selection": "1.2.840.10008.5.1.4.1.1.88.59",
    "encapsulated PDF": "1.2.840.10008.5.1.4.1.1.104.1",
    "encapsulated CDA": "1.2.840.10008.5.1.4.1.1.104.2",
    "raw data": "1.2.840.10008.5.1.4.1.1.66",
    "DICOMDIR": DICOMDIR_CLASS,
}


def object_of_class(sop_class: str, **attrs: object) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    if sop_class != DICOMDIR_CLASS:
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, ds.file_meta.MediaStorageSOPInstanceUID
        ds.PatientName, ds.PatientID = "Nonimage^Marker", "NONIMAGEPID"
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def image_without_pixels() -> bytes:
    ds = dcmread(get_testdata_file("CT_small.dcm"))
    del ds.PixelData
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


@pytest.mark.parametrize("name", sorted(NON_IMAGE_CLASSES))
def test_each_kind_of_non_image_gets_one_plain_sentence_and_no_output(name: str) -> None:
    result = deidentify_bytes(object_of_class(NON_IMAGE_CLASSES[name]), keys=KEYS,
                              options=OPTIONS)
    assert result.outcome == "not_image", result.reason
    assert result.output is None
    assert result.reason.endswith(".") and result.reason.count(". ") == 0
    assert "not sent" in result.reason or "nothing to send" in result.reason


@pytest.mark.parametrize(
    "name", ["rtplan.dcm", "rtstruct.dcm", "rtdose.dcm", "waveform_ecg.dcm", "test-SR.dcm",
             "reportsi.dcm"],
)
def test_real_non_images_from_pydicoms_test_files_are_not_images(name: str) -> None:
    data = Path(get_testdata_file(name)).read_bytes()
    assert deidentify_bytes(data, keys=KEYS, options=OPTIONS).outcome == "not_image"


def test_an_image_without_pixel_data_has_nothing_to_send() -> None:
    result = deidentify_bytes(image_without_pixels(), keys=KEYS, options=OPTIONS)
    assert result.outcome == "not_image"
    assert "without the picture" in result.reason


def test_an_image_with_pixels_is_still_an_image() -> None:
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    assert deidentify_bytes(data, keys=KEYS, options=OPTIONS).outcome == "clean"


def test_an_unknown_private_class_stays_fail_closed() -> None:
    result = deidentify_bytes(object_of_class("1.2.826.0.1.3680043.99.1"), keys=KEYS,
                              options=OPTIONS)
    assert result.outcome == "quarantined"


def test_the_command_lists_non_images_and_still_exits_clean(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "DICOMDIR").write_bytes(object_of_class(DICOMDIR_CLASS))
    (source / "report.dcm").write_bytes(object_of_class(NON_IMAGE_CLASSES["comprehensive SR"]))
    (source / "ct.dcm").write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    report = deidentify_tree(source, tmp_path / "out", keys=KEYS, options=OPTIONS)
    assert report["summary"]["not_image"] == 2
    assert report["summary"]["clean"] == 1
    assert report["summary"]["quarantined"] == report["summary"]["rejected"] == 0
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 1


def upload(client, user, blobs: list[bytes]) -> Scan:
    client.force_login(user)
    files = [SimpleUploadedFile(f"F{n}", data) for n, data in enumerate(blobs)]
    response = client.post("/api/v1/scans", {"files": files}, headers=bearer(user))
    assert response.status_code == 201, response.content
    processing.process_scan(response.json()["id"])
    return Scan.objects.get(pk=response.json()["id"])


@pytest.mark.django_db
def test_a_scan_of_only_non_images_ends_with_nothing_to_send_not_quarantined(
    client, patient, blob_dir
) -> None:
    scan = upload(client, patient, [object_of_class(NON_IMAGE_CLASSES["comprehensive SR"]),
                                    object_of_class(NON_IMAGE_CLASSES["RT plan"])])
    assert scan.status == Status.NO_IMAGES
    assert "no images" in scan.error_message
    assert [image.outcome for image in scan.images.all()] == [Outcome.NOT_IMAGE] * 2
    page = client.get(f"/scans/{scan.id}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "A written report stored as structured text" in text
    assert "Radiotherapy planning" in text
    assert "Quarantined" not in text and "could not be made safe" not in text


@pytest.mark.django_db
def test_a_non_image_beside_images_is_listed_and_can_never_be_chosen(
    client, patient, blob_dir
) -> None:
    from tests.support.consent import endpoint_for
    from tests.support.fakes import FakeProvider

    scan = upload(client, patient, [builders.make_dicom_bytes(),
                                    object_of_class(NON_IMAGE_CLASSES["encapsulated PDF"])])
    assert scan.status == Status.READY_FOR_REVIEW
    report = scan.images.get(position=2)
    assert report.outcome == Outcome.NOT_IMAGE and report.sanitized_object is None
    assert [image.position for image in sendable_images(scan)] == [1]
    with FakeProvider("openai") as provider:
        endpoint = endpoint_for(provider)
        with pytest.raises(ConsentError) as refused:
            chosen_images(scan, endpoint, [str(report.id)])
    assert "can never be sent" in refused.value.args[0]
    summary = client.get(f"/scans/{scan.id}/").content.decode()
    assert "not an image (a report, plan, recording or document) and will not be sent" in summary
