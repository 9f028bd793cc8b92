"""Read one version's analysis window from Prometheus into the judge's input (:class:`~.judge.VersionWindow`).

Window values come from instant queries at the window's end over the whole window (``[60s]``); the
per-interval series for the comparative judge from a range query stepping by ``interval``, each point a
rate over ``interval + scrape_interval`` (a rate needs two scrapes inside its range). The caller passes the
hook, so this module does no I/O of its own choosing and tests can hand it a real Prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

from airflow_aiinfra.rollout.judge import VersionWindow
from airflow_aiinfra.rollout.promql import BUILTIN_METRICS, builtin_query, render_template

COMPARED = ("error_rate", "latency_p50", "latency_p95", "latency_p99")


class _Series(Protocol):
    @property
    def values(self) -> list[float]: ...


class _Prometheus(Protocol):
    """What is used of :class:`airflow_aiinfra.hooks.prometheus.PrometheusHook` (not imported: no Airflow here)."""

    def value(self, promql: str, *, at: float | None = None) -> float | None: ...

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> Sequence[_Series]: ...


def _duration(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds))}s"


def collect_window(
    prometheus: _Prometheus,
    *,
    version: str,
    slot: str | None,
    end: float,
    window_seconds: float,
    interval_seconds: float,
    scrape_interval_seconds: float = 15.0,
    metrics: Sequence[str] = BUILTIN_METRICS,
    custom: Mapping[str, str] | None = None,
    series_metrics: Sequence[str] = COMPARED,
) -> VersionWindow:
    """The window ``[end - window_seconds, end]`` of ``version`` (in ``slot``): request count, built-in
    metrics, custom checks (name → user PromQL template with ``{version}``) and per-interval series."""
    window = _duration(window_seconds)
    values: dict[str, float | None] = {
        m: prometheus.value(builtin_query(m, version=version, slot=slot, window=window), at=end)
        for m in metrics if m != "requests"
    }
    requests = prometheus.value(builtin_query("requests", version=version, slot=slot, window=window), at=end) or 0.0
    for name, template in (custom or {}).items():
        values[name] = prometheus.value(render_template(template, version=version), at=end)
    series: dict[str, list[float]] = {}
    rate_window = _duration(interval_seconds + scrape_interval_seconds)
    start = end - window_seconds + interval_seconds
    for m in series_metrics:
        result = prometheus.query_range(builtin_query(m, version=version, slot=slot, window=rate_window),
                                        start=start, end=end, step=interval_seconds)
        series[m] = [v for s in result for v in s.values]
    return VersionWindow(version=version, requests=requests, values=values, series=series)
