"""Check the whole audit log against its hashes and signed heads; exit 1 if anything is off."""

from django.core.management.base import BaseCommand

from audit.log import verify_log


class Command(BaseCommand):
    help = "Recompute every audit hash and signed head; print OK or the first broken entry."

    def handle(self, *args: object, **options: object) -> None:
        verdict = verify_log()
        if verdict.ok:
            head = verdict.head
            signed = "no signed head yet"
            if head:
                signed = (
                    f"head size {head['tree_size']} root {head['root_hash']} "
                    f"signed at {head['signed_at']}"
                )
            self.stdout.write(f"OK: {verdict.entries} entries, {signed}")
            return
        where = f" at entry {verdict.first_bad}" if verdict.first_bad is not None else ""
        self.stdout.write(f"BROKEN{where}: {verdict.reason}")
        raise SystemExit(1)
