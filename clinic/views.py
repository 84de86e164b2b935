"""The clinic admin's pages: people and roles, retention, health (AI endpoints: ``forwarding``).

Only clinic admins get in (``role_required``; the MFA middleware has already insisted on a
second factor). Views validate a form and call one service function; the service writes the
audit entry. Email addresses appear on one page only, a staff account's own detail page: admins
invite and identify staff by address, but have no need to browse patients' addresses (a patient
who asks for help can be found by exact address with the lookup form).
"""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.contrib.auth import login
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Role, User
from accounts.roles import has_mfa, role_required, signed_in_user
from clinic import health, invitations, people, retention
from clinic.forms import (
    AcceptInvitationForm,
    FindUserForm,
    InviteForm,
    RetentionPolicyForm,
    RoleForm,
)
from scans.refusals import flash_refusal

admin_only = role_required(Role.CLINIC_ADMIN)
USERS_PER_PAGE = 50


@require_GET
@admin_only
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "clinic/index.html", {"health": health.snapshot()})


# --- People -------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@admin_only
def users(request: HttpRequest) -> HttpResponse:
    # The lookup is a POST: an email address in a URL would end up in proxy logs and history.
    find = FindUserForm(request.POST or None)
    if find.is_valid():
        found = User.objects.filter(email__iexact=find.cleaned_data["email"]).first()
        if found is not None:
            people.reveal_identity(found, admin=signed_in_user(request), how="find_by_email")
            return redirect("clinic:user", pseudonym=found.pseudonym)
        messages.info(request, _("No account has that email address."))
    role = request.GET.get("role", "")
    listed = User.objects.order_by("role", "pseudonym")
    if role in Role.values:
        listed = listed.filter(role=role)
    page = Paginator(listed, USERS_PER_PAGE).get_page(request.GET.get("page"))
    with_mfa = set(
        Authenticator.objects.filter(
            user__in=page.object_list, type=Authenticator.Type.TOTP
        ).values_list("user_id", flat=True)
    )
    return render(
        request,
        "clinic/users.html",
        {
            "page": page,
            "rows": [
                (user, user.pk in with_mfa, people.is_erased(user)) for user in page.object_list
            ],
            "roles": Role.choices,
            "role": role,
            "find": FindUserForm(),
        },
    )


def _account(pseudonym: str) -> User:
    return get_object_or_404(User, pseudonym=pseudonym)


@require_GET
@admin_only
def user_detail(request: HttpRequest, pseudonym: str) -> HttpResponse:
    user = _account(pseudonym)
    show_email = user.role != Role.PATIENT and not people.is_erased(user)
    if show_email:
        people.reveal_identity(user, admin=signed_in_user(request), how="account_page")
    return render(
        request,
        "clinic/user_detail.html",
        {
            "account": user,
            "show_email": show_email,
            "erased": people.is_erased(user),
            "has_mfa": has_mfa(user),
            "role_form": RoleForm(initial={"role": user.role}),
            "is_self": user.pk == request.user.pk,
        },
    )


@require_http_methods(["GET", "POST"])
@admin_only
def invite(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = people.invite_user(
            form.cleaned_data["email"], form.cleaned_data["role"], admin=signed_in_user(request)
        )
        messages.success(request, _("Invitation sent: a link to set a password is on its way."))
        return redirect("clinic:user", pseudonym=user.pseudonym)
    return render(request, "clinic/invite.html", {"form": form})


def _confirm(
    request: HttpRequest,
    user: User,
    *,
    title: str,
    explanation: str,
    action: str,
    button: str,
    fields: dict[str, str] | None = None,
) -> HttpResponse:
    """A page that says what is about to happen and asks once more: these actions sign people
    out or lock them out, and a single mis-click must not do that."""
    return render(
        request,
        "clinic/confirm.html",
        {
            "account": user,
            "title": title,
            "explanation": explanation,
            "action": reverse(action, args=[user.pseudonym]),
            "button": button,
            "fields": fields or {},
        },
    )


@require_POST
@admin_only
def change_role(request: HttpRequest, pseudonym: str) -> HttpResponse:
    user = _account(pseudonym)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the roles."))
        return redirect("clinic:user", pseudonym=user.pseudonym)
    role = form.cleaned_data["role"]
    if request.POST.get("confirmed") != "yes" and role != user.role:
        return _confirm(
            request,
            user,
            title=_("Change this account's role?"),
            explanation=_(
                "%(pseudonym)s will become %(new_role)s instead of %(old_role)s, and will see "
                "only what that role may see from their next page on. Staff roles must use "
                "two-factor authentication."
            )
            % {
                "pseudonym": user.pseudonym,
                "new_role": Role(role).label,
                "old_role": user.get_role_display(),
            },
            action="clinic:user_role",
            button=_("Yes, make them %(role)s") % {"role": Role(role).label},
            fields={"role": role, "confirmed": "yes"},
        )
    try:
        if people.change_role(user, role, admin=signed_in_user(request)):
            messages.success(request, _("The role was changed."))
    except (people.NotOnYourself, people.AccountErased) as exc:
        flash_refusal(request, exc)
    return redirect("clinic:user", pseudonym=user.pseudonym)


@require_http_methods(["GET", "POST"])
@admin_only
def disable_user(request: HttpRequest, pseudonym: str) -> HttpResponse:
    user = _account(pseudonym)
    if request.method == "GET":
        return _confirm(
            request,
            user,
            title=_("Disable this account?"),
            explanation=_(
                "It is signed out everywhere at once, its API tokens are deleted, and it cannot "
                "sign in until a clinic admin enables it again. Its scans and records stay."
            ),
            action="clinic:user_disable",
            button=_("Yes, disable the account"),
        )
    try:
        if people.disable_user(user, admin=signed_in_user(request)):
            messages.success(request, _("The account was disabled; its sessions and tokens ended."))
    except people.NotOnYourself as exc:
        flash_refusal(request, exc)
    return redirect("clinic:user", pseudonym=user.pseudonym)


@require_POST
@admin_only
def enable_user(request: HttpRequest, pseudonym: str) -> HttpResponse:
    user = _account(pseudonym)
    try:
        if people.enable_user(user, admin=signed_in_user(request)):
            messages.success(request, _("The account was enabled."))
    except people.AccountErased as exc:
        flash_refusal(request, exc)
    return redirect("clinic:user", pseudonym=user.pseudonym)


@require_http_methods(["GET", "POST"])
@admin_only
def reset_mfa(request: HttpRequest, pseudonym: str) -> HttpResponse:
    user = _account(pseudonym)
    if request.method == "GET":
        return _confirm(
            request,
            user,
            title=_("Reset two-factor authentication?"),
            explanation=_(
                "The account's authenticator app, recovery codes and sessions are deleted. A "
                "staff account must set up two-factor authentication again at its next sign-in. "
                "Do this only when you are sure who asked for it."
            ),
            action="clinic:user_reset_mfa",
            button=_("Yes, reset two-factor authentication"),
        )
    try:
        people.reset_mfa(user, admin=signed_in_user(request))
        messages.success(
            request, _("Two-factor authentication was reset; it must be set up again.")
        )
    except (people.NotOnYourself, people.AccountErased) as exc:
        flash_refusal(request, exc)
    return redirect("clinic:user", pseudonym=user.pseudonym)


# --- Retention and health -----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@admin_only
def retention_policy(request: HttpRequest) -> HttpResponse:
    policy = retention.current_policy()
    form = RetentionPolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        changed = retention.change_policy(
            actor=signed_in_user(request).pseudonym, **form.cleaned_data
        )
        messages.success(request, _("The policy was saved.") if changed else _("Nothing changed."))
        return redirect("clinic:retention")
    return render(
        request,
        "clinic/retention.html",
        {
            "form": form,
            "policy": retention.current_policy(),
            "plan": retention.plan(timezone.now()),
        },
    )


@require_GET
@admin_only
def health_page(request: HttpRequest) -> HttpResponse:
    return render(request, "clinic/health.html", {"health": health.snapshot()})


@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest) -> HttpResponse:
    """Public: the invited person sets their password with the mailed code, is signed in, and
    (for a staff role) goes straight on to set up their authenticator."""
    form = AcceptInvitationForm(request.POST or None)
    if form.is_valid():
        try:
            user = invitations.accept_invitation(
                form.cleaned_data["email"],
                form.cleaned_data["code"],
                form.cleaned_data["password1"],
                client_address=request.META.get("REMOTE_ADDR", ""),
            )
        except invitations.InvitationRefused as exc:
            form.add_error(None, str(exc))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("mfa_activate_totp" if user.needs_mfa else "home")
    return render(request, "clinic/accept_invitation.html", {"form": form})
