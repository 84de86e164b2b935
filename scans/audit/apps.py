from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "scans.audit"
    label = "audit"
    verbose_name = "Audit log"
