from django.apps import AppConfig


class ForwardingConfig(AppConfig):
    name = "forwarding"
    label = "forwarding"
    verbose_name = "AI endpoints and forwarding"
