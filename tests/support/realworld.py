"""The real-world set: public DICOM sample files nobody here wrote, never kept in git.

pydicom's bundled test files and those of the ``pydicom-data`` package (a dev dependency),
read from the installed packages, never downloaded. Vendor images from CT, MR, CR, DX, US, NM,
SC and enhanced multi-frame objects in every transfer syntax pydicom reads, plus non-images
(SR, RT, SEG ...) and deliberately broken files.

A file counts as a *decodable image* when it is an image storage object whose pixels pydicom
(with the pylibjpeg plugins) decodes: those are the ones the gateway must release. The list is
computed once per process and cached.

``dciodvfy`` (Debian's dicom3tools) reports IOD errors; ``new_validator_errors`` compares an
output with its original so only errors the gateway introduced count.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pydicom
import pydicom.multival
from pydicom.uid import UID_dictionary


@dataclass(frozen=True)
class SampleFile:
    """One public sample file and what pydicom makes of it."""

    path: Path
    name: str
    decodable_image: bool

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()


@cache
def sample_files() -> tuple[SampleFile, ...]:
    """Every DICOM sample file of pydicom and pydicom-data, sorted by name."""
    from pydicom.data import get_testdata_files

    paths = sorted({Path(p) for p in get_testdata_files()}, key=lambda p: (p.name, str(p)))
    samples = []
    seen: set[str] = set()
    for path in paths:
        if path.suffix.lower() not in ("", ".dcm", ".dicom") or not path.is_file():
            continue
        name = path.name if path.name not in seen else f"{path.parent.name}/{path.name}"
        seen.add(name)
        samples.append(SampleFile(path, name, _decodable_image(path)))
    return tuple(samples)


def decodable_images() -> tuple[SampleFile, ...]:
    return tuple(s for s in sample_files() if s.decodable_image)


def _decodable_image(path: Path) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
            entry = UID_dictionary.get(str(ds.get("SOPClassUID", "")), ("", "", ""))
            if "Image Storage" not in entry[0] or "PixelData" not in ds:
                return False
            ds.pixel_array  # noqa: B018 (decoding is the test)
    except Exception:
        return False
    return True


# --- the validator -----------------------------------------------------------------------------


def dciodvfy() -> str | None:
    """The path of dicom3tools' IOD validator, or None when it is not installed."""
    return shutil.which("dciodvfy")


_ADDRESS = re.compile(r"0x[0-9a-f]+", re.IGNORECASE)
_QUOTED_VALUE = re.compile(r"\s*=\s*<[^>]*>")


def validator_errors(data: bytes) -> set[str]:
    """dciodvfy's error lines for a file, without byte offsets and quoted values, so an
    output's errors compare with its original's (a remapped UID is another value)."""
    tool = dciodvfy()
    if tool is None:
        raise RuntimeError("dciodvfy is not installed (apt-get install dicom3tools)")
    with tempfile.NamedTemporaryFile(suffix=".dcm") as handle:
        handle.write(data)
        handle.flush()
        done = subprocess.run(
            [tool, "-new", handle.name], capture_output=True, text=True, errors="replace",
            timeout=120, check=False,
        )
    lines = (done.stdout + done.stderr).splitlines()
    return {_QUOTED_VALUE.sub("", _ADDRESS.sub("", line.strip()))
            for line in lines if line.startswith("Error")}


def new_validator_errors(original: bytes, output: bytes) -> set[str]:
    """Errors dciodvfy reports for ``output`` that it did not report for ``original``.

    dciodvfy cannot read a deflated file; such an original is compared inflated (written
    again by pydicom as Explicit VR Little Endian, nothing else changed).
    """
    return validator_errors(output) - validator_errors(_inflated(original))


def _inflated(data: bytes) -> bytes:
    import io

    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        meta = getattr(ds, "file_meta", None)
        if meta is None or meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
            return data
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# --- what must not leave, checked without the engine's own code ----------------------------------

# Attributes whose values identify the patient, the staff, the site or the device.
IDENTIFYING_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs", "OtherPatientNames",
    "PatientAddress", "PatientTelephoneNumbers", "PatientMotherBirthName", "IssuerOfPatientID",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy", "RequestingPhysician", "StationName", "DeviceSerialNumber",
    "AccessionNumber", "StudyID", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate",
)
UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")
# Kept on purpose: what the machine is and what the image shows. A value that the original
# also carries here (InstitutionName "TOSHIBA", Manufacturer "TOSHIBA_MEC") is no leak.
DESCRIBING_KEYWORDS = ("Manufacturer", "ManufacturerModelName", "ImageType", "BodyPartExamined",
                       "Modality", "SOPClassUID", "ConversionType")
# PS3.16 CID 7050 code meanings: what De-identification Method says in every output.
DECLARATIONS = (
    "Basic Application Confidentiality Profile", "Clean Pixel Data Option",
    "Clean Descriptors Option", "Retain Patient Characteristics Option",
    "Retain Longitudinal Temporal Information Modified Dates Option",
)
_PLACEHOLDERS = {"ANONYMOUS", "ANONYMIZED", "UNKNOWN", "NONE", "NULL", "REMOVED", "NO INFO"}


def identifying_values(ds: pydicom.Dataset) -> dict[str, str]:
    """value -> keyword, for the identifying attributes of ``ds`` at any depth.

    Person names also count by their parts; values under four characters and placeholders
    ("ANONYMOUS") are left out: they occur by chance anywhere.
    """
    found: dict[str, str] = {}
    describing = " ".join(
        str(v) for e in ds.iterall() if e.keyword in DESCRIBING_KEYWORDS
        for v in (e.value if isinstance(e.value, list | pydicom.multival.MultiValue)
                  else [e.value])
    ).casefold()
    for elem in ds.iterall():
        if elem.keyword not in IDENTIFYING_KEYWORDS or elem.VR == "SQ":
            continue
        values = elem.value if isinstance(elem.value, list | pydicom.multival.MultiValue) else [
            elem.value]
        for value in values:
            text = str(value or "").strip()
            parts = {text}
            if elem.VR == "PN":
                parts |= {p for p in re.split(r"[\^=\s,]+", text) if p}
            for part in parts:
                if len(part) < 4 or part.upper() in _PLACEHOLDERS:
                    continue
                if _whole_word(part.casefold(), describing):
                    continue
                found.setdefault(part, elem.keyword)
    return found


def _whole_word(needle: str, text: str) -> bool:
    return re.search(r"(?<![a-z0-9])" + re.escape(needle) + r"(?![a-z0-9])", text) is not None


def leaked(original: bytes, output: bytes) -> list[str]:
    """Keywords of the original's identifying values or UIDs found in ``output``'s bytes.

    Values are searched case-insensitively as whole words (letters or digits glued on make
    another word); UIDs as they are. Returns keywords, never the values.
    """
    import io

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(original), force=True)
    folded = output.lower()
    for phrase in DECLARATIONS:  # standard text every de-identified file carries
        folded = folded.replace(phrase.lower().encode(), b" ")
    keywords = []
    for value, keyword in identifying_values(ds).items():
        needle = value.casefold().encode("utf-8", errors="ignore")
        if needle and needle in folded and re.search(
            rb"(?<![a-z0-9])" + re.escape(needle) + rb"(?![a-z0-9])", folded
        ):
            keywords.append(keyword)
    for keyword in UID_KEYWORDS:
        uid = str(ds.get(keyword, "") or "").strip()
        if uid and uid not in UID_dictionary and uid.encode() in output:
            keywords.append(keyword)
    return sorted(set(keywords))


# --- pixels ---------------------------------------------------------------------------------------


def displayed_pixels(data: bytes) -> np.ndarray:
    """All frames as a viewer gets them: (frames, rows, columns[, 3]), palette applied as 8-bit
    RGB, values limited to Bits Stored."""
    import io

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(data))
        photometric = str(ds.PhotometricInterpretation).strip().upper()
        if photometric == "PALETTE COLOR":
            from scans.deid.normalize import palette_rgb

            arr = palette_rgb(ds)
        else:
            arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.SamplesPerPixel) if photometric != "PALETTE COLOR" else 3
    if arr.ndim == (3 if samples > 1 else 2):
        arr = arr[np.newaxis]
    assert arr.shape[0] == frames
    if arr.dtype.kind in "ui" and photometric != "PALETTE COLOR":
        bits = int(ds.BitsStored)
        if bits < arr.dtype.itemsize * 8:
            shift = arr.dtype.itemsize * 8 - bits
            arr = (arr << shift) >> shift  # sign-extends signed values, clears unsigned ones
    return arr


def same_outside(original: bytes, output: bytes, regions: list[list[int]]) -> bool:
    """Whether every pixel outside the reported regions (frame, x, y, w, h) is unchanged."""
    before, after = displayed_pixels(original), displayed_pixels(output)
    if before.shape != after.shape:
        return False
    keep = np.ones(before.shape[:3], dtype=bool)
    for frame, x, y, w, h in regions:
        keep[frame, y : y + h, x : x + w] = False
    return bool(np.array_equal(before[keep], after[keep]))
