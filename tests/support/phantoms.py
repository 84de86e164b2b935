"""Synthetic images for pixel tests: a body-like phantom and a DICOM data set around pixels."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def body_phantom(seed=0, size=512):
    """CT-like stored values (rescale -1024): air, a noisy body, organs and a spine."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float32) * (512 / size)
    hu = np.full((size, size), -1000, np.float32)
    body = ((xx - 256) / 200) ** 2 + ((yy - 265) / 165) ** 2 < 1
    hu[body] = 40
    for _ in range(5):
        cx, cy, r = rng.uniform(160, 350), rng.uniform(180, 330), rng.uniform(10, 30)
        hu[((xx - cx) / r) ** 2 + ((yy - cy) / r) ** 2 < 1] = rng.uniform(-100, 80)
    hu += rng.normal(0, 15, hu.shape).astype(np.float32)
    return np.clip(hu + 1024, 0, 4095).astype(np.uint16)


def make_dataset(pixels, photometric, bits_stored, **attributes):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality = "OT"
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.set_pixel_data(pixels, photometric, bits_stored, generate_instance_uid=False)
    return ds
