from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from accounts import signals as accounts_signals
        from audit import hooks

        # Sign-ins happen inside allauth and Django's auth: their signals are the only hook.
        user_logged_in.connect(hooks.signed_in, dispatch_uid="audit-sign-in")
        user_login_failed.connect(hooks.sign_in_failed, dispatch_uid="audit-sign-in-failed")
        # Accounts sit below the audit log and announce their changes instead of writing them.
        accounts_signals.role_assigned.connect(hooks.role_assigned, dispatch_uid="audit-role")
        accounts_signals.token_issued.connect(hooks.token_issued, dispatch_uid="audit-token-new")
        accounts_signals.token_revoked.connect(hooks.token_revoked, dispatch_uid="audit-token-del")
