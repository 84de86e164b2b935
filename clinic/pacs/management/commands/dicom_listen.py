"""Run the clinic's DICOM node (C-STORE and C-ECHO SCP) in the foreground until stopped."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from clinic.pacs.scp import DicomListener


class Command(BaseCommand):
    help = "Receive studies pushed by the clinic's PACS (DICOM C-STORE) into the vault."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=settings.DICOM_BIND)
        parser.add_argument("--port", type=int, default=settings.DICOM_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        listener = DicomListener(options["bind"], options["port"])
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        listener.start()
        self.stdout.write(
            f"DICOM node {listener.server.ae_title} listening on {options['bind']}:{listener.port}",
        )
        self.stdout.flush()
        stop.wait()
        listener.stop()
