"""Users, roles, the MFA policy, API tokens and allauth's adapter. The bottom app beside the vault:
it imports none of the others, and announces role and token changes (``accounts.signals``) for the
audit log to record."""
