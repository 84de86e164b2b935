"""allauth customisation, through its adapter rather than copied views."""

from allauth.account.adapter import DefaultAccountAdapter


class GatewayAccountAdapter(DefaultAccountAdapter):
    pass
