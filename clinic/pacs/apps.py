from django.apps import AppConfig


class PacsConfig(AppConfig):
    name = "clinic.pacs"
    label = "pacs"
    verbose_name = "Studies from the clinic's PACS"
    default_auto_field = "django.db.models.BigAutoField"
