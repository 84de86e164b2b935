"""What Celery processes do besides running tasks: heartbeat, metrics port, JSON logs.

Connected from ``gateway/celery.py``. Nothing here changes behaviour unless the environment
asks for it: ``METRICS_PORT`` starts the metrics and health server (workers and beat),
``LOG_FORMAT=json`` makes Celery use the Django logging configuration instead of its own.
"""

from __future__ import annotations

import logging.config
import os
from typing import Any

from celery import Celery, signals

from gateway import health


def _metrics_port() -> int | None:
    value = os.environ.get("METRICS_PORT", "")
    return int(value) if value else None


def _start_exporter(role: str) -> None:
    port = _metrics_port()
    if port is None:
        return
    from django.conf import settings

    from gateway import metrics

    metrics.serve(port, role, health.is_alive, broker_url=settings.CELERY_BROKER_URL)


def _on_worker_init(**kwargs: Any) -> None:
    _start_exporter("worker")


def _on_beat_init(**kwargs: Any) -> None:
    _start_exporter("beat")


def _on_child_exit(pid: int, **kwargs: Any) -> None:
    from gateway import metrics

    metrics.mark_process_dead(pid)


def _configure_logging(**kwargs: Any) -> None:
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def connect(app: Celery) -> None:
    app.steps["consumer"].add(health.WorkerHeartbeat)
    signals.worker_init.connect(_on_worker_init, weak=False)
    signals.beat_init.connect(_on_beat_init, weak=False)
    signals.worker_process_shutdown.connect(_on_child_exit, weak=False)
    if os.environ.get("LOG_FORMAT") == "json":
        # A receiver here tells Celery to leave logging to us (no root-logger hijack).
        signals.setup_logging.connect(_configure_logging, weak=False)
