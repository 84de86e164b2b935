"""The counters the study's workers keep: de-identification time and outcome per image, and
send outcomes. Labels are enum values only: no ids, no hashes, nothing of a patient.

The exporter that serves them (and the scrape-time collectors) is ``gateway.metrics``; this
module only defines and updates them, so the pipeline never imports the layer above it.
"""

from __future__ import annotations

import os

_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _MULTIPROC_DIR:  # must exist before prometheus_client creates a metric
    os.makedirs(_MULTIPROC_DIR, mode=0o700, exist_ok=True)

from prometheus_client import Counter, Histogram  # noqa: E402

DEID_IMAGE_SECONDS = Histogram(
    "gateway_deid_image_seconds",
    "Time to de-identify and verify one image",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300),
)
DEID_IMAGES = Counter("gateway_deid_images", "Images de-identified, per outcome", ["outcome"])
SEND_OUTCOMES = Counter("gateway_send_outcomes", "Sends settled, per outcome", ["outcome"])


def observe_deid_image(seconds: float, outcome: str) -> None:
    DEID_IMAGE_SECONDS.labels(outcome=outcome).observe(seconds)
    DEID_IMAGES.labels(outcome=outcome).inc()


def count_send_outcome(outcome: str) -> None:
    SEND_OUTCOMES.labels(outcome=outcome).inc()
