"""The vault's exceptions: one family, so callers can catch ``VaultError`` for all of them.

Messages name object ids, key ids and segment numbers only, never content.
"""


class VaultError(Exception):
    """Anything the vault refuses to do or cannot do."""


class TamperedError(VaultError):
    """Stored data failed authentication: altered, truncated, swapped, or read with the wrong key.

    Raised instead of returning any plaintext that was not authenticated.
    """


class UnknownObjectError(VaultError):
    """No object with this id: never stored, aborted, or shredded."""


class KeyNotFoundError(VaultError):
    """A master key id that the keyring does not hold."""
