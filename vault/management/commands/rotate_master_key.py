"""Rotate the vault's master key: re-wrap every data key under a new (or named) master key.

Only the wrapped data keys change; no object's content is re-encrypted. Safe to run again: keys
already under the target are skipped. Once it reports that nothing is left under an old key, that
key can be removed from the keyring.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from vault import Keyring, VaultError, add_master_key, load_keyring
from vault.keystore import rewrap_data_keys


class Command(BaseCommand):
    help = (
        "Re-wrap every vault data key under a master key. Without --key-id, a new key is added to "
        "the keyring file and made primary first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--key-id", help="re-wrap under this master key, which must already be in the keyring"
        )
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        key_id: str | None = options["key_id"]
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            keyring = self._target_keyring(key_id)
            target = key_id or keyring.primary
            result = rewrap_data_keys(keyring, target, options["batch_size"])
        except VaultError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Re-wrapped {result.rewrapped} data keys under master key {target}; "
            f"{result.already_under_target} were already under it."
        )
        if target != keyring.primary:
            self.stderr.write(
                f"Note: {target} is not the keyring's primary ({keyring.primary}); "
                "new objects are still wrapped under the primary."
            )

    def _target_keyring(self, key_id: str | None) -> Keyring:
        from_env = bool(settings.VAULT_KEYRING.strip())
        if key_id is None:
            if from_env:
                raise CommandError(
                    "The keyring comes from the VAULT_KEYRING setting, which this command cannot "
                    "edit. Add a new key to VAULT_KEYRING (and make it primary), restart the "
                    "gateway, then run: manage.py rotate_master_key --key-id <new key id>"
                )
            new_kid = add_master_key(settings.VAULT_KEYRING_PATH)
            self.stdout.write(
                f"Added master key {new_kid} to {settings.VAULT_KEYRING_PATH} as primary."
            )
        keyring = load_keyring()
        if key_id is not None and key_id not in keyring:
            raise CommandError(f"Master key {key_id} is not in the keyring.")
        return keyring
