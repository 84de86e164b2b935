"""Benchmark the pixel side of de-identification: redaction precision/recall on the labelled
pixel set, and full-pipeline CT throughput next to its baselines measured in the same run.

    .venv/bin/python bench/pixel_bench.py [--slices 200] [--text-every 10] [--skip-set]

1. The labelled pixel set (tests/support/pixelset.py: public sample images, text-free and with
   burned-in identifiers and annotations): identifiers removed, annotations kept readable,
   text-free images altered, images the verifier refused, images flagged for a person.
2. A 512 x 512 16-bit CT series (text on every ``--text-every``th slice, detection on every
   slice) through the full default pipeline (header, text detection and verdicts, the
   independent second pass included), beside pydicom's untouched read+write of the same
   files and dicom-anonymizer (header rules only, no pixels) when installed. Each runs in its
   own fresh process, one after the other; wall and CPU seconds are printed, and the load
   average, since this machine is shared: CPU seconds are the per-core figure.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_SLICES_PER_CORE = 25.0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---- 1. the labelled set ---------------------------------------------------------------------


def labelled_set_figures() -> None:
    from scans.deid.text import get_detector
    from tests.support.pixel_scoring import SetScore, score_image
    from tests.support.pixelset import labelled_set

    detector = get_detector()
    images = labelled_set()
    total = SetScore()
    misses: list[str] = []
    start = time.perf_counter()
    for image in images:
        score = score_image(image, detector)
        total.add(score)
        if score.identifiers_left or score.annotations_lost or score.verifier_reasons or (
                score.text_free and score.pixels_changed):
            misses.append(score.name)
    seconds = time.perf_counter() - start
    text_images = total.images - total.text_free
    print(f"\n== Labelled pixel set: {total.images} images ({total.text_free} text-free real "
          f"images, {text_images} real images with burned-in text), {seconds:.0f} s")
    print(f"   identifiers removed      {total.identifiers_removed}/{total.identifiers} = "
          f"{_pct(total.identifiers_removed, total.identifiers)}  (recall; target 100 %)")
    print(f"   annotations kept         {total.annotations_kept}/{total.annotations} = "
          f"{_pct(total.annotations_kept, total.annotations)}  (precision of the blacking out)")
    print(f"   text-free images altered {total.text_free_altered}/{total.text_free}  (target 0)")
    print(f"   refused by the verifier  {total.quarantined}/{total.images}; flagged 'check this "
          f"image' {total.flagged}/{total.images}")
    if misses:
        print(f"   images with a miss: {', '.join(misses)}")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


# ---- 2. throughput -----------------------------------------------------------------------------


def run_pipeline(folder: str, out: str, queue: multiprocessing.Queue,
                 detect_text: bool = True) -> None:
    """The default pipeline over the folder, the detector loaded before timing; then the
    detector alone on one slice's rendering (CPU ms per call)."""
    import numpy as np
    import pydicom

    from scans.deid.engine import DeidKeys, DeidOptions, deidentify_tree
    from scans.deid.pixels import decode_frames, detection_image
    from scans.deid.text import get_detector

    detector = get_detector()
    detector.detect(np.zeros((512, 512), np.uint8))
    detector.read_crops([np.zeros((24, 96), np.uint8)])
    stats: dict[str, float] = {}
    cpu, start = _cpu(), time.perf_counter()
    report = deidentify_tree(folder, out, keys=DeidKeys(b"\x01" * 32),
                             options=DeidOptions(detect_text=detect_text), stats=stats)
    figures = {"wall": time.perf_counter() - start, "cpu": _cpu() - cpu, "stats": stats,
               "summary": report["summary"], "providers": list(detector.providers)}
    ds = pydicom.dcmread(sorted(Path(folder).iterdir())[1])
    image = detection_image(decode_frames(ds)[0], ds)
    before = _cpu()
    for _ in range(20):
        detector.detect(image)
    figures["detect_ms"] = (_cpu() - before) / 20 * 1000
    queue.put(figures)


def run_header_only(folder: str, out: str, queue: multiprocessing.Queue) -> None:
    """The same pipeline with text detection off: what the header stages cost."""
    run_pipeline(folder, out, queue, detect_text=False)


def run_floor(folder: str, out: str, queue: multiprocessing.Queue) -> None:
    """pydicom reading every file (pixels included) and writing it back untouched."""
    import pydicom

    cpu, start = _cpu(), time.perf_counter()
    for index, path in enumerate(sorted(Path(folder).iterdir())):
        ds = pydicom.dcmread(path)
        _ = ds.PixelData
        ds.save_as(Path(out) / f"{index:05d}.dcm", enforce_file_format=True)
    queue.put({"wall": time.perf_counter() - start, "cpu": _cpu() - cpu})


def run_anonymizer(folder: str, out: str, queue: multiprocessing.Queue) -> None:
    """dicom-anonymizer's default rules over every file (it checks no pixels)."""
    try:
        from dicomanonymizer import anonymize
    except ImportError:
        queue.put(None)
        return
    import contextlib
    import io

    cpu, start = _cpu(), time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        for index, path in enumerate(sorted(Path(folder).iterdir())):
            anonymize(str(path), str(Path(out) / f"{index:05d}.dcm"), {}, True)
    queue.put({"wall": time.perf_counter() - start, "cpu": _cpu() - cpu})


def fresh(target, folder: Path, out: Path):  # type: ignore[no-untyped-def]
    out.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(str(folder), str(out), queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def throughput_figures(slices: int, text_every: int) -> None:
    from deid_bench import make_ct_series

    with tempfile.TemporaryDirectory(prefix="pixel-bench-") as tmp:
        root = Path(tmp)
        make_ct_series(root / "ct", slices, 512, text_every)
        load = os.getloadavg()
        floor = fresh(run_floor, root / "ct", root / "floor")
        anonymizer = fresh(run_anonymizer, root / "ct", root / "anonymizer")
        header = fresh(run_header_only, root / "ct", root / "header")
        full = fresh(run_pipeline, root / "ct", root / "full")
        load_after = os.getloadavg()
    stats = full["stats"]
    print(f"\n== CT series: {slices} slices 512 x 512 16-bit, burned-in text on every "
          f"{text_every}th, detection on every slice; load average {load[0]:.1f} before, "
          f"{load_after[0]:.1f} after ({os.cpu_count()} CPUs, shared)")
    print(f"   {'':34} {'slices/s (wall)':>16} {'slices/s per core (CPU)':>24}")
    rows = [("pydicom read+write (floor)", floor)]
    if anonymizer is not None:
        rows.append(("dicom-anonymizer (no pixel check)", anonymizer))
    rows.append(("header stages only (no detection)", header))
    rows.append(("full pipeline", full))
    for label, figures in rows:
        print(f"   {label:34} {slices / figures['wall']:16.1f} {slices / figures['cpu']:24.1f}")
    if anonymizer is None:
        print("   dicom-anonymizer: not installed (pip install dicom-anonymizer)")
    per_core = slices / full["cpu"]
    verdict = "meets" if per_core >= TARGET_SLICES_PER_CORE else "MISSES"
    print(f"   => full pipeline {per_core:.1f} slices/s per core -> {verdict} target >= "
          f"{TARGET_SLICES_PER_CORE:.0f}; outcome {full['summary']}; providers "
          f"{full['providers']}")
    pixel_ms = (full["cpu"] - header["cpu"]) / slices * 1000
    print(f"   pixel stages {pixel_ms:.1f} ms CPU per slice (full minus header-only); the "
          f"detector alone {full['detect_ms']:.1f} ms CPU on one 512 x 512 slice")
    print("   ms per slice (wall): " + ", ".join(
        f"{stage} {seconds / slices * 1000:.1f}" for stage, seconds in sorted(stats.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--text-every", type=int, default=10)
    parser.add_argument("--skip-set", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    if not args.skip_set:
        labelled_set_figures()
    throughput_figures(args.slices, args.text_every)
    print(f"\npixel benchmark finished in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
