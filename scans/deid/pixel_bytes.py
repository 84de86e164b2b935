"""Native Pixel Data as views over a file's own bytes, so a large image is never copied whole.

A 100-frame colour cine is ~90 MiB of pixels. pydicom's usual read copies the Pixel Data value
out of the file, decoding copies it again, and writing copies it once more. Here the value is
located in the file bytes instead and used as a zero-copy ``memoryview``; frames are numpy views
into it; edits (blacked-out regions, cleared unused bits) are made in place on the one writable
buffer that becomes the output file.

Only the simple, common layout is handled this way (``NativeLayout``): little-endian,
uncompressed, 8 or 16 bits allocated, monochrome or interleaved RGB. Everything else is left to
pydicom's own reading and decoding. No Django imports; no knowledge of the cleaning rules.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

PIXEL_DATA_TAG = 0x7FE00010
UNDEFINED_LENGTH = 0xFFFFFFFF


@dataclass(frozen=True)
class PixelElement:
    """Where the Pixel Data element sits in a file: its VR, value offset and value length."""

    vr: str
    value_start: int
    length: int

    @property
    def value_end(self) -> int:
        return self.value_start + self.length


def locate_pixel_data(data: bytes, offset: int, *, implicit_vr: bool) -> PixelElement | None:
    """The Pixel Data element whose tag starts at ``offset`` in ``data``, if it is a plain one.

    Returns None (the caller then reads the file the ordinary way) when the element there is
    not (7FE0,0010), is encapsulated (undefined length), or does not fit the bytes. The value
    may be followed only by zero padding: anything else means more elements after the pixels,
    which the ordinary reader must see.
    """
    if offset + 8 > len(data):
        return None
    group, element = struct.unpack_from("<HH", data, offset)
    if (group << 16 | element) != PIXEL_DATA_TAG:
        return None
    if implicit_vr:
        (length,) = struct.unpack_from("<I", data, offset + 4)
        vr, header = "", 8
    else:
        raw_vr = data[offset + 4 : offset + 6]
        if raw_vr not in (b"OB", b"OW") or offset + 12 > len(data):
            return None
        (length,) = struct.unpack_from("<I", data, offset + 8)
        vr, header = raw_vr.decode("ascii"), 12
    start = offset + header
    if length == UNDEFINED_LENGTH or start + length > len(data):
        return None
    if data[start + length :].strip(b"\x00"):
        return None
    return PixelElement(vr, start, length)


@dataclass(frozen=True)
class NativeLayout:
    """How uncompressed pixels are laid out, for the layouts edited in place."""

    frames: int
    rows: int
    columns: int
    samples: int
    bits_allocated: int
    bits_stored: int
    signed: bool

    @property
    def dtype(self) -> np.dtype:
        kind = "i" if self.signed else "u"
        return np.dtype(f"<{kind}{self.bits_allocated // 8}")

    @property
    def frame_bytes(self) -> int:
        return self.rows * self.columns * self.samples * self.bits_allocated // 8

    @property
    def total_bytes(self) -> int:
        return self.frame_bytes * self.frames

    def frames_view(self, buffer: memoryview | bytes) -> np.ndarray:
        """All frames as one array viewing ``buffer`` (writable if the buffer is)."""
        shape: tuple[int, ...] = (self.frames, self.rows, self.columns)
        if self.samples > 1:
            shape = (*shape, self.samples)
        count = self.total_bytes // self.dtype.itemsize
        return np.frombuffer(buffer, dtype=self.dtype, count=count).reshape(shape)


def native_layout(ds: Dataset) -> NativeLayout | None:
    """The layout of ``ds``'s Pixel Data when it can be viewed and edited in place, else None.

    In place means: uncompressed little endian, 8 or 16 bits allocated, High Bit one below
    Bits Stored, MONOCHROME1/2 or RGB with interleaved samples (PlanarConfiguration 0).
    """
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None or not syntax.is_transfer_syntax or syntax.is_compressed:
        return None
    if not syntax.is_little_endian or syntax.is_deflated or "PixelData" not in ds:
        return None
    try:
        photometric = str(ds.PhotometricInterpretation).strip().upper()
        samples = int(ds.SamplesPerPixel)
        layout = NativeLayout(
            frames=int(ds.get("NumberOfFrames", 1) or 1),
            rows=int(ds.Rows),
            columns=int(ds.Columns),
            samples=samples,
            bits_allocated=int(ds.BitsAllocated),
            bits_stored=int(ds.BitsStored),
            signed=int(ds.get("PixelRepresentation", 0) or 0) == 1,
        )
        high_bit = int(ds.HighBit)
        planar = int(ds.get("PlanarConfiguration", 0) or 0)
    except (AttributeError, TypeError, ValueError):
        return None
    if layout.bits_allocated not in (8, 16) or high_bit != layout.bits_stored - 1:
        return None
    if not 0 < layout.bits_stored <= layout.bits_allocated or min(layout.rows, layout.columns,
                                                                  layout.frames) <= 0:
        return None
    if photometric in ("MONOCHROME1", "MONOCHROME2") and samples == 1:
        return layout
    if photometric == "RGB" and samples == 3 and planar == 0:
        return layout
    return None


def unused_bits_dirty(values: np.ndarray, bits_stored: int) -> bool:
    """Whether any value uses bits above High Bit (e.g. an overlay hidden in the pixel data).

    Unsigned: those bits must be zero. Signed: they must repeat the sign bit (PS3.5 8.1.1
    leaves them undefined, so we insist on the only reading every viewer agrees on).
    """
    bits = values.dtype.itemsize * 8
    if bits_stored >= bits:
        return False
    if values.dtype.kind == "u":
        return bool(np.any(values >> bits_stored))
    shifted = values >> (bits_stored - 1)  # arithmetic shift: 0 or -1 when sign-extended
    return bool(np.any((shifted != 0) & (shifted != -1)))


def clear_unused_bits(frames: np.ndarray, bits_stored: int) -> bool:
    """Zero (or sign-extend) the bits above High Bit in place, frame by frame; True if any were
    set. Values as read by a viewer that honours Bits Stored do not change."""
    bits = frames.dtype.itemsize * 8
    if bits_stored >= bits:
        return False
    changed = False
    shift = bits - bits_stored
    for frame in frames:
        if not unused_bits_dirty(frame, bits_stored):
            continue
        changed = True
        np.left_shift(frame, shift, out=frame)
        np.right_shift(frame, shift, out=frame)
    return changed
