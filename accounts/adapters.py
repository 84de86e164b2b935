"""allauth customisation, through its adapter rather than copied views."""

from allauth.account.adapter import DefaultAccountAdapter
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
