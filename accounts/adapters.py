"""allauth customisation, through its adapter rather than copied views."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings

from accounts.erasure import end_sessions
from accounts.models import Role
from accounts.roles import assign_role
from accounts.tokens import revoke_all_tokens


@dataclass(frozen=True)
class PublicSite:
    """What allauth's mail templates call ``current_site``, from ``PUBLIC_URL``."""

    name: str
    domain: str


def public_url(location: str) -> str:
    """``location`` (a path, or an address built from the request) on ``PUBLIC_URL``.

    Mail links never take host or port from the request: a forged ``Host`` header must not put
    an attacker's address in a mail the gateway sends.
    """
    parts = urlsplit(location)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return settings.PUBLIC_URL + path


class GatewayAccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        """Whoever signs up on the public page is a patient; admins give the other roles."""
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            assign_role(user, Role.PATIENT)
        return user

    def set_password(self, user, password: str) -> None:
        """A new password (changed or reset) ends every other way into the account: its API
        tokens and its other sessions. The session that changed it is kept by allauth."""
        super().set_password(user, password)
        revoke_all_tokens(user)
        current = getattr(self.request, "session", None)
        current_key = getattr(current, "session_key", None)
        end_sessions(user, keep=current_key)

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        """Every link in allauth's mails from ``PUBLIC_URL``, never from the request."""
        context = {
            key: public_url(value)
            if key.endswith("_url") and isinstance(value, str) and value
            else value
            for key, value in context.items()
        }
        context["current_site"] = PublicSite(
            name=settings.ACCOUNT_EMAIL_SUBJECT_PREFIX.strip(" []") or "Scan gateway",
            domain=urlsplit(settings.PUBLIC_URL).netloc,
        )
        super().send_mail(template_prefix, email, context)

    def get_reset_password_from_key_url(self, key: str) -> str:
        return public_url(super().get_reset_password_from_key_url(key))

    def get_email_confirmation_url(self, request, emailconfirmation) -> str:
        return public_url(super().get_email_confirmation_url(request, emailconfirmation))
