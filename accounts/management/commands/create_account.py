"""Bootstrap a clinic: ``manage.py create_account EMAIL --role ROLE [--password-file FILE]``."""

import getpass
from pathlib import Path

from allauth.account.models import EmailAddress
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Role, User
from accounts.roles import assign_role


class Command(BaseCommand):
    help = "Create a verified account with a role. The password comes from a file or a prompt."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--password-file", type=Path, help="File whose first line is the password."
        )

    def handle(self, *args, email: str, role: str, password_file: Path | None, **options) -> None:
        email = email.strip().lower()
        if User.objects.filter(email=email).exists():
            raise CommandError("An account with that email address already exists.")
        password = self._password(password_file)
        candidate = User(email=email, role=role)
        try:
            validate_password(password, candidate)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        with transaction.atomic():
            user = User.objects.create_user(email, password, is_staff=role == Role.CLINIC_ADMIN)
            assign_role(user, role)
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        note = " Sign in and set up two-factor authentication first." if user.needs_mfa else ""
        self.stdout.write(f"Created {role} account {user.pseudonym}.{note}")

    def _password(self, password_file: Path | None) -> str:
        if password_file is not None:
            try:
                lines = password_file.read_text().splitlines()
            except OSError as exc:
                raise CommandError(f"Cannot read the password file: {exc.strerror}.") from exc
            if not lines or not lines[0]:
                raise CommandError("The password file is empty.")
            return lines[0]
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The passwords do not match.")
        return first
