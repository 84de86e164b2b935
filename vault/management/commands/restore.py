"""``manage.py restore BACKUP_DIR --keys KEYS_DIR``: bring a backup back into an empty instance.

See ``vault.backup`` for the whole procedure and what is checked before anything is written.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from vault.backup import BackupError, restore


class Command(BaseCommand):
    help = "Restore a data backup and its keys backup into this (empty) instance."

    def add_arguments(self, parser) -> None:
        parser.add_argument("backup_dir", type=Path)
        keys = parser.add_mutually_exclusive_group(required=True)
        keys.add_argument("--keys", type=Path, dest="keys_dir", help="the keys backup folder")
        keys.add_argument(
            "--without-keys",
            action="store_true",
            help="the keys are already deployed (e.g. from a secret manager); restore data only",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="restore into a non-empty instance: replaces its database, adds the blobs",
        )

    def handle(
        self, *args, backup_dir: Path, keys_dir: Path | None, force: bool, **options
    ) -> None:
        try:
            result = restore(backup_dir, keys_dir, force=force)
        except BackupError as error:
            raise CommandError(str(error)) from error
        counts = result.manifest["counts"]
        self.stdout.write(
            f"Restored the database ({counts['scans']} scans, {counts['vault_objects']} vault "
            f"objects) and {result.blobs} blobs; wrote {len(result.keys_written)} key files."
        )
        self.stdout.write("Next: manage.py migrate, then start the services.")
