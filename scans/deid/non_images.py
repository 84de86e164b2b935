"""Recognising DICOM objects that are not images: listed as "not an image — not sent".

A CD holds more than pictures: reports, radiotherapy plans, segmentations, ECGs, display
settings, key-image notes, PDFs, its own index. None of them is sent to an AI (only images
are), so none is a failure or a risk to quarantine: each is told to the patient in one plain
sentence and kept out of every selection. Nothing is cleaned or written for them.

Decided from the SOP Class alone (and, for an image class, whether pixel data is present): an
unknown or private SOP class is *not* recognised here and stays with the engine's fail-closed
rules.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import UID_dictionary

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
_PIXELS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

# (words in the SOP class name, the sentence), first match wins; "Image Storage" classes
# (RT Image included) are images and are left to the engine.
_KINDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("Key Object Selection",),
     "A note listing key images chosen by the radiologist: not an image, so it is not sent."),
    (("SR Storage", "Report", "Structured"),
     "A written report stored as structured text: not an image, so it is not sent."),
    (("Encapsulated",),
     "A document (such as a PDF) stored inside DICOM: not an image, so it is not sent."),
    (("Segmentation",),
     "Outlines of structures drawn on other images (a segmentation): not an image, so it is "
     "not sent."),
    (("Waveform", "ECG", "Electrocardiogram", "Hemodynamic", "Electrophysiology"),
     "A signal recording such as an ECG (a waveform): not an image, so it is not sent."),
    (("Presentation State",),
     "Display settings for other images (a presentation state): not an image, so it is not "
     "sent."),
    (("RT ",),
     "Radiotherapy planning or treatment data: not an image, so it is not sent."),
)
_OTHER = "Data that is not an image ({name}), so it is not sent."
_NO_PIXELS = (
    "An image record without the picture itself (header only): there is nothing to send."
)
_DICOMDIR = "The disc's index of its files (DICOMDIR): not an image, so it is not sent."


def not_image_sentence(ds: Dataset) -> str | None:
    """The plain sentence for a recognised non-image object, or None for anything else."""
    meta = getattr(ds, "file_meta", None)
    media_class = str(meta.get("MediaStorageSOPClassUID", "") or "") if meta is not None else ""
    sop_class = str(ds.get("SOPClassUID", "") or "").strip() or media_class.strip()
    if sop_class == DICOMDIR_CLASS or "DirectoryRecordSequence" in ds:
        return _DICOMDIR
    entry = UID_dictionary.get(sop_class)
    if entry is None or entry[1] != "SOP Class":
        return None
    name = entry[0]
    if "Image Storage" in name:
        return None if any(tag in ds for tag in _PIXELS) else _NO_PIXELS
    if "Storage" not in name:
        return None
    for words, sentence in _KINDS:
        if any(word in name for word in words):
            return sentence
    return _OTHER.format(name=name.removesuffix(" Storage"))
