"""Check an audit receipt offline: needs only the receipt and the log's public key, no database."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from audit import merkle
from audit.log import public_key_pem


class Command(BaseCommand):
    help = "Verify an audit receipt (JSON) against the log's Ed25519 public key."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("receipt", type=Path)
        parser.add_argument(
            "--public-key",
            type=Path,
            help="PEM file of the log's public key; default: derived from this gateway's key",
        )

    def handle(
        self, *args: object, receipt: Path, public_key: Path | None, **options: object
    ) -> None:
        try:
            data = json.loads(receipt.read_text(encoding="utf-8"))
            if public_key is not None:
                key = merkle.load_public_key_pem(public_key.read_bytes())
            else:
                key = merkle.load_public_key_pem(public_key_pem().encode("ascii"))
        except (OSError, ValueError) as exc:
            self.stdout.write(f"FAILED: cannot read input ({type(exc).__name__})")
            raise SystemExit(1) from exc
        verdict = (
            merkle.verify_receipt(data, key)
            if isinstance(data, dict)
            else merkle.ReceiptVerdict(False, "receipt is malformed")
        )
        self.stdout.write(("OK: " if verdict.ok else "FAILED: ") + verdict.reason)
        if not verdict.ok:
            raise SystemExit(1)
