"""Create the local keys the embedded default needs, if they are missing (mode 0600).

Production passes keys through the environment or mounted secret files instead; this command
then only creates what is configured as a file path and does not exist yet.
"""

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand

from vault import generate_keyring_file
from vault.keys import new_key, new_signing_key_pem, write_secret_file


class Command(BaseCommand):
    help = (
        "Create missing local keys (vault keyring, de-identification, attestation, audit, Django)."
    )

    def handle(self, *args, **options) -> None:
        made = []
        secret_path = settings.KEYS_DIR / "django-secret.key"
        if not settings.PRODUCTION and write_secret_file(
            secret_path, secrets.token_urlsafe(64).encode()
        ):
            made.append("Django secret key")
        if not settings.VAULT_KEYRING and not settings.VAULT_KEYRING_PATH.exists():
            generate_keyring_file(settings.VAULT_KEYRING_PATH)
            made.append("vault keyring")
        if write_secret_file(settings.DEID_KEY_PATH, new_key()):
            made.append("de-identification key")
        if write_secret_file(settings.ATTESTATION_KEY_PATH, new_key()):
            made.append("attestation key")
        if not settings.AUDIT_SIGNING_KEY and not settings.AUDIT_SIGNING_KEY_PATH.exists():
            write_secret_file(settings.AUDIT_SIGNING_KEY_PATH, new_signing_key_pem())
            made.append("audit signing key")
        if made:
            self.stdout.write(f"Created {', '.join(made)} in {settings.KEYS_DIR} (mode 0600).")
        else:
            self.stdout.write("All keys present.")
