from django.apps import AppConfig


class ClinicConfig(AppConfig):
    name = "scans.clinic"
    label = "clinic"
    verbose_name = "Clinic administration"
