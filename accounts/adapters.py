"""allauth customisation, through its adapter rather than copied views."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.authentication import get_authentication_records
from allauth.core import context as allauth_context
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext

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


def user_display(user) -> str:
    """ACCOUNT_USER_DISPLAY: people are greeted by their address, never by their pseudonym
    (which exists for the audit log, not for the person it stands for)."""
    return user.email or gettext("you")


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
        context["site_name"] = settings.SITE_NAME
        context["public_url"] = settings.PUBLIC_URL
        context["current_site"] = PublicSite(
            name=settings.SITE_NAME,
            domain=urlsplit(settings.PUBLIC_URL).netloc,
        )
        super().send_mail(template_prefix, email, context)

    def get_reset_password_from_key_url(self, key: str) -> str:
        return public_url(super().get_reset_password_from_key_url(key))

    def get_email_confirmation_url(self, request, emailconfirmation) -> str:
        return public_url(super().get_email_confirmation_url(request, emailconfirmation))

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        """Not during the first two-factor set-up of someone who has just signed in.

        Staff are sent to set up two-factor authentication straight after signing in; asking
        for the password they typed seconds ago proves nothing more. That covers activating the
        first authenticator and reading the recovery codes it came with. Any other sensitive
        step, and these once the sign-in is older than the re-authentication window, still ask.
        """
        request = allauth_context.request
        if app == "allauth.mfa" and request is not None and _first_set_up(request):
            return False
        return super().is_reauthentication_required(app=app, **kwargs)


def _last_password_sign_in(request) -> float | None:
    records = [
        record
        for record in get_authentication_records(request, request.user)
        if record.get("method") == "password"
    ]
    return records[-1]["at"] if records else None


def _first_set_up(request) -> bool:
    """Whether this request is the first two-factor set-up, right after a password sign-in."""
    if not request.user.is_authenticated:
        return False
    signed_in_at = _last_password_sign_in(request)
    window = account_settings.REAUTHENTICATION_TIMEOUT
    if signed_in_at is None or time.time() - signed_in_at >= window:
        return False
    factors = Authenticator.objects.filter(user=request.user)
    if request.path == reverse("mfa_activate_totp"):
        return not factors.exists()
    if request.path == reverse("mfa_view_recovery_codes"):
        # Codes made with the first authenticator, after this sign-in: nothing older to protect.
        first = factors.filter(type=Authenticator.Type.TOTP).order_by("created_at").first()
        return first is not None and first.created_at.timestamp() >= signed_in_at
    return False
