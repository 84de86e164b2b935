"""The real-world set (pydicom's and pydicom-data's sample images) through the gateway and
through dicom-anonymizer, in the same run: how much is released, how much leaks, how valid it is.

    .venv/bin/python bench/realworld_bench.py [--header-only]

Printed for each: images decodable, released, quarantined or failed by reason, outputs in which
an original identifying value or UID is still found (tests/support/realworld.py's own search,
not the gateway's verifier), outputs with validator (dciodvfy) errors their original did not
have. dicom-anonymizer (Basic Profile rules, private tags deleted) cleans headers only and has
no release decision: every file it writes counts as released.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def gateway(data: bytes, detect_text: bool) -> tuple[bytes | None, str]:
    from scans.deid.engine import DeidKeys, DeidOptions, deidentify_bytes

    result = deidentify_bytes(data, keys=DeidKeys(b"\x5a" * 32),
                              options=DeidOptions(detect_text=detect_text))
    return result.output, result.reason


def dicom_anonymizer(data: bytes) -> tuple[bytes | None, str]:
    import pydicom
    from dicomanonymizer import anonymize_dataset

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        anonymize_dataset(ds, delete_private_tags=True)
        buffer = io.BytesIO()
        ds.save_as(buffer)
    except Exception as exc:
        return None, f"failed ({type(exc).__name__})"
    return buffer.getvalue(), ""


def measure(name: str, clean, samples, validate: bool) -> dict[str, int]:
    from tests.support.realworld import dciodvfy, leaked, new_validator_errors

    started = time.perf_counter()
    reasons: Counter[str] = Counter()
    released = leaks = invalid = 0
    for sample in samples:
        data = sample.read_bytes()
        output, reason = clean(data)
        if output is None:
            reasons[reason.split(";")[0][:90]] += 1
            continue
        released += 1
        leaks += bool(leaked(data, output))
        if validate and dciodvfy() is not None:
            invalid += bool(new_validator_errors(data, output))
    total = len(samples)
    print(f"\n{name}: {released}/{total} decodable images released "
          f"({100 * released / total:.1f} %), {leaks} with an original identifier found, "
          f"{invalid} with new dciodvfy errors ({time.perf_counter() - started:.0f} s)")
    for reason, count in reasons.most_common():
        print(f"   not released ({count}): {reason}")
    return {"released": released, "leaks": leaks, "invalid": invalid}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--header-only", action="store_true",
                        help="the gateway without text detection")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    from tests.support.realworld import dciodvfy, decodable_images, sample_files

    samples = decodable_images()
    print(f"Real-world set: {len(sample_files())} sample files of pydicom and pydicom-data, "
          f"{len(samples)} decodable images; dciodvfy "
          f"{'present' if dciodvfy() else 'MISSING (apt-get install dicom3tools)'}")
    label = "gateway, header only" if args.header_only else "gateway, default pipeline"
    measure(label, lambda data: gateway(data, not args.header_only), samples, validate=True)
    measure("dicom-anonymizer 2 (same files)", dicom_anonymizer, samples, validate=True)


if __name__ == "__main__":
    main()
