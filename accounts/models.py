"""Users, their roles, and personal API tokens.

A user signs in with an email address. Everything else that leaves the account layer (audit
entries, consent records, logs) refers to a user by ``pseudonym``: a random id that says nothing
about the person.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import uuid

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.utils.translation import gettext_lazy, pgettext_lazy


class Role(models.TextChoices):
    PATIENT = "patient", pgettext_lazy("role", "Patient")
    CLINICIAN = "clinician", pgettext_lazy("role", "Clinician")
    AUDITOR = "auditor", pgettext_lazy("role", "Auditor")
    CLINIC_ADMIN = "clinic_admin", pgettext_lazy("role", "Clinic admin")


# Roles whose pages hold other people's data or the clinic's configuration: MFA is mandatory.
MFA_REQUIRED_ROLES = frozenset({Role.CLINICIAN, Role.AUDITOR, Role.CLINIC_ADMIN})


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("role", Role.CLINIC_ADMIN)
        return self.create_user(email, password, **extra)


def new_pseudonym() -> str:
    return "u-" + uuid.uuid4().hex[:20]


class User(AbstractUser):
    # Setting an inherited field to None removes it (Django's documented way); the stubs type
    # these fields as str and cannot express the removal.
    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.PATIENT)
    pseudonym = models.CharField(max_length=32, unique=True, default=new_pseudonym, editable=False)
    # The language chosen with the switcher; "" follows the browser (Accept-Language).
    language = models.CharField(max_length=8, blank=True, default="")
    # An IANA zone ("Europe/Berlin"), detected in the browser or chosen on the account page;
    # "" until then (pages show UTC and say so).
    time_zone = models.CharField(max_length=64, blank=True, default="")

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    # A manager for email sign-in; the stubs expect the username-based UserManager here.
    objects = UserManager()  # type: ignore[assignment,misc]

    class Meta:
        permissions = [
            ("upload_scans", "Can upload scans and send them for a second opinion"),
            ("view_clinic_cases", "Can open the clinician pages"),
            ("view_audit_log", "Can read and export the audit log"),
            ("manage_clinic", "Can manage users, endpoints and retention"),
        ]

    def __str__(self) -> str:
        return self.pseudonym

    @property
    def needs_mfa(self) -> bool:
        return self.role in MFA_REQUIRED_ROLES


def hash_token(token: str) -> str:
    """Tokens are 256-bit random strings, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenScope(models.TextChoices):
    """What a token may do; each API route names the scope it needs (``gateway.api``)."""

    READ = "read", gettext_lazy("Read your scans, reports, consents and answers")
    UPLOAD = "upload", gettext_lazy("Upload and delete scans")
    CONSENT = "consent", gettext_lazy("Ask an AI service and give or withdraw consent")
    AUDIT = "audit", gettext_lazy("Read and export the audit log (auditors)")


def default_token_expiry() -> datetime.datetime:
    from django.conf import settings
    from django.utils import timezone

    return timezone.now() + datetime.timedelta(days=settings.API_TOKEN_DAYS)


class ApiToken(models.Model):
    """A personal API token. Only its hash is stored; the token itself is shown once.

    It expires (``API_TOKEN_DAYS``, 90 by default) and carries scopes; it is deleted with every
    password change or reset and every two-factor reset.
    """

    PREFIX = "sgw_"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12, help_text="First characters, to tell tokens apart.")
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(default=default_token_expiry)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @classmethod
    def issue(cls, user: User, name: str, scopes: list[str]) -> tuple[ApiToken, str]:
        """Create a token and return it with its clear value, which is never stored."""
        clear = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            token_hash=hash_token(clear),
            hint=clear[:10],
            scopes=sorted(set(scopes)),
        )
        return token, clear


class SealedSession(AbstractBaseSession):
    """A signed-in session as stored (``accounts.sessions``): the key's hash and the data
    encrypted under a key derived from the session key, which only the browser holds.

    A copy of the database (or a backup of it) therefore yields no cookie to replay and no
    session contents; ``user_pk`` is kept in clear so every session of an account can be ended
    at once (sign-out everywhere, password and two-factor resets).
    """

    session_key = models.CharField("session key hash", max_length=64, primary_key=True)
    user_pk = models.CharField(max_length=64, blank=True, db_index=True)
