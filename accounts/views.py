"""The account page (API tokens, links to security settings) and the role landing pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.roles import has_mfa, role_required, signed_in_user
from accounts.tokens import issue_token, revoke_token


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
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return _account_page(request)


@require_POST
@login_required
def create_token(request: HttpRequest) -> HttpResponse:
    name = (request.POST.get("name") or "").strip()[:80] or "API token"
    # Shown once, in this response only; from now on only its hash exists anywhere.
    return _account_page(request, new_token=issue_token(signed_in_user(request), name))


@require_POST
@login_required
def delete_token(request: HttpRequest, token_id: int) -> HttpResponse:
    if revoke_token(signed_in_user(request), token_id):
        messages.success(request, "The token was revoked.")
    return redirect("account")


@role_required(Role.CLINICIAN)
def clinician(request: HttpRequest) -> HttpResponse:
    return render(request, "roles/clinician.html")
