"""The clinic's DICOM node for tests: a real listener on a free port, and studies to push."""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from clinic.pacs.models import AllowedPeer, DicomNode
from clinic.pacs.scp import DicomListener
from tests.support import builders

NODE_AE = "GATEWAY"
PACS_AE = "CLINICPACS"


def dcmtk(tool: str) -> str:
    """The path of a dcmtk tool; `make test` installs Debian's dcmtk package."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"dcmtk's {tool} is missing: `make test` installs Debian's dcmtk package.")
    return path


def configure_node(peers: list[tuple[str, str]] | None = None) -> None:
    DicomNode.objects.update_or_create(pk=1, defaults={"ae_title": NODE_AE})
    for title, address in peers if peers is not None else [(PACS_AE, "127.0.0.1")]:
        AllowedPeer.objects.get_or_create(ae_title=title, address=address)


@contextmanager
def running_node() -> Iterator[DicomListener]:
    listener = DicomListener("127.0.0.1", 0).start()
    try:
        yield listener
    finally:
        listener.stop()


def write_study(folder: Path, count: int = 3, **attrs: object) -> list[Path]:
    """``count`` CT slices of one study as Part-10 files, as a PACS export would hold them."""
    folder.mkdir(parents=True, exist_ok=True)
    study = generate_uid()
    series = generate_uid()
    paths = []
    for i in range(count):
        path = folder / f"IM{i}.dcm"
        path.write_bytes(
            builders.make_dicom_bytes(
                StudyInstanceUID=study, SeriesInstanceUID=series, InstanceNumber=i + 1, **attrs
            )
        )
        paths.append(path)
    return paths


def lying_about_its_length(data: bytes) -> bytes:
    """The same file with its Pixel Data element claiming far more bytes than follow."""
    tag = b"\xe0\x7f\x10\x00OW\x00\x00"
    at = data.rindex(tag) + len(tag)
    return data[:at] + struct.pack("<L", 0x7FFF0000) + data[at + 4 :]


def held_back_image(handoff) -> object:
    """The handed-over scan as the worker would leave it with its first image held back by the
    verifier (the scan waits for the patient's review)."""
    from scans.models import Outcome, Scan, ScanImage, Status

    Scan.objects.filter(pk=handoff.scan_id).update(status=Status.READY_FOR_REVIEW)
    handoff.scan.refresh_from_db()
    source = handoff.scan.files.order_by("position").first()
    return ScanImage.objects.create(
        scan=handoff.scan,
        source=source,
        position=1,
        outcome=Outcome.QUARANTINED,
        reason="text the detector could not read was found in the pixels",
        kind="dicom",
        modality="CT",
    )
