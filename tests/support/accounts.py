"""Accounts for tests: a user with a role and a verified address, an API token, TOTP."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

from accounts.models import Role, User
from accounts.roles import assign_role
from accounts.tokens import issue_token

PASSWORD = "correct horse battery staple 42"


def make_user(email: str, role: str = Role.PATIENT, password: str = PASSWORD) -> User:
    user = User.objects.create_user(email, password)
    assign_role(user, role)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(user, 'tests')}"}


def with_totp(user: User) -> User:
    TOTP.activate(user, generate_totp_secret())
    return user
