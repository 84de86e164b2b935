"""``manage.py seal_mfa_secrets``: seal TOTP secrets and recovery seeds still stored in clear.

The accounts migration does this where the keyring is present; a migrate step that runs without
the keyring (the container's) leaves them for this command, run once in a process that holds it
(``docker compose run --rm ops python manage.py seal_mfa_secrets``). Sealing twice is harmless.
"""

from allauth.mfa.adapter import get_adapter
from allauth.mfa.models import Authenticator
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Seal two-factor secrets stored in clear with the vault's keyring."

    def handle(self, *args, **options) -> None:
        adapter = get_adapter()
        sealed = 0
        for authenticator in Authenticator.objects.all():
            data = dict(authenticator.data)
            for field in ("secret", "seed"):
                if isinstance(data.get(field), str):
                    data[field] = adapter.encrypt(data[field])
            if data != authenticator.data:
                Authenticator.objects.filter(pk=authenticator.pk).update(data=data)
                sealed += 1
        self.stdout.write(f"{sealed} authenticator(s) sealed.")
