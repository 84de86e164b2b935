"""The header cleaner applies PS3.15 Annex E as a keep-list at every depth."""

from __future__ import annotations

import io
import itertools

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from scans.deid.header import (
    IMPLEMENTATION_CLASS_UID,
    DeidKeys,
    cap_age,
    clean_header,
    date_shift,
    remap_uid,
    shift_datetime,
    write_dataset,
)
from scans.deid.identifiers import collect_identifiers
from scans.deid.keep_list import FILE_META_KEEP, KEEP_LIST
from scans.deid.verify import verify_output
from tests.support.phi_corpus import (
    DESCRIPTOR_ONLY_MARKERS,
    TRANSFER_SYNTAXES,
    Patient,
    ct_series,
    ct_slice,
    to_bytes,
)

KEYS = DeidKeys(bytes(range(32)))
OTHER_KEYS = DeidKeys(bytes(range(1, 33)))


def clean(ds: Dataset, keys: DeidKeys = KEYS, **options: bool) -> bytes:
    original = pydicom.dcmread(io.BytesIO(to_bytes(ds)))
    identifiers = collect_identifiers(original)
    result = clean_header(original, keys=keys, identifiers=identifiers, **options)
    return write_dataset(result.dataset)


def leaked(output: bytes, markers: list[str]) -> list[str]:
    folded = output.lower()
    found = []
    for value in markers:
        needles = [value.encode(), value.encode("utf-16-le"), value.encode("utf-16-be")]
        if any(n in output or n.lower() in folded for n in needles):
            found.append(value)
    return found


def read(output: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(output))


@pytest.mark.parametrize("syntax", sorted(TRANSFER_SYNTAXES))
def test_no_planted_marker_survives_in_any_transfer_syntax(syntax: str) -> None:
    patient = Patient()
    output = clean(ct_slice(patient, 2, transfer_syntax=TRANSFER_SYNTAXES[syntax]))
    assert leaked(output, patient.markers()) == []
    assert patient.birth_date.encode() not in output
    assert patient.study_date.encode() not in output


@pytest.mark.parametrize("syntax", sorted(TRANSFER_SYNTAXES))
def test_the_transfer_syntax_and_pixel_bytes_are_kept(syntax: str) -> None:
    original = ct_slice(Patient(), 1, transfer_syntax=TRANSFER_SYNTAXES[syntax])
    original_bytes = to_bytes(original)
    cleaned = read(clean(original))
    source = read(original_bytes)
    expected = source.file_meta.TransferSyntaxUID
    if syntax == "deflated":  # written inflated so verification can search the bytes
        expected = ExplicitVRLittleEndian
    assert cleaned.file_meta.TransferSyntaxUID == expected
    assert cleaned.PixelData == source.PixelData
    assert (cleaned.pixel_array == source.pixel_array).all()


def test_clinically_useful_attributes_keep_their_values() -> None:
    original = ct_slice(Patient(), 4)
    cleaned = read(clean(original))
    for keyword in (
        "Modality", "PixelSpacing", "WindowCenter", "WindowWidth", "Rows", "Columns",
        "SliceThickness", "SpacingBetweenSlices", "ImagePositionPatient",
        "ImageOrientationPatient", "SliceLocation", "KVP", "XRayTubeCurrent", "ExposureTime",
        "RescaleIntercept", "RescaleSlope", "BitsStored", "ImageType", "BodyPartExamined",
        "PatientSex", "PatientAge", "PatientWeight", "PatientSize", "InstanceNumber",
        "Manufacturer",
    ):
        assert cleaned[keyword].value == original[keyword].value, keyword


def test_patient_age_over_89_is_capped_at_090y() -> None:
    cleaned = read(clean(ct_slice(Patient(age="095Y"), 0)))
    assert cleaned.PatientAge == "090Y"
    assert cap_age("120Y") == "090Y"
    assert cap_age("999M") == "999M"  # 83 years
    assert cap_age("089Y") == "089Y"
    assert cap_age("12 years") is None


def test_the_patient_gets_a_stable_keyed_pseudonym() -> None:
    first = read(clean(ct_slice(Patient(), 0)))
    again = read(clean(ct_slice(Patient(), 5)))
    other_key = read(clean(ct_slice(Patient(), 0), keys=OTHER_KEYS))
    other_patient = read(clean(ct_slice(Patient(patient_id="MRKPIDOTHER"), 0)))
    assert first.PatientID == first.PatientName == again.PatientID
    assert str(first.PatientID).startswith("PSN-") and len(first.PatientID) == 20
    assert other_key.PatientID != first.PatientID
    assert other_patient.PatientID != first.PatientID


def test_a_patient_without_an_id_is_keyed_by_name_and_birth_date() -> None:
    ds = ct_slice(Patient(), 0)
    del ds.PatientID
    twin = ct_slice(Patient(), 1)
    del twin.PatientID
    assert read(clean(ds)).PatientID == read(clean(twin)).PatientID


def test_uids_are_remapped_consistently_across_a_series_and_its_references() -> None:
    series = ct_series(Patient(), count=20)
    cleaned = [read(clean(ds)) for ds in series]
    assert len({str(ds.StudyInstanceUID) for ds in cleaned}) == 1
    assert len({str(ds.SeriesInstanceUID) for ds in cleaned}) == 1
    assert len({str(ds.SOPInstanceUID) for ds in cleaned}) == 20
    for before, after in itertools.pairwise(cleaned):
        reference = after.ReferencedImageSequence[0]
        assert reference.ReferencedSOPInstanceUID == before.SOPInstanceUID
        assert reference.ReferencedSOPClassUID == before.SOPClassUID
    for original, ds in zip(series, cleaned, strict=True):
        assert ds.StudyInstanceUID != original.StudyInstanceUID
        assert ds.SOPClassUID == original.SOPClassUID  # a registered standard UID is kept
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert str(ds.SOPInstanceUID).startswith("2.25.") and len(ds.SOPInstanceUID) <= 64


def test_uid_remapping_is_keyed_and_keeps_standard_uids() -> None:
    uid = "1.2.826.0.1.3680043.10.999.1"
    assert remap_uid(KEYS, uid) == remap_uid(KEYS, uid)
    assert remap_uid(KEYS, uid) != remap_uid(OTHER_KEYS, uid)
    assert remap_uid(KEYS, ImplicitVRLittleEndian) == ImplicitVRLittleEndian


def test_dates_and_times_are_removed_or_emptied_by_default() -> None:
    cleaned = read(clean(ct_slice(Patient(), 0)))
    assert cleaned.StudyDate == "" and cleaned.StudyTime == ""  # PS3.15 E.1-1: Z
    assert cleaned.ContentDate == ""  # Z/D
    assert "SeriesDate" not in cleaned and "AcquisitionDate" not in cleaned  # X/D, X/Z
    assert "AcquisitionDateTime" not in cleaned
    assert cleaned.PatientBirthDate == ""
    assert cleaned.LongitudinalTemporalInformationModified == "REMOVED"


def test_retained_dates_are_shifted_by_one_offset_per_patient() -> None:
    patient = Patient()
    cleaned = read(clean(ct_slice(patient, 0), retain_dates=True))
    shift = date_shift(KEYS, "id:" + patient.patient_id)
    assert 365 <= abs(shift.days) <= 3650
    assert cleaned.StudyDate != patient.study_date
    assert cleaned.StudyDate == cleaned.SeriesDate == cleaned.AcquisitionDate
    assert cleaned.StudyTime == "101502"  # time of day is kept with shifted dates
    assert str(cleaned.AcquisitionDateTime).startswith(str(cleaned.StudyDate) + "101503.25")
    assert "+0200" not in str(cleaned.AcquisitionDateTime)
    assert cleaned.PatientBirthDate == ""  # never retained: PS3.15 E.1-1 Z without option
    assert cleaned.LongitudinalTemporalInformationModified == "MODIFIED"
    assert shift_datetime("2024", shift) is None


def test_free_text_is_removed_by_default_and_redacted_with_clean_descriptors() -> None:
    patient = Patient()
    default = read(clean(ct_slice(patient, 0)))
    assert "StudyDescription" not in default and "ImageComments" not in default
    output = clean(ct_slice(patient, 0), clean_descriptors=True)
    cleaned = read(output)
    assert cleaned.StudyDescription == "CT head for *** born ***"
    assert cleaned.SeriesDescription == "Axial 5mm ***"
    assert cleaned.ProtocolName == "HEAD ROUTINE"
    assert "555" not in str(cleaned.ImageComments)
    identity = [m for m in patient.markers() if m not in DESCRIPTOR_ONLY_MARKERS]
    assert leaked(output, identity) == []


def test_private_tags_curves_overlays_and_unknown_attributes_are_removed_at_every_depth() -> None:
    cleaned = read(clean(ct_slice(Patient(), 0)))
    for elem in cleaned.iterall():
        assert not elem.tag.is_private
        assert int(elem.tag) in KEEP_LIST, elem.keyword
        assert not 0x5000 <= elem.tag.group <= 0x60FF
    region = cleaned.AnatomicRegionSequence[0]
    assert region.CodeMeaning == "Head" and "PerformingPhysicianName" not in region
    assert "RequestAttributesSequence" not in cleaned
    assert "ContentSequence" not in cleaned


def test_file_meta_is_rebuilt_with_our_implementation() -> None:
    output = clean(ct_slice(Patient(), 0))
    meta = read(output).file_meta
    assert {int(elem.tag) for elem in meta} <= FILE_META_KEEP
    assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert "SourceApplicationEntityTitle" not in meta
    assert output[:128] == b"\x00" * 128


def test_the_method_is_declared_with_cid_7050_codes() -> None:
    cleaned = read(clean(ct_slice(Patient(), 0), retain_dates=True, clean_descriptors=True))
    codes = [item.CodeValue for item in cleaned.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113105", "113107", "113108"]
    assert {item.CodingSchemeDesignator for item in cleaned.DeidentificationMethodCodeSequence} == {
        "DCM"
    }
    assert cleaned.PatientIdentityRemoved == "YES"
    pixel_cleaned = pydicom.dcmread(io.BytesIO(to_bytes(ct_slice(Patient(), 0))))
    result = clean_header(pixel_cleaned, keys=KEYS, identifiers=collect_identifiers(pixel_cleaned),
                          pixels_cleaned=True)
    assert result.dataset.BurnedInAnnotation == "NO"
    assert "113101" in [code for code, _ in result.codes]


def test_a_kept_attribute_with_a_smuggled_vr_is_dropped_and_a_bad_value_emptied() -> None:
    ds = ct_slice(Patient(), 0)
    ds.add_new(0x00180015, "LT", "Jane MRKSMUGGLE7f3a lives at 1 Elm")  # BodyPartExamined
    ds.add_new(0x00080060, "CS", "Jane Doe")  # Modality: not a code string (no warning: see quiet)
    output = clean(ds)
    assert b"MRKSMUGGLE" not in output
    cleaned = read(output)
    assert "BodyPartExamined" not in cleaned
    assert cleaned.Modality == ""  # Type 1 or 2 in every image IOD: present, not made up
    assert b"Jane" not in output


def test_type1_identifying_attributes_get_a_dummy_and_type2_ones_stay_empty() -> None:
    ds = ct_slice(Patient(), 0)
    ds.DeviceSerialNumber = "SN-MRKSERIAL7f3a"
    ds.SoftwareVersions = "MRKSOFTWARE7f3a"
    ds.ConversionType = "WSD"
    ds.AcquisitionContextSequence = pydicom.Sequence([pydicom.Dataset()])
    ds.AcquisitionContextSequence[0].CodeMeaning = "MRKCONTEXT7f3a"
    output = clean(ds)
    assert b"MRK" not in output.replace(b"MRKFAMILY", b"")  # nothing of the planted values
    cleaned = read(output)
    assert cleaned.DeviceSerialNumber == "REMOVED" and cleaned.SoftwareVersions == "REMOVED"
    assert cleaned.ConversionType == "WSD"
    assert len(cleaned.AcquisitionContextSequence) == 0


def test_an_enhanced_image_keeps_a_dummy_content_date_when_dates_are_not_kept() -> None:
    ds = ct_slice(Patient(), 0)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"  # Enhanced MR Image Storage
    ds.ContentDate, ds.ContentTime = "20240102", "101010"
    cleaned = read(clean(ds))
    assert (cleaned.ContentDate, cleaned.ContentTime) == ("19000101", "000000")


def test_the_same_input_and_key_give_byte_identical_output() -> None:
    assert clean(ct_slice(Patient(), 3)) == clean(ct_slice(Patient(), 3))
    assert clean(ct_slice(Patient(), 3, transfer_syntax=RLELossless)) == clean(
        ct_slice(Patient(), 3, transfer_syntax=RLELossless)
    )


def code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def test_procedure_codes_leave_only_with_clean_descriptors() -> None:
    ds = ct_slice(Patient(), 0)
    ds.ProcedureCodeSequence = pydicom.Sequence([code("24627-2", "LN", "CT Chest")])
    assert "ProcedureCodeSequence" not in read(clean(ds))
    kept = read(clean(ds, clean_descriptors=True))
    assert kept.ProcedureCodeSequence[0].CodeMeaning == "CT Chest"


def test_a_coded_entry_of_a_local_scheme_is_dropped_and_a_standard_one_kept() -> None:
    ds = ct_slice(Patient(), 0)
    ds.AnatomicRegionSequence = pydicom.Sequence([
        code("T-D3000", "SRT", "Chest"),
        code("X1", "99MERCY", "Dr MRKLOCAL7f3a's chest protocol"),
    ])
    output = clean(ds)
    assert b"MRKLOCAL" not in output and b"99MERCY" not in output
    assert [item.CodeMeaning for item in read(output).AnatomicRegionSequence] == ["Chest"]


def test_verification_refuses_a_local_coded_entry_and_unasked_procedure_codes() -> None:
    ds = ct_slice(Patient(), 0)
    original = pydicom.dcmread(io.BytesIO(to_bytes(ds)))
    cleaned = clean_header(original, keys=KEYS, identifiers=collect_identifiers(original)).dataset
    cleaned.AnatomicRegionSequence = pydicom.Sequence([code("X1", "99LOCAL", "free text")])
    cleaned.ProcedureCodeSequence = pydicom.Sequence([code("24627-2", "LN", "CT Chest")])
    reasons = verify_output(write_dataset(cleaned), collect_identifiers(original),
                            retain_dates=False)
    assert any("local scheme" in reason for reason in reasons)
    assert any("Procedure Code Sequence" in reason for reason in reasons)
