"""Sign-in events for the audit log: the pseudonym of who signed in, never an email address."""

from __future__ import annotations

from scans.audit.log import append as audit


def signed_in(sender, request, user, **kwargs) -> None:
    audit("auth.sign_in", actor=user.pseudonym, object_type="user", object_id=user.pseudonym)


def sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    # The attempted login name is not recorded: it may be an email address or a typo of one.
    audit("auth.sign_in_failed", actor="system")
