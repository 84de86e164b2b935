"""Benchmark the de-identification engine on one worker against the floor of pydicom itself.

    .venv/bin/python bench/deid_bench.py [--slices 200] [--frames 100] [--skip-us]

Generates, in a temporary folder, a CT series of 512x512 16-bit slices (burned-in text on some)
and an ultrasound-like RGB cine; runs each case in its own fresh process (so peak RSS is that
case's own) and prints files/s, MB/s, slices/s, peak RSS and seconds per stage, beside the
floor: pydicom reading and writing the same files untouched, in the same run.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_HEADER_FACTOR = 2.0
TARGET_SLICES_PER_SECOND = 12.0
TARGET_PEAK_RSS_MIB = 500.0


def make_ct_series(folder: Path, slices: int, size: int, text_every: int) -> int:
    import cv2
    import numpy as np
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    from tests.deid.phi_corpus import Patient, ct_slice, to_bytes

    folder.mkdir(parents=True)
    total = 0
    yy, xx = np.mgrid[0:size, 0:size]
    body = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (size / 2.4) ** 2
    rng = np.random.default_rng(0)
    for index in range(slices):
        ds = ct_slice(Patient(), index, rows=size, columns=size,
                      transfer_syntax=ExplicitVRLittleEndian)
        pixels = np.where(body, 1040, 24) + rng.integers(0, 40, size=(size, size))
        if text_every and index % text_every == 0:
            mask = np.zeros((size, size), dtype=np.uint8)
            cv2.putText(mask, f"DOE^JOHN  ID 12345  SLICE {index}", (12, 28),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1)
            pixels = np.where(mask > 0, 3000, pixels)
        ds.BitsStored, ds.HighBit = 16, 15
        ds.PixelData = pixels.astype(np.uint16).tobytes()
        assert ds.SOPClassUID == CTImageStorage
        data = to_bytes(ds)
        (folder / f"ct{index:05d}.dcm").write_bytes(data)
        total += len(data)
    return total


def make_ultrasound(folder: Path, frames: int) -> int:
    import cv2
    import numpy as np

    from tests.deid.phi_corpus import Patient, to_bytes, ultrasound_cine

    folder.mkdir(parents=True)
    ds = ultrasound_cine(Patient(), frames=1, rows=480, columns=640)
    rng = np.random.default_rng(1)
    cine = rng.integers(0, 50, size=(frames, 480, 640, 3), dtype=np.uint8)
    for index in range(frames):
        cv2.putText(cine[index], "MERCY HOSP  DOE^JOHN", (10, 24), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6, (255, 255, 255), 1)
    ds.NumberOfFrames = frames
    ds.PixelData = cine.tobytes()
    del cine
    data = to_bytes(ds)
    (folder / "us.dcm").write_bytes(data)
    return len(data)


def floor(folder: Path) -> dict[str, float]:
    """pydicom reading every file (pixel bytes included) and writing it back, untouched."""
    import pydicom

    stats = {"parse": 0.0, "write": 0.0}
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        start = time.perf_counter()
        ds = pydicom.dcmread(io.BytesIO(data))
        _ = ds.PixelData
        stats["parse"] += time.perf_counter() - start
        start = time.perf_counter()
        pydicom.dcmwrite(io.BytesIO(), ds, enforce_file_format=True)
        stats["write"] += time.perf_counter() - start
    return stats


def run_case(folder: str, out: str, detect_text: bool, queue: multiprocessing.Queue) -> None:
    """One engine run in this (fresh) process; reports wall time, stages and peak RSS."""
    from scans.deid.engine import DeidKeys, DeidOptions, deidentify_tree

    if detect_text:  # load the detector before timing, as a long-lived worker would have it
        from scans.deid.text import get_detector

        get_detector()
    stats: dict[str, float] = {}
    start = time.perf_counter()
    report = deidentify_tree(folder, out, keys=DeidKeys(b"\x01" * 32),
                             options=DeidOptions(detect_text=detect_text), stats=stats)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    queue.put({"wall": wall, "stats": stats, "summary": report["summary"], "rss": peak,
               "floor": floor(Path(folder))})


def in_fresh_process(folder: Path, out: Path, detect_text: bool) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=run_case, args=(str(folder), str(out), detect_text, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def show(name: str, result: dict, size: int, units: int, unit_name: str) -> None:
    wall, stats, fl = result["wall"], result["stats"], result["floor"]
    files = sum(result["summary"].values())
    print(f"\n== {name}: {files} file(s), {size / 2**20:.1f} MiB, outcome {result['summary']}")
    print(f"   wall {wall:.2f} s | {files / wall:.2f} files/s | {size / 2**20 / wall:.1f} MB/s | "
          f"{units / wall:.2f} {unit_name}/s | peak RSS {result['rss']:.0f} MiB")
    print(f"   floor (pydicom untouched): parse {fl['parse']:.3f} s, write {fl['write']:.3f} s")
    for stage in ("parse", "identifiers", "pixels", "header", "write", "verify", "pixel_verify",
                  "save"):
        if stage in stats:
            print(f"   {stage:<13} {stats[stage]:8.3f} s  ({stats[stage] / units * 1000:7.1f} ms/"
                  f"{unit_name[:-1]})")
    header = sum(stats.get(s, 0.0) for s in ("parse", "identifiers", "header", "write", "verify"))
    base = fl["parse"] + fl["write"]
    print(f"   header stages {header:.3f} s = {header / base:.2f}x the floor "
          f"(target <= {TARGET_HEADER_FACTOR:.0f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--text-every", type=int, default=10)
    parser.add_argument("--skip-us", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="deid-bench-") as tmp:
        root = Path(tmp)
        ct_bytes = make_ct_series(root / "ct", args.slices, args.size, args.text_every)
        print(f"CT series: {args.slices} slices {args.size}x{args.size} 16-bit, text on every "
              f"{args.text_every}th slice; one worker process, {os.cpu_count()} CPU(s) present")
        header_only = in_fresh_process(root / "ct", root / "out-header", detect_text=False)
        show("CT, header only (detect_text=False)", header_only, ct_bytes, args.slices, "slices")
        full = in_fresh_process(root / "ct", root / "out-full", detect_text=True)
        show("CT, default pipeline (text detection on)", full, ct_bytes, args.slices, "slices")
        rate = args.slices / full["wall"]
        print(f"   => {rate:.1f} slices/s (target >= {TARGET_SLICES_PER_SECOND:.0f}); peak RSS "
              f"{full['rss']:.0f} MiB (target < {TARGET_PEAK_RSS_MIB:.0f} MiB at 1000 slices)")
        if not args.skip_us:
            us_bytes = make_ultrasound(root / "us", args.frames)
            us = in_fresh_process(root / "us", root / "out-us", detect_text=True)
            show("Ultrasound RGB cine, default pipeline", us, us_bytes, args.frames, "frames")


if __name__ == "__main__":
    main()
