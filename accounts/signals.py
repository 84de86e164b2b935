"""What the accounts app announces, so the audit log can record it.

Accounts sit below the audit log: they cannot import it, so they say what happened and
``audit.hooks`` (connected in ``AuditConfig.ready``) writes the entry. Each signal is sent
synchronously inside the caller's transaction, so the entry commits or rolls back with the change.
"""

from django.dispatch import Signal

# user, previous (role before, "" for a new account), role, actor (a pseudonym or "system")
role_assigned = Signal()
# user, token (the ApiToken row; never its clear value)
token_issued = Signal()
# user, token_id
token_revoked = Signal()
