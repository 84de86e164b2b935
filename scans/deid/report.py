"""The JSON report of a de-identification run: what happened to each file, never a value.

A report lists outcomes, reasons, categories of removed/replaced attributes, tag/keyword/action
rows and redacted regions. Original values never appear. Input paths do appear in the
operator's local tree report (see engine.deidentify_tree); that report stays with the operator.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

REPORT_VERSION = 1
OUTCOMES = ("clean", "quarantined", "rejected", "skipped", "not_image")


def tree_report(entries: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    """The whole-run report: the options used, counts per outcome, one entry per input."""
    counts = Counter(entry["outcome"] for entry in entries)
    return {
        "version": REPORT_VERSION,
        "options": options,
        "summary": {outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
        "files": entries,
    }


def all_clean(report: dict[str, Any]) -> bool:
    """True when no input was quarantined or rejected (skipped files and non-images do not
    count)."""
    summary = report["summary"]
    return summary["quarantined"] == 0 and summary["rejected"] == 0


def write_report(report: dict[str, Any], path: str | Path) -> None:
    """Write the report as stable, sorted JSON: the same run gives the same bytes."""
    Path(path).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


# Added to the system prompt whenever an image sent has a redaction (scans.sending): a black
# rectangle is our redaction, and a model that does not know it may describe it as a finding.
REDACTION_NOTE = (
    "Solid black rectangles in these images are privacy redactions made by the sender's "
    "de-identification software, not findings: do not interpret them."
)
