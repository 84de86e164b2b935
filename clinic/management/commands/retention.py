"""``manage.py retention [--dry-run] [--verbose]``: destroy what the retention policy says is due.

With ``--dry-run`` nothing changes: it prints what would go, per rule, as counts (and with
``--verbose`` the scan or answer ids and their vault object ids). Without it, the same is
destroyed and recorded in the audit log with the actor "cli".
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from clinic import retention


class Command(BaseCommand):
    help = "Apply the retention policy now (or show what it would destroy with --dry-run)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Only show what would be destroyed."
        )
        parser.add_argument(
            "--verbose", action="store_true", help="Also list the ids of what would go."
        )

    def handle(self, *args: Any, dry_run: bool, verbose: bool, **options: Any) -> None:
        now = timezone.now()
        plan = retention.plan(now)
        if dry_run:
            self.stdout.write(f"Dry run at {now:%Y-%m-%d %H:%M:%S} UTC; nothing was changed.")
            for batch in plan.batches:
                self.stdout.write(
                    f"{batch.category}: {len(batch.targets)} {batch.target_type}(s), "
                    f"{batch.object_count} object(s), older than {batch.cutoff:%Y-%m-%d %H:%M}"
                )
                if verbose:
                    for target, objects in batch.targets.items():
                        listed = " ".join(str(o) for o in objects) or "-"
                        self.stdout.write(f"  {batch.target_type} {target}: {listed}")
            if plan.busy:
                self.stdout.write(f"busy, left for a later run: {len(plan.busy)} scan(s)")
                if verbose:
                    for scan_id in plan.busy:
                        self.stdout.write(f"  scan {scan_id}")
            return
        report = retention.apply(now, actor="cli")
        for category in retention.CATEGORIES:
            done = report.targets.get(category, [])
            self.stdout.write(
                f"{category}: {len(done)} done, {report.shredded.get(category, 0)} object(s) "
                "shredded"
            )
            if verbose:
                for target in done:
                    self.stdout.write(f"  {target}")
        if report.skipped:
            self.stdout.write(f"skipped (busy): {len(report.skipped)}")
