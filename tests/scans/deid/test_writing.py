"""A cleaned header is written as exactly the bytes pydicom's own writer gives for it, on every
public sample file and every synthetic one, whichever of the two writes it."""

from __future__ import annotations

import copy
import io

import pytest
from pydicom import dcmwrite
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from scans.deid.header import DeidKeys, clean_header, unsupported_reason, write_dataset
from scans.deid.identifiers import Identifiers, collect_identifiers
from scans.deid.reading import UnreadableError, read_dicom
from scans.deid.writing import encode_file
from tests.support.phi_corpus import (
    TRANSFER_SYNTAXES,
    Patient,
    ct_slice,
    secondary_capture,
    to_bytes,
    ultrasound_cine,
)
from tests.support.realworld import sample_files

KEYS = DeidKeys(bytes(range(32)))
OPTIONS = [
    {},
    {"retain_dates": True, "clean_descriptors": True},
]


def synthetic_files() -> list[tuple[str, bytes]]:
    patient = Patient()
    files = [(f"ct-{name}", to_bytes(ct_slice(patient, 0, rows=16, columns=16,
                                              transfer_syntax=syntax)))
             for name, syntax in TRANSFER_SYNTAXES.items()]
    files.append(("ultrasound", to_bytes(ultrasound_cine(patient, frames=2, rows=8, columns=8))))
    files.append(("secondary-capture", to_bytes(secondary_capture(patient))))
    return files


def cleaned_headers() -> list[tuple[str, Dataset]]:
    """Every cleanable file's cleaned data set, under each set of options, without its pixels
    (the engine appends those itself); and once more with every top-level element converted
    by pydicom before cleaning, as the pixel stage leaves the ones it reads (the window, the
    rescale, the image's size)."""
    files = synthetic_files() + [(s.name, s.read_bytes()) for s in sample_files()]
    cleaned = []
    for name, data in files:
        try:
            original = read_dicom(data)
        except UnreadableError:
            continue
        if unsupported_reason(original) is not None:
            continue
        identifiers = collect_identifiers(original)
        for options in OPTIONS:
            cleaned.append((f"{name} {sorted(options)}",
                            header_only(original, identifiers, options)))
        converted = read_dicom(data)
        try:
            for tag in list(converted.keys()):
                converted.__getitem__(tag)  # converts the element in place
        except (ValueError, TypeError, OverflowError):  # the engine rejects such a file
            continue
        cleaned.append((f"{name} converted", header_only(converted, identifiers, {})))
    return cleaned


def header_only(original: Dataset, identifiers: Identifiers, options: dict) -> Dataset:
    """``original``'s cleaned data set without its pixels, ready to be written as a file."""
    dataset = clean_header(original, keys=KEYS, identifiers=identifiers, **options).dataset
    del dataset.PixelData
    dataset.preamble = b"\x00" * 128
    return dataset


CLEANED = cleaned_headers()


def pydicom_bytes(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dcmwrite(buffer, copy.deepcopy(dataset), enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize("name,dataset", CLEANED, ids=[name for name, _ in CLEANED])
def test_a_cleaned_header_is_written_as_pydicom_writes_it(name: str, dataset: Dataset) -> None:
    """GIVEN the cleaned header of a public sample or synthetic file
    WHEN the gateway's writer encodes it
    THEN the bytes are pydicom's own, or the writer leaves the file to pydicom.
    """
    expected = pydicom_bytes(dataset)
    encoded = encode_file(copy.deepcopy(dataset), b"\x00" * 128)
    assert encoded is None or encoded == expected


def test_the_usual_little_endian_headers_are_written_by_the_gateway_itself() -> None:
    """GIVEN the cleaned headers of the corpora
    WHEN the little-endian ones are encoded
    THEN most are written without pydicom's writer (the check above is not vacuous), every
    explicit VR one from a scanner-like CT slice among them.
    """
    little = [(name, ds) for name, ds in CLEANED
              if ds.file_meta.TransferSyntaxUID in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)]
    written = [name for name, ds in little if encode_file(copy.deepcopy(ds), b"\x00" * 128)]
    assert len(written) >= 0.6 * len(little)
    assert all(name in written for name, _ in little if name.startswith("ct-explicit-le"))


def test_a_big_endian_or_encapsulated_file_is_left_to_pydicom() -> None:
    """GIVEN cleaned headers in big endian, or still holding their pixel data
    WHEN the gateway's writer is asked to encode them
    THEN it declines, and the whole file is pydicom's (checked by the parametrised test)."""
    big = [ds for name, ds in CLEANED if name.startswith("ct-explicit-be")]
    assert big and all(encode_file(copy.deepcopy(ds), b"\x00" * 128) is None for ds in big)
    with_pixels = copy.deepcopy(CLEANED[0][1])
    with_pixels.PixelData = b"\x00\x00"
    assert encode_file(with_pixels, b"\x00" * 128) is None


def test_a_written_file_is_pydicoms_with_the_pixels_after_the_header() -> None:
    """GIVEN a CT slice in explicit VR little endian
    WHEN its cleaned header is written with its pixels
    THEN the file is pydicom's, and the pixels follow the header unchanged."""
    original = read_dicom(to_bytes(ct_slice(Patient(), 0, rows=16, columns=16)))
    cleaned = clean_header(original, keys=KEYS, identifiers=collect_identifiers(original))
    output = write_dataset(cleaned.dataset)
    cleaned.dataset.PixelData = bytes(cleaned.dataset.PixelData)  # a view does not deep-copy
    assert output == pydicom_bytes(cleaned.dataset)
    assert output.endswith(bytes(original.PixelData))
