"""The de-identification engine: one upload's bytes in, a clean file or a refusal out.

The steps run in order, each with one job: sniff (the upload intake's own rule: Part 10 files,
bare data sets, photos) -> parse -> collect identifiers -> pixels (detect burned-in text) ->
header keep-list -> write (blacking out the text and clearing unused high bits in the written
pixels) -> verify (an independent header check plus the pixel engine's own check). Any doubt
ends in quarantine: an unexpected exception anywhere after parsing quarantines the file with the
stage it happened in, and a file is only ever "clean" when both verifications returned no reason.

Used by the Celery task (``deidentify_bytes``) and the ``deidentify`` management command
(``deidentify_tree``). Never raises for bad input, never logs patient data.

Memory: an uncompressed image's pixels exist once in the upload and once in the output; they
are searched a frame at a time and edited in place in the output (see pixel_bytes.py).
"""

from __future__ import annotations

import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydicom.dataset import Dataset

from .header import (
    DeidKeys,
    HeaderError,
    clean_header,
    uid_digest,
    unsupported_reason,
    write_dataset,
)
from .identifiers import Identifiers, collect_identifiers
from .memo import Memo
from .non_images import not_image_sentence
from .pixel_bytes import clear_unused_bits, native_layout
from .reading import Kind, UnreadableError, read_dicom, sniff
from .report import tree_report
from .verify import verify_output, verify_photo_output

__all__ = [
    "DeidKeys",
    "DeidOptions",
    "FileResult",
    "Memo",
    "deidentify_bytes",
    "deidentify_tree",
]

# "not_image": a report, plan, recording, document or index (see non_images.py): listed, never
# cleaned, never sent, and not a failure.
Outcome = Literal["clean", "quarantined", "rejected", "not_image"]
Stats = dict[str, float]

# A zip member is read whole into memory; beyond this it is refused, not read.
MAX_MEMBER_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class DeidOptions:
    """What the operator chose (PS3.15 E.3 options) and how pixels are checked."""

    retain_dates: bool = False
    clean_descriptors: bool = False
    exempt_modalities: frozenset[str] = frozenset()
    detect_text: bool = True


@dataclass
class FileResult:
    """The outcome for one file. ``output`` is set only when the outcome is clean.

    ``report`` holds what was done (categories, tags and actions, redacted regions) and never
    an original value; ``identifiers`` is for later checks in memory and is never serialised.
    """

    outcome: Outcome
    reason: str
    kind: Kind
    output: bytes | None = None
    output_suffix: str = ".dcm"
    modality: str = ""
    report: dict[str, Any] = field(default_factory=dict)
    identifiers: Identifiers = field(default_factory=Identifiers, repr=False)
    study_uid: str = ""
    series_uid: str = ""


# --- one file ------------------------------------------------------------------------------------


def deidentify_bytes(
    data: bytes,
    *,
    keys: DeidKeys,
    options: DeidOptions,
    extra_identifiers: Iterable[str] = (),
    stats: Stats | None = None,
    memo: Memo | None = None,
) -> FileResult:
    """De-identify one uploaded file. Never raises for bad input: it returns a rejected result.

    ``data`` is recognised by the upload intake's rule (``reading.sniff``): a DICOM Part 10
    file, a bare DICOM data set, or a JPEG/PNG photo. ``extra_identifiers`` are values the
    uploader gave us (e.g. the patient's name from the consent form); they are searched for
    like those found in the header. ``stats``, when given, accumulates seconds per stage
    (parse, identifiers, pixels, header, write, verify ...). ``memo``: one per run over the
    slices of a series, so that the header stages work out a repeated element once (memo.py).
    """
    kind = sniff(data)
    if kind is None:
        return FileResult("rejected", "not a DICOM file or data set, PNG or JPEG", "dicom")
    if kind == "photo":
        return _deidentify_photo(data, options, extra_identifiers, stats)
    with _timed(stats, "parse"):
        try:
            ds = read_dicom(data)
        except UnreadableError as exc:
            return FileResult("rejected", str(exc), "dicom")
    try:
        not_image = not_image_sentence(ds)
    except Exception:
        not_image = None  # undecidable: the fail-closed rules below decide
    if not_image is not None:
        modality = str(ds.get("Modality", "") or "").strip().upper()[:16]
        return FileResult("not_image", not_image, "dicom", modality=modality)
    with _timed(stats, "identifiers"):
        try:
            identifiers = collect_identifiers(ds, memo).with_extra(extra_identifiers)
            refusal = unsupported_reason(ds)
            modality = str(ds.get("Modality", "") or "").strip().upper()
            broken = _pixel_length_problem(ds) if refusal is None else None
        except Exception as exc:
            return FileResult(
                "rejected", f"unreadable DICOM attribute values ({type(exc).__name__})", "dicom"
            )
    if broken is not None:
        return FileResult("rejected", broken, "dicom", modality=modality)
    if refusal is not None:
        return FileResult("quarantined", refusal, "dicom", modality=modality,
                          identifiers=identifiers)
    stage = ["pixels"]
    try:
        return _deidentify_dicom(ds, identifiers, modality, keys, options, stats, stage, memo)
    except HeaderError as exc:
        reason = str(exc)
    except _pixel_error() as exc:
        reason = f"pixels could not be checked: {exc}"
    except Exception as exc:  # fail closed: whatever went wrong, nothing leaves
        reason = f"unexpected error during {stage[0]} ({type(exc).__name__})"
    return FileResult("quarantined", reason, "dicom", modality=modality, identifiers=identifiers)


def _deidentify_dicom(
    ds: Dataset,
    identifiers: Identifiers,
    modality: str,
    keys: DeidKeys,
    options: DeidOptions,
    stats: Stats | None,
    stage: list[str],
    memo: Memo | None = None,
) -> FileResult:
    exempt = modality in {m.upper() for m in options.exempt_modalities}
    pixels_report: dict[str, Any] = {"checked": False, "exempt": exempt, "changed": False,
                                     "regions": [], "transfer_syntax_changed": False,
                                     **_no_review()}
    regions: list[tuple[int, int, int, int, int]] = []
    clear_frames: dict[int, str] = {}
    looked_frames: dict[int, str] = {}
    kept: list[tuple[int, int, int, int, int]] = []
    flagged: list[tuple[int, int, int, int, int]] = []
    new_syntax: str | None = None
    detector = None
    pending: Callable[[np.ndarray], None] | None = None
    if options.detect_text:
        from .normalize import normalize_pixels
        from .pixels import get_detector, redact_dicom_pixels

        with _timed(stats, "pixels"):
            detector = get_detector()
            # Big-endian and palette colour pixels are searched as little-endian RGB.
            normalized = None if exempt else normalize_pixels(ds)
            outcome = redact_dicom_pixels(ds, detector=detector, exempt=exempt, deferred=True)
        regions = list(outcome.regions)
        new_syntax = outcome.transfer_syntax_changed_to or normalized
        clear_frames = outcome.search.clear_frames
        looked_frames = outcome.search.looked_frames
        kept = outcome.search.kept
        flagged = outcome.search.left()
        pixels_report.update(checked=not exempt, changed=outcome.changed,
                             regions=[list(r) for r in regions],
                             transfer_syntax_changed=new_syntax is not None,
                             **outcome.search.report())
        if outcome.pending:
            pending = _painter(regions, outcome.fill, stats)
    elif str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES":
        raise HeaderError("image declares burned-in annotation and text detection is off")

    stage[0] = "header"
    with _timed(stats, "header"):
        header = clean_header(
            ds,
            keys=keys,
            identifiers=identifiers,
            retain_dates=options.retain_dates,
            clean_descriptors=options.clean_descriptors,
            pixels_cleaned=options.detect_text and not exempt,
            transfer_syntax=new_syntax,
            memo=memo,
        )
    stage[0] = "write"
    with _timed(stats, "write"):
        output = write_dataset(header.dataset,
                               edit_pixels=_pixel_edits(header.dataset, ds, pending))
    # The output now holds the only copy of the pixels this run made; drop the datasets'
    # (a rewritten image's decoded pixels) so verification runs beside one copy, not two.
    for dataset in (ds, header.dataset):
        if "PixelData" in dataset:
            del dataset.PixelData
    stage[0] = "verification"
    with _timed(stats, "verify"):
        reasons = verify_output(output, identifiers, retain_dates=options.retain_dates)
    if detector is not None and not reasons:
        from .pixels import verify_exempt, verify_redacted

        with _timed(stats, "pixel_verify"):
            if exempt:
                reasons = verify_exempt(output, sorted(identifiers.for_matching()),
                                        detector=detector)
            else:
                reasons = verify_redacted(output, regions, detector,
                                          clear_frames=clear_frames,
                                          looked_frames=looked_frames, kept=kept,
                                          flagged=flagged)
    report = {
        "categories": dict(sorted(header.categories.items())),
        "attributes": header.attribute_report(),
        "method_codes": [code for code, _ in header.codes],
        "pixels": pixels_report,
    }
    result = FileResult(
        outcome="clean",
        reason="",
        kind="dicom",
        modality=modality,
        report=report,
        identifiers=identifiers,
        study_uid=str(header.dataset.get("StudyInstanceUID", "")),
        series_uid=str(header.dataset.get("SeriesInstanceUID", "")),
    )
    if reasons:
        result.outcome, result.reason = "quarantined", "; ".join(reasons)
    else:
        result.output = output
    return result


def _deidentify_photo(
    data: bytes, options: DeidOptions, extra: Iterable[str], stats: Stats | None
) -> FileResult:
    identifiers = Identifiers().with_extra(extra)
    try:
        from .photos import clean_photo, verify_photo
        from .text import get_detector

        detector = get_detector()
        with _timed(stats, "pixels"):
            outcome = clean_photo(data, detector=detector)
        with _timed(stats, "verify"):
            reasons = verify_photo_output(outcome.output, identifiers)
        with _timed(stats, "pixel_verify"):
            # The pixel side's own check: it walks the container itself (not through Pillow),
            # re-decodes the pixels and runs a second detection over the blacked-out boxes.
            reasons += verify_photo(outcome.output, list(outcome.regions), detector,
                                    kept=outcome.search.kept,
                                    flagged=outcome.search.left())
    except _pixel_error() as exc:
        return FileResult("quarantined", f"photo could not be cleaned: {exc}", "photo",
                          identifiers=identifiers)
    except Exception as exc:
        return FileResult("quarantined", f"unexpected error cleaning a photo "
                          f"({type(exc).__name__})", "photo", identifiers=identifiers)
    regions = [list(r) for r in getattr(outcome, "regions", [])]
    report = {"pixels": {"checked": True, "exempt": False, "changed": bool(regions),
                         "regions": regions, "metadata_removed": True,
                         **outcome.search.report()}}
    if reasons:
        return FileResult("quarantined", "; ".join(reasons), "photo", report=report,
                          identifiers=identifiers)
    return FileResult("clean", "", "photo", output=outcome.output,
                      output_suffix=outcome.suffix, report=report, identifiers=identifiers)


def _no_review() -> dict[str, Any]:
    """The pixel report of an image nobody searched for text: nothing kept, nothing to check."""
    return {"kept": [], "review": {"needed": False, "reasons": [], "boxes": []}}


def _pixel_length_problem(ds: Dataset) -> str | None:
    """A truncated uncompressed image is broken input, not something to clean.

    Bytes beyond the image size (a padded-out value) are cut off here, in ``ds``: they are not
    part of the image, and whatever they hold must not leave. YBR_FULL_422 stores two values
    per pixel, not three (PS3.3 C.7.6.3.1.2).
    """
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None or syntax.is_compressed:
        return None
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.SamplesPerPixel)
        if str(ds.get("PhotometricInterpretation", "")).strip().upper() == "YBR_FULL_422":
            samples = 2
        bits = int(ds.Rows) * int(ds.Columns) * samples * frames
        expected = (bits * int(ds.BitsAllocated) + 7) // 8
    except (AttributeError, TypeError, ValueError):
        return "image size attributes are missing or malformed"
    actual = len(ds.PixelData or b"")
    if actual < expected:
        return "pixel data length does not match the image size (truncated or corrupt)"
    if actual > expected + 1:
        ds.PixelData = bytes(ds.PixelData[: expected + (expected & 1)])
    return None


def _painter(
    regions: list[tuple[int, int, int, int, int]], fill: int, stats: Stats | None
) -> Callable[[np.ndarray], None]:
    """Paints the pending redactions onto the written frames (timed as "redaction")."""
    from .pixels import paint_regions

    def paint(frames: np.ndarray) -> None:
        with _timed(stats, "redaction"):
            paint_regions(frames, regions, fill)

    return paint


def _pixel_edits(
    out: Dataset, original: Dataset, paint: Callable[[np.ndarray], None] | None
) -> Callable[[memoryview], None] | None:
    """What to change in the written Pixel Data, in place: pending redactions, unused bits.

    Bits above High Bit are cleared in every uncompressed image (with or without text
    detection): old modalities kept overlays there, and a reader that ignores Bits Stored would
    show them. Values as read through Bits Stored do not change. Raises HeaderError when
    redactions are pending but the written pixels are not laid out like the ones searched.
    """
    layout = native_layout(out)
    if paint is not None and (layout is None or layout != native_layout(original)):
        raise HeaderError("redacted regions could not be applied to the written pixels")
    if layout is None or (paint is None and layout.bits_stored == layout.bits_allocated):
        return None

    def edit(value: memoryview) -> None:
        if len(value) < layout.total_bytes:
            raise HeaderError("pixel data is shorter than the image size")
        frames = layout.frames_view(value)
        clear_unused_bits(frames, layout.bits_stored)
        if paint is not None:
            paint(frames)

    return edit


def _pixel_error() -> type[Exception]:
    try:
        from .text import PixelError
    except ImportError:  # pixel engine absent: nothing can raise it
        return _NeverRaised
    return PixelError


class _NeverRaised(Exception):
    pass


@contextmanager
def _timed(stats: Stats | None, stage: str) -> Iterator[None]:
    if stats is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        stats[stage] = stats.get(stage, 0.0) + time.perf_counter() - start


# --- a file, folder or zip -----------------------------------------------------------------------


def deidentify_tree(
    input_path: str | Path,
    output_dir: str | Path,
    *,
    keys: DeidKeys,
    options: DeidOptions,
    stats: Stats | None = None,
) -> dict[str, Any]:
    """De-identify a file, a folder (recursively) or a zip into ``output_dir``; return the report.

    Output names carry nothing of the originals: ``study-<h>/series-<h>/image-0001.dcm`` with
    ``<h>`` a digest of the already remapped UID, numbered in the sorted order of the inputs, so
    the same inputs and key give the same names and bytes. Photos go to ``photos/``. Files that
    are neither DICOM nor photos are skipped with a note; reports, DICOMDIR indexes and other
    non-images are listed as ``not_image`` with their sentence.

    The report lists each input's relative path: it is the operator's own local report about
    their own files, and without the path they could not find what was quarantined. It must
    not travel with the cleaned files (it is written outside ``output_dir`` by the CLI).

    Raises ValueError when ``output_dir`` exists and is not empty, or the input does not exist.
    """
    source, destination = Path(input_path), Path(output_dir)
    if not source.exists():
        raise ValueError("input does not exist")
    if destination.exists() and any(destination.iterdir()):
        raise ValueError("output directory is not empty")
    destination.mkdir(parents=True, exist_ok=True)
    counters: Counter[str] = Counter()
    entries: list[dict[str, Any]] = []
    memo = Memo()
    for relative, load in _inputs(source):
        entries.append(_one_entry(relative, load, destination, counters, keys, options, stats,
                                  memo))
    return tree_report(
        entries,
        {
            "retain_dates": options.retain_dates,
            "clean_descriptors": options.clean_descriptors,
            "exempt_modalities": sorted(options.exempt_modalities),
            "detect_text": options.detect_text,
        },
    )


def _one_entry(
    relative: str,
    load: Callable[[], bytes],
    destination: Path,
    counters: Counter[str],
    keys: DeidKeys,
    options: DeidOptions,
    stats: Stats | None,
    memo: Memo,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"input": relative, "output": None}
    try:
        data = load()
    except Exception as exc:
        return {**entry, "outcome": "rejected", "reason": f"could not be read ({exc})"}
    kind = sniff(data)
    if kind is None:
        return {**entry, "outcome": "skipped", "reason": "not a DICOM file or photo"}
    result = deidentify_bytes(data, keys=keys, options=options, stats=stats, memo=memo)
    del data
    entry.update(kind=result.kind, outcome=result.outcome, reason=result.reason,
                 modality=result.modality, **result.report)
    if result.output is not None:
        if result.kind == "dicom":
            folder = f"study-{uid_digest(result.study_uid)}/series-{uid_digest(result.series_uid)}"
            name = "image"
        else:
            folder, name = "photos", "photo"
        counters[folder] += 1
        path = f"{folder}/{name}-{counters[folder]:04d}{result.output_suffix}"
        target = destination / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with _timed(stats, "save"):
            target.write_bytes(result.output)
        entry["output"] = path
    return entry


def _inputs(source: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(relative name, loader) for each input file, in sorted order; symlinks are not followed."""
    if source.is_dir():
        for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink()):
            yield path.relative_to(source).as_posix(), path.read_bytes
    elif zipfile.is_zipfile(source):
        yield from _zip_inputs(source)
    else:
        yield source.name, source.read_bytes


def _zip_inputs(source: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    with zipfile.ZipFile(source) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir():
                continue

            def load(info: zipfile.ZipInfo = info) -> bytes:
                if info.file_size > MAX_MEMBER_BYTES:
                    raise ValueError("zip member too large")
                with archive.open(info) as member:
                    data = member.read(MAX_MEMBER_BYTES + 1)
                if len(data) > MAX_MEMBER_BYTES:
                    raise ValueError("zip member too large")
                return data

            yield info.filename, load

