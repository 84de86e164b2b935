from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from accounts import audit_hooks

        # Sign-ins happen inside allauth and Django's auth: their signals are the only hook.
        user_logged_in.connect(audit_hooks.signed_in, dispatch_uid="audit-sign-in")
        user_login_failed.connect(audit_hooks.sign_in_failed, dispatch_uid="audit-sign-in-failed")
