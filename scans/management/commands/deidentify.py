"""``manage.py deidentify INPUT OUTPUT_DIR``: de-identify local files with the gateway's engine.

A thin shell over ``scans.deid.engine.deidentify_tree``. Exit status: 0 when every image came
out clean, 1 when any was quarantined or rejected, 2 on usage errors (bad arguments, missing
or unsafe key file, non-empty output folder).
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from scans.deid.engine import DeidKeys, DeidOptions, deidentify_tree
from scans.deid.report import all_clean, write_report

USAGE_ERROR = 2
NOT_ALL_CLEAN = 1


class Command(BaseCommand):
    help = "De-identify a DICOM file, folder or zip into OUTPUT_DIR and report what was done."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", help="a file, a folder (searched recursively) or a zip")
        parser.add_argument("output_dir", help="an empty or new folder for the cleaned files")
        parser.add_argument("--report", help="write the JSON report here (keep it private: "
                            "it lists your input paths)")
        parser.add_argument("--retain-dates", action="store_true",
                            help="keep dates shifted by one secret per-patient offset (113107)")
        parser.add_argument("--clean-descriptors", action="store_true",
                            help="keep free-text descriptions after redaction (113105)")
        parser.add_argument("--exempt-modality", action="append", default=[], metavar="MOD",
                            help="do not black out text on this modality (checked instead)")
        parser.add_argument("--key-file", help="32-byte key file (default: DEID_KEY_PATH)")

    def handle(self, *args: Any, **options: Any) -> None:
        keys = DeidKeys(_read_key(options["key_file"]))
        deid_options = DeidOptions(
            retain_dates=options["retain_dates"],
            clean_descriptors=options["clean_descriptors"],
            exempt_modalities=frozenset(m.upper() for m in options["exempt_modality"]),
        )
        report_path = Path(options["report"]).resolve() if options["report"] else None
        output_dir = Path(options["output_dir"]).resolve()
        if report_path is not None and output_dir in report_path.parents:
            raise CommandError("the report must not be written inside OUTPUT_DIR",
                               returncode=USAGE_ERROR)
        try:
            report = deidentify_tree(options["input"], output_dir, keys=keys, options=deid_options)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from exc
        if report_path is not None:
            write_report(report, report_path)
        summary = report["summary"]
        self.stdout.write(", ".join(f"{count} {outcome}" for outcome, count in summary.items()))
        if not all_clean(report):
            raise CommandError("some files were quarantined or rejected; see the report",
                               returncode=NOT_ALL_CLEAN)


def _read_key(path_option: str | None) -> bytes:
    """The raw 32-byte key, refusing a missing, malformed or group/world-readable file."""
    # Not a second default: a settings module without DEID_KEY_PATH (the command also runs
    # against bare settings) has no key, and is told so below.
    path = path_option or getattr(settings, "DEID_KEY_PATH", None)
    if not path:
        raise CommandError("no key: pass --key-file or set DEID_KEY_PATH in the settings",
                           returncode=USAGE_ERROR)
    key_path = Path(path)
    try:
        mode = key_path.stat().st_mode
        secret = key_path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read the key file: {exc.strerror}",
                           returncode=USAGE_ERROR) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CommandError("the key file must be private (chmod 600)", returncode=USAGE_ERROR)
    if len(secret) != 32:
        raise CommandError("the key file must hold exactly 32 bytes", returncode=USAGE_ERROR)
    return secret
