"""Register the built-in offline demo endpoint (what ``make run`` starts next to the app)."""

import os

from django.core.management.base import BaseCommand

from audit.actions import AuditAction
from audit.log import append as audit
from forwarding.endpoints import DEMO_NAME, ensure_demo_endpoint
from forwarding.models import Endpoint


class Command(BaseCommand):
    help = "Create or update the offline demo endpoint (it says plainly that it is no model)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--url",
            default=os.environ.get("DEMO_ENDPOINT_URL", "http://127.0.0.1:8765") + "/v1",
            help="Base URL of the demo server (default: DEMO_ENDPOINT_URL + /v1).",
        )

    def handle(self, *args, url: str, **options) -> None:
        existing = Endpoint.objects.filter(name=DEMO_NAME).first()
        before = existing.config_version if existing is not None else None
        endpoint = ensure_demo_endpoint(url)
        if before != endpoint.config_version:
            audit(
                AuditAction.ENDPOINT_CHANGED,
                actor="cli",
                object_type="endpoint",
                object_id=str(endpoint.pk),
                details={"config_version": endpoint.config_version},
            )
        self.stdout.write(f"Demo endpoint {endpoint.pk} at {url}")
