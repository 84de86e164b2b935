from django.apps import AppConfig


class ScansConfig(AppConfig):
    name = "scans"
    verbose_name = "Scans"

    def ready(self) -> None:
        from scans.models import Scan, ScanFile
        from vault.backup import count_in_backups

        # A backup's manifest counts a study's rows; restoring over an instance with scans is
        # refused unless forced.
        count_in_backups("scans", Scan, marks_in_use=True)
        count_in_backups("scan_files", ScanFile)
