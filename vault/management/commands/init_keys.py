"""Create the keys an instance needs, if they are missing (mode 0600, never overwritten).

Without options: the embedded default's local keys, where the settings place them (production
passes keys through the environment or mounted secret files; then only what is configured as a
file path and does not exist yet is created).

With ``--output DIR``: every key of a production instance, as files named for the container
secrets in compose.yaml, in ``DIR`` (created 0700), which must lie outside the source tree and
the images' build context. Run again on a folder that holds a keys backup, it adds only what is
missing (the audit log's public key, derived from its private key).
"""

import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from vault import generate_keyring_file
from vault.keys import new_key, new_signing_key_pem, public_pem_of_signing_key, write_secret_file

# File names inside --output DIR; compose.yaml mounts each as /run/secrets/<name>.
SECRET_KEY_FILE = "django-secret.key"  # noqa: S105 (a file name)
KEYRING_FILE = "vault-keyring.json"
DEID_KEY_FILE = "deid.key"
ATTESTATION_KEY_FILE = "attestation.key"
AUDIT_SIGNING_FILE = "audit-signing.pem"
AUDIT_PUBLIC_FILE = "audit-signing.pub.pem"


def write_public_key(private_path: Path, public_path: Path) -> bool:
    """Derive the audit log's public key file (for processes that only verify); not a secret,
    but written like one so the folder stays uniform."""
    if public_path.exists() or not private_path.exists():
        return False
    return write_secret_file(public_path, public_pem_of_signing_key(private_path.read_bytes()))


def create_all(folder: Path) -> list[str]:
    """Every production key in ``folder``; returns the names of the files it created."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    made = []
    if write_secret_file(folder / SECRET_KEY_FILE, secrets.token_urlsafe(64).encode()):
        made.append(SECRET_KEY_FILE)
    if not (folder / KEYRING_FILE).exists():
        generate_keyring_file(folder / KEYRING_FILE)
        made.append(KEYRING_FILE)
    for name in (DEID_KEY_FILE, ATTESTATION_KEY_FILE):
        if write_secret_file(folder / name, new_key()):
            made.append(name)
    if write_secret_file(folder / AUDIT_SIGNING_FILE, new_signing_key_pem()):
        made.append(AUDIT_SIGNING_FILE)
    if write_public_key(folder / AUDIT_SIGNING_FILE, folder / AUDIT_PUBLIC_FILE):
        made.append(AUDIT_PUBLIC_FILE)
    return made


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class Command(BaseCommand):
    help = (
        "Create missing local keys (vault keyring, de-identification, attestation, audit, Django)."
    )
    # Keys come first, before any database, cache or data folder exists.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--output",
            type=Path,
            help="write every production key into this folder (outside the source tree)",
        )

    def handle(self, *args, output: Path | None = None, **options) -> None:
        if output is not None:
            folder = output.resolve()
            if _inside(folder, Path(settings.BASE_DIR).resolve()):
                raise CommandError(
                    f"{folder} is inside the source tree (the images' build context); "
                    "keep keys outside it"
                )
            made = create_all(folder)
            self.stdout.write(
                f"Created {', '.join(made)} in {folder} (mode 0600)." if made
                else f"All keys present in {folder}."
            )
            return
        made = []
        secret_path = settings.KEYS_DIR / SECRET_KEY_FILE
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
        if write_public_key(settings.AUDIT_SIGNING_KEY_PATH, settings.AUDIT_PUBLIC_KEY_PATH):
            made.append("audit public key")
        if made:
            self.stdout.write(f"Created {', '.join(made)} in {settings.KEYS_DIR} (mode 0600).")
        else:
            self.stdout.write("All keys present.")
