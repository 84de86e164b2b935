"""How long a hostile AI answer costs to render (once, in the worker, when it arrives), next to
an ordinary answer of the same size measured in the same run.

    python bench/answer_bench.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

import django

django.setup()

from scans.answers import render_markdown, sealed_answer  # noqa: E402

ORDINARY = "## What I see\n\n- a **rounded** shadow of 1.2 cm\n- no fracture\n\n" * 200
HOSTILE = {
    "16 KB of nested brackets": "[" * 8000 + "]" * 8000,
    "10,000 nested quotes": ">" * 10_000 + " deep",
    "1 MB of nested quotes (over the size limit)": "> " * 500_000,
    "16 KB of emphasis markers": "*_" * 8000,
}


def best_of(text: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        sealed_answer(text)
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    render_markdown("warm up")
    baseline = best_of(ORDINARY)
    print(f"answer render, ordinary {len(ORDINARY) // 1024} KB answer: {baseline * 1000:.1f} ms")
    for name, text in HOSTILE.items():
        took = best_of(text)
        print(f"answer render, {name}: {took * 1000:.1f} ms ({took / baseline:.1f}x ordinary)")


if __name__ == "__main__":
    main()
