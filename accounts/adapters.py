"""allauth customisation, through its adapter rather than copied views."""

from allauth.account.adapter import DefaultAccountAdapter

from accounts.models import Role
from accounts.roles import assign_role


class GatewayAccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        """Whoever signs up on the public page is a patient; admins give the other roles."""
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            assign_role(user, Role.PATIENT)
        return user
