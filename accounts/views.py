"""The account page (API tokens, links to security settings) and the role landing pages."""

from __future__ import annotations

from zoneinfo import available_timezones

from allauth.account.authentication import get_authentication_records
from allauth.account.decorators import reauthentication_required
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from accounts.middleware import SUPPORTED_LANGUAGES, known_time_zone
from accounts.models import Role, TokenScope, User
from accounts.roles import has_mfa, role_required, signed_in_user
from accounts.tokens import issue_token, revoke_token, scopes_allowed


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "home.html")
    landing = {
        Role.PATIENT: "scans:list",
        Role.CLINICIAN: "roles:clinician",
        Role.AUDITOR: "audit:index",
        Role.CLINIC_ADMIN: "clinic:index",
    }
    return redirect(landing[Role(signed_in_user(request).role)])


def _account_page(request: HttpRequest, new_token: str | None = None) -> HttpResponse:
    response = render(
        request,
        "accounts/account.html",
        {
            "tokens": signed_in_user(request).api_tokens.order_by("-created_at"),
            "new_token": new_token,
            "has_mfa": has_mfa(signed_in_user(request)),
            "token_days": settings.API_TOKEN_DAYS,
            "time_zones": sorted(available_timezones()),
            "scopes": [
                (scope, TokenScope(scope).label)
                for scope in scopes_allowed(signed_in_user(request))
            ],
        },
    )
    response["Cache-Control"] = "no-store"
    return response


def passed_two_factor(request: HttpRequest) -> bool:
    """Whether this session was signed in (or re-authenticated) with a second factor."""
    return any(record.get("method") == "mfa" for record in get_authentication_records(request))


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return _account_page(request)


@require_POST
@login_required
@reauthentication_required
def create_token(request: HttpRequest) -> HttpResponse:
    """A new token, after the password (and second factor, where set up) was just given again.

    Staff tokens reach other people's data or the audit log: only a session that passed two-factor
    may create one, so a stolen password alone never yields a token.
    """
    user = signed_in_user(request)
    if (user.needs_mfa or has_mfa(user)) and not passed_two_factor(request):
        messages.error(request, _("Sign in with your authenticator app before creating a token."))
        return redirect("account")
    name = (request.POST.get("name") or "").strip()[:80] or "API token"
    allowed = scopes_allowed(user)
    chosen = [scope for scope in request.POST.getlist("scopes") if scope in allowed]
    if not chosen:
        messages.error(request, _("Choose at least one thing the token may do."))
        return redirect("account")
    # Shown once, in this response only; from now on only its hash exists anywhere.
    return _account_page(request, new_token=issue_token(user, name, chosen))


@require_POST
@login_required
@reauthentication_required
def delete_token(request: HttpRequest, token_id: int) -> HttpResponse:
    if revoke_token(signed_in_user(request), token_id):
        messages.success(request, _("The token was revoked."))
    return redirect("account")


@role_required(Role.CLINICIAN)
def clinician(request: HttpRequest) -> HttpResponse:
    return render(request, "roles/clinician.html")


@require_POST
def choose_language(request: HttpRequest) -> HttpResponse:
    """The language switcher: Django's ``set_language`` (cookie, safe redirect back), and for a
    signed-in user the choice is also kept on the account, so it follows them to every device."""
    response = set_language(request)
    code = request.POST.get("language", "")
    if request.user.is_authenticated and code in SUPPORTED_LANGUAGES:
        User.objects.filter(pk=request.user.pk).update(language=code)
    return response


@login_required
@require_POST
def set_time_zone(request: HttpRequest) -> HttpResponse:
    """Keep the reader's time zone on the account: posted once by the browser (Intl API) when
    none is stored yet, or chosen on the account page. 204 for the browser, a redirect for the
    form; an unknown zone changes nothing."""
    name = request.POST.get("time_zone", "")
    if known_time_zone(name) is None:
        if request.POST.get("detected"):
            return HttpResponse(status=400)
        messages.error(request, _("Choose a time zone from the list."))
        return redirect("account")
    User.objects.filter(pk=signed_in_user(request).pk).update(time_zone=name)
    if request.POST.get("detected"):
        return HttpResponse(status=204)
    messages.success(request, _("Times are now shown in %(zone)s.") % {"zone": name})
    return redirect("account")
