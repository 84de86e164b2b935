"""MFA is mandatory for clinicians, auditors and clinic admins before they open their pages.

A signed-in user of those roles without TOTP is sent to set it up; only the account and MFA
pages themselves (and sign-out) stay reachable until then.
"""

from collections.abc import Callable
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.roles import has_mfa

# Paths a user who still has to set up MFA may open.
# The language switcher, the scripts' words and the browser's time zone work before TOTP too.
OPEN_PREFIXES = (
    "/accounts/",
    "/static/",
    "/healthz",
    "/audit/public-key.pem",
    "/i18n/",
    "/jsi18n/",
    "/account/time-zone/",
)
SUPPORTED_LANGUAGES = frozenset(code for code, _name in settings.LANGUAGES)
# Areas whose times stay in UTC whatever the reader's zone.
UTC_AREAS = ("/audit/", "/api/")


class RoleMFAMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and user.needs_mfa
            and not request.path.startswith(OPEN_PREFIXES)
            and not has_mfa(user)
        ):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {
                        "code": "mfa_required",
                        "detail": _("Set up two-factor authentication before using this account."),
                    },
                    status=403,
                )
            messages.warning(
                request,
                _("Your role needs two-factor authentication. Set up an authenticator app first."),
            )
            return redirect("mfa_activate_totp")
        return self.get_response(request)


def known_time_zone(name: str) -> ZoneInfo | None:
    """The zone of that IANA name, or None for "" and anything this system does not know."""
    if not name or name not in available_timezones():
        return None
    return ZoneInfo(name)


class AccountLocaleMiddleware:
    """A signed-in user's stored language wins over the browser's, from the first page after
    sign-in and on every device; users who never chose one get their browser's language.

    Dates and times are shown in the account's time zone, except in the audit area, which keeps
    UTC everywhere (its entries, filters and exports are compared across people and places)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.language in SUPPORTED_LANGUAGES:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        zone = None
        if user is not None and user.is_authenticated and not request.path.startswith(UTC_AREAS):
            zone = known_time_zone(user.time_zone)
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        return self.get_response(request)
