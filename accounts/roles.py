"""Roles as groups with permissions, and the one function that changes a user's role."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from allauth.mfa.models import Authenticator
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts.models import Role, User
from accounts.signals import role_assigned

# The permissions (on accounts.User, see its Meta) each role's group holds.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.PATIENT: ["upload_scans"],
    Role.CLINICIAN: ["view_clinic_cases"],
    Role.AUDITOR: ["view_audit_log"],
    Role.CLINIC_ADMIN: ["manage_clinic", "view_audit_log"],
}


def group_name(role: str) -> str:
    return f"role:{role}"


def role_group(role: str) -> Group:
    """The role's group with its permissions (created if a database was emptied, e.g. in tests)."""
    group, created = Group.objects.get_or_create(name=group_name(role))
    if created:
        group.permissions.set(
            Permission.objects.filter(
                content_type__app_label="accounts", codename__in=ROLE_PERMISSIONS[role]
            )
        )
    return group


def assign_role(user: User, role: str, *, actor: str = "system") -> None:
    """Give ``user`` exactly one role: the field that pages check and the matching group.

    The audit log records the change (``role_assigned``) in the same transaction.
    """
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    with transaction.atomic():
        previous = user.role if user.pk else ""
        role_assigned.send(User, user=user, previous=previous, role=role, actor=actor)
        user.role = role
        user.save(update_fields=["role"])
        user.groups.remove(*Group.objects.filter(name__startswith="role:"))
        user.groups.add(role_group(role))


def has_mfa(user: User) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def role_required(*roles: str) -> Callable:
    """Let only signed-in users with one of ``roles`` through; MFA is checked by middleware."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect(f"/accounts/login/?next={request.path}")
            if user.role not in roles:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        # Read by the access-control matrix test: which roles a view admits.
        vars(wrapped)["required_roles"] = roles
        return wrapped

    return decorator


def signed_in_user(request: HttpRequest) -> User:
    """The request's user, for views behind ``role_required`` (which let no one else in)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user
