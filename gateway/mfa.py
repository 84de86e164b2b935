"""allauth's MFA adapter: TOTP secrets and recovery-code seeds sealed with the vault's keyring.

allauth keeps both in ``Authenticator.data`` and offers ``encrypt``/``decrypt`` hooks for this.
Sealed (``vault.sealing``), a copy of the database or of the data backup yields no second factor:
the keyring is backed up apart ("keys backup") and held only by the processes that need it.
Values written before sealing existed are read as they are; the accounts migration
``0003_hardening_sealed_sessions_mfa`` seals them where the keyring is present.
"""

from __future__ import annotations

import uuid

from allauth.mfa.adapter import DefaultMFAAdapter

from vault.sealing import is_sealed, open_text, seal_text

# The "object" the data keys are wrapped for: binds them to this use of the keyring.
MFA_SECRETS = uuid.UUID("6d0f3c1e-8a51-4f7e-9d2b-4b8f5e3a7c10")


class SealingMFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return text if is_sealed(text) else seal_text(text, MFA_SECRETS)

    def decrypt(self, encrypted_text: str) -> str:
        if not is_sealed(encrypted_text):
            return encrypted_text
        return open_text(encrypted_text, MFA_SECRETS)
