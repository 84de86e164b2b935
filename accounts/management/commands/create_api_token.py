"""``manage.py create_api_token EMAIL [--name NAME]``: print a new personal API token once."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.tokens import issue_token


class Command(BaseCommand):
    help = "Create a personal API token for an account and print it (it is stored only hashed)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--name", default="command line")

    def handle(self, *args, email: str, name: str, **options) -> None:
        user = User.objects.filter(email=email.strip().lower(), is_active=True).first()
        if user is None:
            raise CommandError("No active account with that email address.")
        self.stdout.write(issue_token(user, name))
