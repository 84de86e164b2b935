"""A synthetic PHI corpus: DICOM files with unique marker strings planted wherever PHI hides.

Shared by the header and pixel tests. Every marker starts with "MRK" and is unique, so a test
can search cleaned bytes for all of them and know which one leaked. Nothing here is real data.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    SecondaryCaptureImageStorage,
    UltrasoundMultiFrameImageStorage,
)

TRANSFER_SYNTAXES = {
    "implicit-le": ImplicitVRLittleEndian,
    "explicit-le": ExplicitVRLittleEndian,
    "explicit-be": ExplicitVRBigEndian,
    "deflated": DeflatedExplicitVRLittleEndian,
    "rle": RLELossless,
}


def marker(label: str) -> str:
    """A unique marker string, e.g. marker("PN") -> "MRKPN7f3a"."""
    return f"MRK{label}7f3a"


@dataclass
class Patient:
    """The planted identity of one synthetic patient."""

    family: str = field(default_factory=lambda: marker("FAMILY"))
    given: str = field(default_factory=lambda: marker("GIVEN"))
    patient_id: str = field(default_factory=lambda: marker("PID"))
    birth_date: str = "19520314"
    age: str = "072Y"
    sex: str = "F"
    study_date: str = "20240611"

    @property
    def name(self) -> str:
        return f"{self.family}^{self.given}"

    def markers(self) -> list[str]:
        """Every marker this patient's files carry (names, ids and all header markers)."""
        return [self.family, self.given, self.patient_id, *HEADER_MARKERS]


# Planted only inside free text that names no one: the Clean Descriptors option keeps such text
# (after redacting known identifiers and id-like patterns), so these may survive that option.
DESCRIPTOR_ONLY_MARKERS = [marker("COMMENT")]

# Markers planted in attributes other than name and id (see plant_phi).
HEADER_MARKERS = [
    marker(label)
    for label in (
        "OTHERPID", "ISSUER", "ADDR", "PHONE", "ACC", "INST", "INSTADDR", "REFPHYS", "PERFPHYS",
        "OPER", "STUDYID", "COMMENT", "NESTED1", "NESTED2", "NESTED3", "SRTEXT", "SRPN",
        "PRIV1", "PRIV2", "PRIV3", "SRCAE", "OVERLAY", "CURVE", "STATION", "SERIAL", "MOTHER",
    )
]


def uid(*parts: int) -> UID:
    """A deterministic test UID under a private test root (1.2.826.0.1.3680043.10.999)."""
    return UID("1.2.826.0.1.3680043.10.999." + ".".join(str(p) for p in parts))


def plant_phi(ds: Dataset, patient: Patient) -> None:
    """Put the patient's identity and the header markers in every place PHI is found."""
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientAge = patient.age
    ds.PatientSex = patient.sex
    ds.OtherPatientIDs = marker("OTHERPID")
    ds.IssuerOfPatientID = marker("ISSUER")
    ds.PatientAddress = f"12 {marker('ADDR')} Street, Springfield"
    ds.PatientTelephoneNumbers = f"555 {marker('PHONE')}"
    ds.PatientMotherBirthName = f"{marker('MOTHER')}^ANNA"
    ds.AccessionNumber = marker("ACC")
    ds.InstitutionName = f"{marker('INST')} General Hospital"
    ds.InstitutionAddress = f"1 {marker('INSTADDR')} Avenue"
    ds.ReferringPhysicianName = f"{marker('REFPHYS')}^HOUSE"
    ds.PerformingPhysicianName = f"{marker('PERFPHYS')}^GREY"
    ds.OperatorsName = f"{marker('OPER')}^TECH"
    ds.StationName = marker("STATION")
    ds.DeviceSerialNumber = marker("SERIAL")
    ds.StudyID = marker("STUDYID")
    ds.StudyDate = patient.study_date
    ds.SeriesDate = patient.study_date
    ds.AcquisitionDate = patient.study_date
    ds.ContentDate = patient.study_date
    ds.StudyTime = "101502"
    ds.ContentTime = "101503.250"
    ds.AcquisitionDateTime = patient.study_date + "101503.250000+0200"
    ds.StudyDescription = f"CT head for {patient.given} {patient.family} born 14/03/1952"
    ds.SeriesDescription = f"Axial 5mm {patient.patient_id}"
    ds.ImageComments = f"{marker('COMMENT')} call 555-0100-1234 re {patient.family}"
    ds.ProtocolName = "HEAD ROUTINE"

    # Request Attributes -> a nested sequence -> another: three levels deep.
    level3 = Dataset()
    level3.CodeValue = "T-A0100"
    level3.CodingSchemeDesignator = "SRT"
    level3.CodeMeaning = f"Brain {marker('NESTED3')}"
    level3.PatientName = marker("NESTED3") + "^DEEP"
    level2 = Dataset()
    level2.ScheduledProcedureStepID = marker("NESTED2")
    level2.ScheduledProtocolCodeSequence = Sequence([level3])
    level1 = Dataset()
    level1.RequestedProcedureID = marker("NESTED1")
    level1.ScheduledProtocolCodeSequence = Sequence([level2])
    ds.RequestAttributesSequence = Sequence([level1])

    # An anatomic region code (kept) whose item hides a name and a private tag (removed).
    region = Dataset()
    region.CodeValue = "T-D1100"
    region.CodingSchemeDesignator = "SRT"
    region.CodeMeaning = "Head"
    region.PerformingPhysicianName = marker("NESTED2") + "^INREGION"
    region.add_new(0x00091010, "LO", marker("PRIV3"))
    ds.AnatomicRegionSequence = Sequence([region])

    # Structured-report content planted in an image.
    text_item = Dataset()
    text_item.ValueType = "TEXT"
    text_item.TextValue = f"Findings for {marker('SRTEXT')}"
    name_item = Dataset()
    name_item.ValueType = "PNAME"
    name_item.PersonName = marker("SRPN") + "^DOC"
    ds.ContentSequence = Sequence([text_item, name_item])

    # Private tags: one block with a creator, one orphan element without any creator.
    block = ds.private_block(0x0029, "MRK VENDOR", create=True)
    block.add_new(0x10, "LO", marker("PRIV1"))
    ds.add_new(0x00431099, "LO", marker("PRIV2"))

    # Overlay (60xx) and curve (50xx) groups with markers in their text.
    ds.add_new(0x60000010, "US", 8)
    ds.add_new(0x60000011, "US", 8)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60000022, "LO", marker("OVERLAY"))
    ds.add_new(0x60003000, "OW", b"\x00" * 8)
    ds.add_new(0x50000022, "LO", marker("CURVE"))


def ct_slice(
    patient: Patient,
    index: int,
    *,
    study: int = 1,
    series: int = 1,
    rows: int = 64,
    columns: int = 64,
    transfer_syntax: str = ExplicitVRLittleEndian,
    phi: bool = True,
) -> Dataset:
    """One CT slice of a synthetic series, with PHI planted unless ``phi`` is False."""
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = uid(study, series, index + 1)
    ds.StudyInstanceUID = uid(study)
    ds.SeriesInstanceUID = uid(study, series)
    ds.FrameOfReferenceUID = uid(study, 0, 9)
    ds.Modality = "CT"
    ds.Manufacturer = "ACME"
    ds.BodyPartExamined = "HEAD"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SeriesNumber = series
    ds.InstanceNumber = index + 1
    ds.KVP = "120"
    ds.XRayTubeCurrent = 250
    ds.ExposureTime = 1000
    ds.SliceThickness = "2.5"
    ds.SpacingBetweenSlices = "2.5"
    ds.PixelSpacing = ["0.488281", "0.488281"]
    ds.ImagePositionPatient = ["-125.0", "-125.0", f"{index * 2.5:.1f}"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SliceLocation = f"{index * 2.5:.1f}"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.PatientSize = "1.65"
    ds.PatientWeight = "61"
    if index > 0:
        reference = Dataset()
        reference.ReferencedSOPClassUID = CTImageStorage
        reference.ReferencedSOPInstanceUID = uid(study, series, index)
        ds.ReferencedImageSequence = Sequence([reference])
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    pixels = _ct_pixels(rows, columns, seed=index)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.SourceApplicationEntityTitle = marker("SRCAE")[:16]
    if phi:
        plant_phi(ds, patient)
    _set_pixels(ds, pixels, transfer_syntax)
    return ds


def ct_series(patient: Patient, count: int = 20, **kwargs: object) -> list[Dataset]:
    """A series of ``count`` slices of one study."""
    return [ct_slice(patient, i, **kwargs) for i in range(count)]  # type: ignore[arg-type]


def ultrasound_cine(
    patient: Patient, frames: int = 4, rows: int = 48, columns: int = 64
) -> Dataset:
    """A small RGB multi-frame ultrasound-like file with PHI planted."""
    ds = Dataset()
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.SOPInstanceUID = uid(7, 1, 1)
    ds.StudyInstanceUID = uid(7)
    ds.SeriesInstanceUID = uid(7, 1)
    ds.Modality = "US"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = frames
    ds.FrameTime = "33.3"
    ds.file_meta = FileMetaDataset()
    plant_phi(ds, patient)
    rng = np.random.default_rng(7)
    data = rng.integers(0, 60, size=(frames, rows, columns, 3), dtype=np.uint8)
    _set_pixels(ds, data, ExplicitVRLittleEndian)
    return ds


def secondary_capture(patient: Patient) -> Dataset:
    """A minimal 8-bit secondary capture image with PHI planted."""
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = uid(8, 1, 1)
    ds.StudyInstanceUID = uid(8)
    ds.SeriesInstanceUID = uid(8, 1)
    ds.Modality = "OT"
    ds.Rows, ds.Columns = 32, 32
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0
    ds.file_meta = FileMetaDataset()
    plant_phi(ds, patient)
    _set_pixels(ds, np.full((32, 32), 20, dtype=np.uint8), ExplicitVRLittleEndian)
    return ds


def to_bytes(ds: Dataset) -> bytes:
    """Serialise as a Part 10 file, with the original preamble (or zeros)."""
    buffer = io.BytesIO()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def sr_document(patient: Patient) -> Dataset:
    """A Basic Text SR: free text by nature, which the engine must refuse."""
    ds = Dataset()
    ds.SOPClassUID = UID("1.2.840.10008.5.1.4.1.1.88.11")
    ds.SOPInstanceUID = uid(9, 1, 1)
    ds.StudyInstanceUID = uid(9)
    ds.SeriesInstanceUID = uid(9, 1)
    ds.Modality = "SR"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    plant_phi(ds, patient)
    return ds


def _ct_pixels(rows: int, columns: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:columns]
    disc = ((yy - rows / 2) ** 2 + (xx - columns / 2) ** 2) < (min(rows, columns) / 2.5) ** 2
    body = np.where(disc, 1064, 24).astype(np.int32)
    noise = rng.integers(0, 20, size=(rows, columns))
    return (body + noise).astype(np.uint16)


def _set_pixels(ds: Dataset, pixels: np.ndarray, transfer_syntax: str) -> None:
    if transfer_syntax == RLELossless:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = pixels.tobytes()
        ds.compress(RLELossless, generate_instance_uid=False)
        return
    ds.file_meta.TransferSyntaxUID = UID(transfer_syntax)
    if transfer_syntax == ExplicitVRBigEndian and pixels.dtype.itemsize > 1:
        ds.PixelData = pixels.byteswap().tobytes()
    else:
        ds.PixelData = pixels.tobytes()
