"""The reviewed keep-list: the only attributes that may leave the gateway, and how each is treated.

Everything not listed here is removed, at every depth: unknown public attributes, all private
attributes (odd groups, with or without a private creator), curves (50xx), overlays (60xx),
group lengths, digital signatures, icon images. This is PS3.15 Annex E applied as an allow-list:
Table E.1-1 (profile.py) lists what is known to identify; we go further and keep only what is
known to be useful and safe.

Each entry names a handling and the reason it may be kept. Handlings:

* ``keep``       value kept verbatim: coded or numeric acquisition/geometry/pixel descriptions
                 that describe the machine or the image, never the person;
* ``uid``        UI value replaced by a keyed HMAC UID unless it is a registered standard UID
                 (SOP class, transfer syntax, coding scheme) (PS3.15 E.1-1 action U);
* ``sequence``   kept as a sequence whose items are cleaned with these same rules;
* ``pseudonym``  PatientName/PatientID: keyed pseudonym of the original patient key;
* ``empty``      kept with a zero-length value because the IOD needs it (Type 2) and Table
                 E.1-1 says Z (or the value may be free text we do not trust);
* ``dummy``      identifying, but Type 1 where the IOD has it: replaced by a fixed dummy value
                 (PS3.15 E.1-1 action D), never copied;
* ``age``        PatientAge, capped at 090Y (HIPAA safe harbor: ages over 89);
* ``date``       DA/DT/TM: handled per Table E.1-1 (Z -> empty, otherwise removed) unless the
                 Retain Longitudinal Temporal Information with Modified Dates option is on;
* ``descriptor`` free text: handled per Table E.1-1 (Z -> empty, otherwise removed) unless the
                 Clean Descriptors option is on, then redacted;
* ``generated``  written by the gateway itself (de-identification method, flags).

Patient characteristics decision (PS3.15 E.3.7, code 113108): PatientSex, PatientAge (capped),
PatientSize and PatientWeight are kept. An AI reader needs sex and age to judge most findings,
and weight/size for PET SUV and CT dose; none is one of the HIPAA safe-harbor identifiers once
ages over 89 are capped. EthnicGroup, SmokingStatus, PregnancyStatus and the like are dropped:
free text or rarely useful, so not worth the risk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydicom.datadict import tag_for_keyword

Handling = Literal[
    "keep", "uid", "sequence", "pseudonym", "empty", "dummy", "age", "date", "descriptor",
    "generated",
]


@dataclass(frozen=True)
class KeepRule:
    """Why an attribute may leave the gateway and how its value is treated."""

    keyword: str
    handling: Handling
    reason: str


_GROUPS: list[tuple[Handling, str, str]] = [
    # --- identity replaced --------------------------------------------------------------
    ("pseudonym", "Type 2 in the Patient module; replaced by a keyed pseudonym so the same "
     "patient links across uploads without a stored mapping (PS3.15 E.1-1: Z, we use D)",
     "PatientName PatientID"),
    ("empty", "Type 2 attributes the IOD needs present; PS3.15 E.1-1 says Z (zero length)",
     "PatientBirthDate AccessionNumber ReferringPhysicianName StudyID"),
    ("empty", "Type 2 in the Frame of Reference module; free text we do not trust, so emptied",
     "PositionReferenceIndicator"),
    ("empty", "Type 2 in the Acquisition Context module; its items are free-form context, so "
     "the sequence is kept with no items (PS3.15 E.1-1: X/Z)", "AcquisitionContextSequence"),
    ("dummy", "Type 1 in the Enhanced General Equipment module (enhanced MR, CT, XA ...): the "
     "device's serial number and software identify a site, so a dummy value replaces them "
     "(PS3.15 E.1-1: X/Z/D, D where the IOD needs a value)",
     "DeviceSerialNumber SoftwareVersions"),
    # --- patient characteristics (113108) ------------------------------------------------
    ("keep", "Retain Patient Characteristics (113108): sex changes the reading of most "
     "findings; Table E.1-1 Z, option K", "PatientSex"),
    ("age", "Retain Patient Characteristics (113108): age is needed to read a scan; capped at "
     "090Y because HIPAA treats ages over 89 as identifying", "PatientAge"),
    ("keep", "Retain Patient Characteristics (113108): needed for PET SUV and CT dose; a "
     "number, not an identifier", "PatientSize PatientWeight"),
    # --- UIDs ------------------------------------------------------------------------------
    ("uid", "SOP class: a registered standard UID, kept; needed to know what the object is",
     "SOPClassUID ReferencedSOPClassUID"),
    ("uid", "instance/series/study/frame-of-reference UIDs link images together; replaced "
     "consistently by keyed HMAC UIDs (PS3.15 E.1-1: U)",
     "SOPInstanceUID StudyInstanceUID SeriesInstanceUID FrameOfReferenceUID "
     "ReferencedSOPInstanceUID ReferencedFrameOfReferenceUID SynchronizationFrameOfReferenceUID "
     "DimensionOrganizationUID ConcatenationUID IrradiationEventUID"),
    # --- dates and times -------------------------------------------------------------------
    ("date", "study/series/acquisition/content timing; removed or emptied per Table E.1-1 "
     "unless dates are retained shifted (113107)",
     "StudyDate StudyTime SeriesDate SeriesTime AcquisitionDate AcquisitionTime "
     "AcquisitionDateTime ContentDate ContentTime"),
    ("date", "contrast and radiopharmaceutical timing, needed for phase and SUV; handled like "
     "other dates", "ContrastBolusStartTime ContrastBolusStopTime RadiopharmaceuticalStartTime "
     "RadiopharmaceuticalStopTime RadiopharmaceuticalStartDateTime "
     "RadiopharmaceuticalStopDateTime"),
    ("date", "per-frame timing in enhanced images; handled like other dates",
     "FrameAcquisitionDateTime FrameReferenceDateTime"),
    # --- free text -------------------------------------------------------------------------
    ("descriptor", "free text that often helps the reader but may hold names or ids: removed "
     "unless the Clean Descriptors option (113105) redacts it",
     "StudyDescription SeriesDescription ProtocolName ImageComments AdditionalPatientHistory "
     "PerformedProcedureStepDescription RequestedProcedureDescription ContrastBolusAgent"),
    # --- what the gateway writes -----------------------------------------------------------
    ("generated", "written by the gateway to declare de-identification (PS3.15 E.1.1, "
     "PS3.3 C.7.1.1)", "PatientIdentityRemoved DeidentificationMethod "
     "DeidentificationMethodCodeSequence LongitudinalTemporalInformationModified"),
    ("keep", "declares burned-in annotation; the engine refuses YES when pixels were not "
     "cleaned, and writes NO after cleaning (PS3.15 E.3.1)",
     "BurnedInAnnotation RecognizableVisualFeatures"),
    # --- SOP common, study, series, equipment ----------------------------------------------
    ("keep", "character set needed to decode the text values we keep",
     "SpecificCharacterSet"),
    ("keep", "what kind of image this is: coded terms and counters, no person data",
     "Modality ImageType SeriesNumber InstanceNumber AcquisitionNumber BodyPartExamined "
     "Laterality ImageLaterality PatientPosition PatientOrientation AnatomicalOrientationType "
     "ViewPosition PresentationIntentType FrameLaterality"),
    ("keep", "Type 1 in the SC Equipment module: how a secondary capture was made (a coded "
     "term such as WSD or DV)", "ConversionType"),
    ("keep", "the machine model matters to an AI reader (vendor differences); not in Table "
     "E.1-1 and not about the person", "Manufacturer ManufacturerModelName"),
    # --- image pixel module ----------------------------------------------------------------
    ("keep", "describes how the pixel bytes are laid out; required to decode the image",
     "SamplesPerPixel PhotometricInterpretation Rows Columns BitsAllocated BitsStored HighBit "
     "PixelRepresentation PlanarConfiguration PixelAspectRatio NumberOfFrames "
     "FrameIncrementPointer SmallestImagePixelValue LargestImagePixelValue PixelPaddingValue "
     "PixelPaddingRangeLimit RedPaletteColorLookupTableDescriptor "
     "GreenPaletteColorLookupTableDescriptor BluePaletteColorLookupTableDescriptor "
     "RedPaletteColorLookupTableData GreenPaletteColorLookupTableData "
     "BluePaletteColorLookupTableData SegmentedRedPaletteColorLookupTableData "
     "SegmentedGreenPaletteColorLookupTableData SegmentedBluePaletteColorLookupTableData"),
    ("keep", "the image itself; burned-in text is handled by the pixel engine (113101)",
     "PixelData"),
    ("keep", "compression history the reader must know (lossy images read differently)",
     "LossyImageCompression LossyImageCompressionRatio LossyImageCompressionMethod"),
    # --- display -----------------------------------------------------------------------------
    ("keep", "modality and VOI transforms needed to display values correctly",
     "RescaleIntercept RescaleSlope RescaleType WindowCenter WindowWidth VOILUTFunction "
     "PresentationLUTShape"),
    # --- geometry ---------------------------------------------------------------------------
    ("keep", "image geometry: measurements and 3-D reconstruction need it",
     "PixelSpacing ImagerPixelSpacing SliceThickness SpacingBetweenSlices ImagePositionPatient "
     "ImageOrientationPatient SliceLocation EstimatedRadiographicMagnificationFactor "
     "NominalScannedPixelSpacing"),
    # --- acquisition parameters -------------------------------------------------------------
    ("keep", "CT/X-ray acquisition parameters: numbers and coded terms about the exposure",
     "KVP XRayTubeCurrent ExposureTime Exposure ExposureInuAs XRayTubeCurrentInuA "
     "DataCollectionDiameter ReconstructionDiameter DistanceSourceToDetector "
     "DistanceSourceToPatient GantryDetectorTilt TableHeight RotationDirection FilterType "
     "GeneratorPower FocalSpots ConvolutionKernel RevolutionTime SingleCollimationWidth "
     "TotalCollimationWidth TableSpeed TableFeedPerRotation SpiralPitchFactor CTDIvol "
     "ScanOptions BodyPartThickness CompressionForce PositionerPrimaryAngle "
     "PositionerSecondaryAngle Grid FieldOfViewShape FieldOfViewDimensions"),
    ("keep", "contrast amounts and route: numbers and short coded text the reader needs",
     "ContrastBolusVolume ContrastBolusTotalDose ContrastBolusIngredientConcentration "
     "ContrastBolusRoute ContrastBolusIngredient"),
    ("keep", "MR acquisition parameters: sequence physics, no person data",
     "ScanningSequence SequenceVariant MRAcquisitionType SequenceName AngioFlag RepetitionTime "
     "EchoTime InversionTime NumberOfAverages ImagingFrequency ImagedNucleus EchoNumbers "
     "MagneticFieldStrength NumberOfPhaseEncodingSteps EchoTrainLength PercentSampling "
     "PercentPhaseFieldOfView PixelBandwidth AcquisitionMatrix InPlanePhaseEncodingDirection "
     "FlipAngle VariableFlipAngleFlag SAR DiffusionBValue ReceiveCoilName TransmitCoilName"),
    ("keep", "nuclear medicine / PET quantitation: needed for SUV and decay correction",
     "Units DecayCorrection CorrectedImage SeriesType NumberOfSlices DecayFactor "
     "DoseCalibrationFactor ActualFrameDuration FrameReferenceTime ImageIndex "
     "RadionuclideTotalDose RadionuclideHalfLife RadionuclidePositronFraction "
     "Radiopharmaceutical"),
    ("keep", "nuclear medicine multi-frame vectors (what Frame Increment Pointer points at): "
     "which energy window, detector, phase or rotation each frame belongs to",
     "EnergyWindowVector NumberOfEnergyWindows DetectorVector NumberOfDetectors PhaseVector "
     "NumberOfPhases RotationVector NumberOfRotations RRIntervalVector NumberOfRRIntervals "
     "TimeSlotVector NumberOfTimeSlots SliceVector AngularViewVector TimeSliceVector "
     "NumberOfTimeSlices"),
    ("keep", "cine and ultrasound timing and calibration",
     "FrameTime FrameTimeVector CineRate RecommendedDisplayFrameRate RegionSpatialFormat "
     "RegionDataType RegionFlags RegionLocationMinX0 RegionLocationMinY0 RegionLocationMaxX1 "
     "RegionLocationMaxY1 ReferencePixelX0 ReferencePixelY0 PhysicalUnitsXDirection "
     "PhysicalUnitsYDirection ReferencePixelPhysicalValueX ReferencePixelPhysicalValueY "
     "PhysicalDeltaX PhysicalDeltaY TransducerFrequency PulseRepetitionFrequency"),
    # --- enhanced multi-frame --------------------------------------------------------------
    ("keep", "enhanced multi-frame frame bookkeeping: indices and coded frame types",
     "FrameAcquisitionNumber StackID InStackPositionNumber DimensionIndexValues "
     "TemporalPositionIndex FrameAcquisitionDuration FrameType DimensionIndexPointer "
     "FunctionalGroupPointer"),
    ("keep", "enhanced CT/MR image description (Type 1 and 1C in the image-level and "
     "frame-level macros): coded terms about how the image was made",
     "PixelPresentation VolumetricProperties VolumeBasedCalculationTechnique "
     "ComplexImageComponent AcquisitionContrast ContentQualification ResonantNucleus "
     "KSpaceFiltering AcquisitionDuration ApplicableSafetyStandardAgency "
     "IsocenterPosition B1rms"),
    ("keep", "enhanced MR pulse sequence module (Type 1C): coded physics of the sequence",
     "PulseSequenceName EchoPulseSequence MultipleSpinEcho MultiPlanarExcitation PhaseContrast "
     "TimeOfFlightContrast SteadyStatePulseSequence EchoPlanarPulseSequence SaturationRecovery "
     "SpectrallySelectedSuppression OversamplingPhase GeometryOfKSpaceTraversal "
     "SegmentedKSpaceTraversal CoverageOfKSpace NumberOfKSpaceTrajectories "
     "RectilinearPhaseEncodeReordering"),
    # --- coded entries (inside the sequences we keep) ---------------------------------------
    ("keep", "code triplets inside kept code sequences (anatomy, view, derivation): values "
     "from coding schemes, not about the person",
     "CodeValue CodingSchemeDesignator CodingSchemeVersion CodeMeaning LongCodeValue "
     "URNCodeValue ContextIdentifier MappingResource"),
    ("keep", "which frame of a referenced image is meant", "ReferencedFrameNumber"),
    # --- sequences kept and cleaned item by item -------------------------------------------
    ("sequence", "references between images of the same study; UIDs inside are remapped "
     "(PS3.15 E.1-1: X/Z/U*)",
     "ReferencedImageSequence SourceImageSequence ReferencedSeriesSequence "
     "ReferencedInstanceSequence"),
    ("sequence", "coded anatomy, view, procedure and derivation; items are code triplets",
     "AnatomicRegionSequence AnatomicRegionModifierSequence PrimaryAnatomicStructureSequence "
     "PrimaryAnatomicStructureModifierSequence ViewCodeSequence ViewModifierCodeSequence "
     "DerivationCodeSequence PurposeOfReferenceCodeSequence ProcedureCodeSequence "
     "RadionuclideCodeSequence RadiopharmaceuticalCodeSequence"),
    ("sequence", "radiopharmaceutical and ultrasound calibration groups",
     "RadiopharmaceuticalInformationSequence SequenceOfUltrasoundRegions"),
    ("sequence", "enhanced multi-frame functional groups carry the per-frame geometry and "
     "display values", "SharedFunctionalGroupsSequence PerFrameFunctionalGroupsSequence "
     "PixelMeasuresSequence PlanePositionSequence PlaneOrientationSequence "
     "FrameVOILUTSequence PixelValueTransformationSequence FrameContentSequence "
     "CTImageFrameTypeSequence MRImageFrameTypeSequence DimensionOrganizationSequence "
     "DimensionIndexSequence FrameAnatomySequence IrradiationEventIdentificationSequence"),
]


def _build() -> dict[int, KeepRule]:
    rules: dict[int, KeepRule] = {}
    for handling, reason, keywords in _GROUPS:
        for keyword in keywords.split():
            tag = tag_for_keyword(keyword)
            if tag is None:
                raise ValueError(f"keep-list keyword unknown to the data dictionary: {keyword}")
            if tag in rules:
                raise ValueError(f"keep-list keyword listed twice: {keyword}")
            rules[tag] = KeepRule(keyword=keyword, handling=handling, reason=reason)
    return rules


KEEP_LIST: dict[int, KeepRule] = _build()

# PS3.10 7.1: the File Meta Information we write; everything else in group 0002 is dropped
# (SourceApplicationEntityTitle, SendingApplicationEntityTitle, private meta ...).
FILE_META_KEEP: frozenset[int] = frozenset(
    {
        0x00020000,  # FileMetaInformationGroupLength
        0x00020001,  # FileMetaInformationVersion
        0x00020002,  # MediaStorageSOPClassUID
        0x00020003,  # MediaStorageSOPInstanceUID (remapped)
        0x00020010,  # TransferSyntaxUID
        0x00020012,  # ImplementationClassUID (ours)
        0x00020013,  # ImplementationVersionName (ours)
    }
)
