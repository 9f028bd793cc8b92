"""Prometheus metrics of one slot, recorded by prometheus-fastapi-instrumentator's middleware.

Only scoring requests (``/invocations``) are counted, labelled by ``slot`` and by the ``model_version``
that answered (read from the response's ``X-Model-Version`` header, so a request in flight during a swap
is counted for the version that really served it). Names and buckets are in :mod:`.names`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from airflow_aiinfra.serving import names


class SlotMetrics:
    def __init__(self, slot: str, registry: CollectorRegistry = REGISTRY) -> None:
        self.slot = slot
        self.registry = registry
        labels = (names.SLOT_LABEL, names.VERSION_LABEL)
        self.requests = Counter(names.REQUESTS.removesuffix("_total"), "Scoring requests by slot, model version and HTTP status.",
                                (*labels, names.STATUS_LABEL), registry=registry)
        self.duration = Histogram(names.DURATION, "Scoring request duration in the server (excludes queueing before it).",
                                  labels, buckets=names.DURATION_BUCKETS, registry=registry)
        self.info = Gauge(names.MODEL_INFO, "1 for the model version this slot serves now.", labels, registry=registry)
        self.loads = Counter(names.LOADS.removesuffix("_total"), "Model loads by outcome.", (names.SLOT_LABEL, "outcome"),
                             registry=registry)

    def swapped(self, previous: Any | None, served: Any) -> None:
        """Point the info gauge at the new version and start its series at 0, so ``increase()`` counts the
        new version's first requests too."""
        if previous is not None and previous.version != served.version:
            self.info.labels(self.slot, previous.version).set(0)
        self.info.labels(self.slot, served.version).set(1)
        self.requests.labels(self.slot, served.version, "200")
        self.duration.labels(self.slot, served.version)

    def instrumentation(self) -> Callable[[Any], None]:
        requests, duration, slot = self.requests, self.duration, self.slot
        header = names.VERSION_HEADER.lower()

        def record(info: Any) -> None:
            if info.request.url.path != names.SCORING_PATH:
                return
            version = info.response.headers.get(header, "none")
            requests.labels(slot, version, info.modified_status).inc()
            duration.labels(slot, version).observe(info.modified_duration)

        return record
