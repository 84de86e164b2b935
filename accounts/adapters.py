"""allauth customisation, through its adapter rather than copied views."""

import time

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.authentication import get_authentication_records
from allauth.core import context
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.urls import reverse

from accounts.models import Role
from accounts.roles import assign_role


def user_display(user) -> str:
    """ACCOUNT_USER_DISPLAY: people are greeted by their address, never by their pseudonym
    (which exists for the audit log, not for the person it stands for)."""
    return user.email or "you"


def public_link(path: str) -> str:
    """Links in e-mails point at PUBLIC_URL, not at whatever host and port a request came in on."""
    return settings.PUBLIC_URL.rstrip("/") + path


class GatewayAccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix, email, context):
        """Every e-mail names the site (SITE_NAME) and its address (PUBLIC_URL)."""
        context = {**context, "site_name": settings.SITE_NAME, "public_url": settings.PUBLIC_URL}
        return super().send_mail(template_prefix, email, context)

    def get_email_confirmation_url(self, request, emailconfirmation):
        return public_link(reverse("account_confirm_email", args=[emailconfirmation.key]))

    def get_reset_password_from_key_url(self, key):
        path = super().get_reset_password_from_key_url(key)
        return public_link("/" + path.split("://", 1)[-1].split("/", 1)[-1])

    def save_user(self, request, user, form, commit=True):
        """Whoever signs up on the public page is a patient; admins give the other roles."""
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            assign_role(user, Role.PATIENT)
        return user

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        """Not during the first two-factor set-up of someone who has just signed in.

        Staff are sent to set up two-factor authentication straight after signing in; asking
        for the password they typed seconds ago proves nothing more. That covers activating the
        first authenticator and reading the recovery codes it came with. Any other sensitive
        step, and these once the sign-in is older than the re-authentication window, still ask.
        """
        request = context.request
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
