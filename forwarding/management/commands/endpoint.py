"""Manage AI endpoints from the command line: add, list, disable.

``add`` prints only the new endpoint's id, so scripts can capture it::

    ID=$(manage.py endpoint add "Claude" --protocol anthropic \\
         --base-url https://api.anthropic.com --model claude-sonnet-4-5 --api-key-file key.txt)

The API key is read from a file (never from the command line, where it would land in shell
history and the process list) and is never printed again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from forwarding.endpoints import create_endpoint, disable_endpoint
from forwarding.models import Endpoint, Protocol


class Command(BaseCommand):
    help = "Add, list or disable the AI endpoints patients can send de-identified scans to."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)

        add = actions.add_parser("add", help="Add an endpoint and print its id.")
        add.add_argument("name")
        add.add_argument("--protocol", required=True, choices=Protocol.values)
        add.add_argument("--base-url", required=True)
        add.add_argument("--model", required=True)
        add.add_argument("--api-key-file", type=Path, help="A file holding only the API key.")
        add.add_argument(
            "--local",
            action="store_true",
            help="Allow loopback and private addresses (a model on this machine or network).",
        )
        add.add_argument("--max-images", type=int, default=4)

        actions.add_parser("list", help="List endpoints (never their keys).")

        disable = actions.add_parser("disable", help="Stop offering an endpoint to patients.")
        disable.add_argument("id")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "add":
            self._add(options)
        elif action == "list":
            self._list()
        elif action == "disable":
            self._disable(options["id"])

    def _add(self, options: dict[str, Any]) -> None:
        api_key = ""
        if options["api_key_file"]:
            try:
                api_key = options["api_key_file"].read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise CommandError(f"Cannot read the API key file: {exc.strerror}.") from exc
            if not api_key:
                raise CommandError("The API key file is empty.")
        try:
            endpoint = create_endpoint(
                name=options["name"],
                protocol=options["protocol"],
                base_url=options["base_url"],
                model=options["model"],
                api_key=api_key,
                is_local=options["local"],
                max_images=options["max_images"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(str(endpoint.id))
        if not endpoint.data_use_note:
            self.stderr.write(
                "Note: add a data-use note (who runs this service, retention, training) "
                "before patients use this endpoint."
            )

    def _list(self) -> None:
        columns = ("id", "name", "protocol", "host", "model", "local", "enabled", "version")
        rows = [
            (
                str(e.id), e.name, e.protocol, e.host, e.model,
                "yes" if e.is_local else "no", "yes" if e.enabled else "no",
                str(e.config_version),
            )
            for e in Endpoint.objects.order_by("name")
        ]
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
        for row in [columns, *rows]:
            self.stdout.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))

    def _disable(self, endpoint_id: str) -> None:
        try:
            endpoint = disable_endpoint(endpoint_id)
        except (Endpoint.DoesNotExist, ValidationError) as exc:
            raise CommandError(f"No endpoint with id {endpoint_id!r}.") from exc
        self.stdout.write(f"Disabled {endpoint.id} ({endpoint.name}).")
