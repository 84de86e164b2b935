"""The account page (API tokens, links to security settings) and the role landing pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.roles import has_mfa, role_required
from accounts.tokens import issue_token, revoke_token


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "home.html")
    landing = {
        Role.PATIENT: "scans:list",
        Role.CLINICIAN: "roles:clinician",
        Role.AUDITOR: "audit:index",
        Role.CLINIC_ADMIN: "roles:clinic",
    }
    return redirect(landing[request.user.role])


@login_required
def account(request: HttpRequest) -> HttpResponse:
    new_token = request.session.pop("new_api_token", None)
    return render(request, "accounts/account.html", {
        "tokens": request.user.api_tokens.order_by("-created_at"),
        "new_token": new_token,
        "has_mfa": has_mfa(request.user),
    })


@require_POST
@login_required
def create_token(request: HttpRequest) -> HttpResponse:
    name = (request.POST.get("name") or "").strip()[:80] or "API token"
    # Shown once on the next page view, then only its hash remains.
    request.session["new_api_token"] = issue_token(request.user, name)
    return redirect("account")


@require_POST
@login_required
def delete_token(request: HttpRequest, token_id: int) -> HttpResponse:
    if revoke_token(request.user, token_id):
        messages.success(request, "The token was revoked.")
    return redirect("account")


@role_required(Role.CLINIC_ADMIN)
def clinic(request: HttpRequest) -> HttpResponse:
    return render(request, "roles/clinic.html")


@role_required(Role.CLINICIAN)
def clinician(request: HttpRequest) -> HttpResponse:
    return render(request, "roles/clinician.html")
