"""``manage.py backup OUTPUT_DIR`` and ``manage.py backup --keys-only KEYS_OUTPUT_DIR``.

Two separate commands on purpose: the data backup is only safe to keep on ordinary storage
because the keys are not in it. See ``vault.backup`` for the restore procedure.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from vault.backup import KEYS_WARNING, BackupError, backup_data, backup_keys


class Command(BaseCommand):
    help = (
        "Back up the database and the sealed blobs into a new folder, or with --keys-only the "
        "keys (into a different folder, stored apart)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("output_dir", type=Path)
        parser.add_argument(
            "--keys-only",
            action="store_true",
            help="back up only the key files (mode 0600), never into a data backup's folder",
        )

    def handle(self, *args, output_dir: Path, keys_only: bool, **options) -> None:
        try:
            if keys_only:
                names = backup_keys(output_dir)
                self.stdout.write(f"Backed up {', '.join(names)} to {output_dir.resolve()}.")
            else:
                manifest = backup_data(output_dir)
                counts = manifest["counts"]
                self.stdout.write(
                    f"Backed up the {manifest['database']['engine']} database and "
                    f"{counts['blobs']} blobs ({counts['scans']} scans) to {output_dir.resolve()}."
                )
                if manifest["missing_blobs"]:
                    self.stderr.write(
                        f"{len(manifest['missing_blobs'])} objects were shredded while the "
                        "backup ran; they are listed in manifest.json and will not restore."
                    )
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stderr.write(self.style.WARNING(KEYS_WARNING))
