"""Sign the audit log's current tree head; run periodically so a cut tail cannot go unnoticed."""

from django.core.management.base import BaseCommand

from audit.log import sign_head


class Command(BaseCommand):
    help = "Sign and store a tree head (size, root, time) over the audit log now."

    def handle(self, *args: object, **options: object) -> None:
        head = sign_head()
        self.stdout.write(
            f"Signed head: size {head.tree_size} root {head.root_hash} "
            f"at {head.signed_at.isoformat()} key {head.key_id}"
        )
