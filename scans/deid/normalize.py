"""Pixel layouts the text search cannot read directly, rewritten once into ones it can.

The pixel engine searches and edits little-endian monochrome or RGB pixels. Two layouts pydicom
decodes fine are turned into that form before the search, so they are cleaned and verified like
any other image instead of being refused:

* big-endian pixel data (Explicit VR Big Endian, retired but still on old CDs): the same values
  written little endian;
* PALETTE COLOR: the palette applied, written as RGB with the palette's bit depth (what every
  viewer shows), the lookup tables dropped.

Nothing else changes: values are the decoded values, and the header then describes what was
written. No Django imports.
"""

from __future__ import annotations

import warnings

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from .text import PixelError

# Attributes that describe palette indices, not the RGB values that replace them.
_PALETTE_ATTRIBUTES = (
    "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData", "PaletteColorLookupTableUID",
    "SmallestImagePixelValue", "LargestImagePixelValue", "PixelPaddingValue",
    "PixelPaddingRangeLimit",
)


def needs_normalizing(ds: Dataset) -> bool:
    """Whether ``ds``'s pixels are big endian or palette colour."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    if "PixelData" not in ds:
        return False
    big_endian = syntax is not None and UID(str(syntax)).is_transfer_syntax and not UID(
        str(syntax)
    ).is_little_endian
    return big_endian or photometric == "PALETTE COLOR"


def normalize_pixels(ds: Dataset) -> str | None:
    """Rewrite big-endian or palette colour pixels in place; return the new transfer syntax.

    Returns None (``ds`` untouched) for every other layout. Raises PixelError when the pixels
    cannot be decoded or the result cannot be written.
    """
    if not needs_normalizing(ds):
        return None
    photometric = str(ds.PhotometricInterpretation).strip().upper()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = palette_rgb(ds) if photometric == "PALETTE COLOR" else ds.pixel_array
    except Exception as exc:
        raise PixelError("pixel data could not be decoded (big endian or palette)") from exc
    bits_allocated = int(ds.BitsAllocated)
    if photometric == "PALETTE COLOR":
        for keyword in _PALETTE_ATTRIBUTES:
            if keyword in ds:
                delattr(ds, keyword)
        ds.SamplesPerPixel, ds.PixelRepresentation = 3, 0
        ds.BitsAllocated = ds.BitsStored = bits_allocated = 8
        ds.HighBit = 7
    if photometric != "RGB" and int(ds.SamplesPerPixel) == 3:
        ds.PhotometricInterpretation = "RGB"  # decoded colour is RGB, YBR included
    if int(ds.SamplesPerPixel) > 1:
        ds.PlanarConfiguration = 0  # decoded samples are interleaved
    if bits_allocated == 1:
        from pydicom.pixels import pack_bits

        raw = pack_bits(arr)
    else:
        raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    if len(raw) & 1:
        raw += b"\x00"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PixelData = raw
    ds["PixelData"].VR = "OW" if bits_allocated > 8 else "OB"
    return str(ExplicitVRLittleEndian)


def palette_rgb(ds: Dataset) -> np.ndarray:
    """A PALETTE COLOR image as 8-bit RGB, the way a viewer shows it.

    A 16-bit palette is scaled to 8 bits (most IODs that allow RGB require 8 bits); one whose
    entries never exceed 255 is taken as it is.
    """
    from pydicom.pixels import apply_color_lut

    rgb = apply_color_lut(ds.pixel_array, ds)
    if rgb.dtype.itemsize > 1 and int(rgb.max(initial=0)) > 255:
        rgb = rgb >> 8
    return rgb.astype(np.uint8)
