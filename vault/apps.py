from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "vault"
    label = "vault"
    verbose_name = "Encrypted storage (vault)"
