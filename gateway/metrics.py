"""Prometheus metrics, served on their own port, never on the app's.

What is measured (names are what Prometheus shows):

* ``gateway_deid_image_seconds{outcome}`` — de-identification time per image (histogram), and
  ``gateway_deid_images_total{outcome}`` — images de-identified per outcome (clean,
  quarantined, rejected), counted by the de-identification workers;
* ``gateway_send_outcomes_total{outcome}`` — sends settled per outcome (sent, failed,
  outcome_unknown, refused...), counted by the sending workers;
* ``gateway_queue_depth{queue}`` and ``gateway_queue_unacked`` — messages waiting per Celery
  queue and taken but not yet acknowledged, read from Redis at scrape time (beat's exporter);
* ``gateway_images{outcome}`` and ``gateway_consents{state}`` — totals stored in the database
  (quarantine counts across restarts), read at scrape time (beat's exporter).

Labels are enum values only: no ids, no hashes, nothing of a patient. A process starts the
exporter with ``serve(port, role)`` when ``METRICS_PORT`` is set; Celery's prefork children and
gunicorn's workers write to ``PROMETHEUS_MULTIPROC_DIR`` (a tmpfs) and the parent sums them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

from scans.metrics import (  # the counters live with the pipeline that updates them
    _MULTIPROC_DIR,
    DEID_IMAGE_SECONDS,
    DEID_IMAGES,
    SEND_OUTCOMES,
    count_send_outcome,
    observe_deid_image,
)

__all__ = [
    "DEID_IMAGES",
    "DEID_IMAGE_SECONDS",
    "SEND_OUTCOMES",
    "count_send_outcome",
    "observe_deid_image",
    "registry_for",
    "serve",
]

log = logging.getLogger(__name__)

QUEUES = ("deid", "send", "default")
# kombu's Redis transport keeps priorities 1..9 in lists named queue + SEP + priority.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (0, 3, 6, 9)


class QueueDepthCollector:
    """Messages waiting in each queue and unacknowledged ones, from the broker at scrape time."""

    def __init__(self, broker_url: str) -> None:
        self.broker_url = broker_url

    def collect(self) -> Iterator[Metric]:
        import redis

        depth = GaugeMetricFamily("gateway_queue_depth", "Messages waiting", labels=["queue"])
        unacked = GaugeMetricFamily("gateway_queue_unacked", "Messages taken, not acknowledged")
        client = redis.Redis.from_url(self.broker_url, socket_timeout=3, socket_connect_timeout=3)
        try:
            for queue in QUEUES:
                names = [queue] + [f"{queue}{_PRIORITY_SEP}{p}" for p in _PRIORITY_STEPS[1:]]
                depth.add_metric([queue], sum(client.llen(name) for name in names))
            unacked.add_metric([], client.hlen("unacked"))
        except redis.RedisError:
            log.warning("metrics: the broker did not answer; queue depth left out")
            return
        finally:
            client.close()
        yield depth
        yield unacked


class StoredTotalsCollector:
    """Images per outcome and consents per state, counted in the database at scrape time."""

    def collect(self) -> Iterator[Metric]:
        from django.db import DatabaseError, connection
        from django.db.models import Count

        from scans.models import Consent, ScanImage

        images = GaugeMetricFamily(
            "gateway_images", "Stored images per outcome", labels=["outcome"]
        )
        consents = GaugeMetricFamily("gateway_consents", "Consents per state", labels=["state"])
        try:
            for row in ScanImage.objects.values("outcome").annotate(n=Count("pk")):
                images.add_metric([row["outcome"]], row["n"])
            for state_row in Consent.objects.values("state").annotate(n=Count("pk")):
                consents.add_metric([state_row["state"]], state_row["n"])
        except DatabaseError:
            log.warning("metrics: the database did not answer; stored totals left out")
            return
        finally:
            connection.close()  # this thread's connection; scrapes are minutes apart
        yield images
        yield consents


def registry_for(role: str, broker_url: str = "") -> CollectorRegistry:
    """The registry one process serves: its children's metrics (multiprocess mode) or its own,
    plus the scrape-time collectors for ``role == "beat"``."""
    if _MULTIPROC_DIR:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    if role == "beat":
        if broker_url.startswith(("redis://", "rediss://")):
            registry.register(QueueDepthCollector(broker_url))
        registry.register(StoredTotalsCollector())
    return registry


def exporter_app(registry: CollectorRegistry, healthy: Callable[[], bool]) -> Callable:
    """``/metrics`` in Prometheus's text format and ``/healthz`` (200 or 503); nothing else."""
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path == "/healthz":
            ok = healthy()
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "application/json")])
            return [b'{"ok": true}' if ok else b'{"ok": false}']
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
        pass


def serve(port: int, role: str, healthy: Callable[[], bool], broker_url: str = "") -> WSGIServer:
    """Start the exporter in a daemon thread on all interfaces of the container (the port is
    reachable on the stack's internal network only; compose never publishes it)."""
    server = make_server(
        "0.0.0.0",  # noqa: S104
        port,
        exporter_app(registry_for(role, broker_url), healthy),
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics and health on port %d (%s)", port, role)
    return server


def mark_process_dead(pid: int) -> None:
    """A multiprocess child exited: drop its live gauges (counters and histograms stay)."""
    if _MULTIPROC_DIR:
        multiprocess.mark_process_dead(pid)
