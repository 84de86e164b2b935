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

import pydicom
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
