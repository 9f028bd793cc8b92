"""Prometheus HTTP API hook (connection type ``prometheus``): instant and range queries, typed results.

Errors are mapped at this boundary, by type, in :func:`prometheus_errors`::

    httpx.TimeoutException, httpx.TransportError (unreachable)  → PrometheusTransientError
    HTTP 5xx / 429 (incl. errorType timeout/unavailable)        → PrometheusTransientError
    HTTP 4xx (bad_data: a bad query; execution errors)          → PrometheusPermanentError

A canary analysis must never pass because Prometheus was down: callers get an exception, never an empty
answer, when the query did not run. Credentials (basic auth or a bearer token) come from the connection
and never appear in messages.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import httpx
from airflow.sdk import BaseHook

from airflow_aiinfra.errors import (
    AiinfraError,
    PrometheusPermanentError,
    PrometheusTransientError,
    map_errors,
)
from airflow_aiinfra.hooks._connections import connection_url, get_connection


class _HttpStatus(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Transient(_HttpStatus):
    pass


class _Permanent(_HttpStatus):
    pass


# httpx.TimeoutException is a TransportError; ValueError is a body that is not JSON (a proxy's error page).
_ERROR_MAP = {_Transient: PrometheusTransientError, _Permanent: PrometheusPermanentError,
              httpx.TransportError: PrometheusTransientError, ValueError: PrometheusTransientError}
_HINTS = {PrometheusTransientError: "is it running and reachable?"}


def prometheus_errors(action: str, base_url: str) -> AbstractContextManager[None]:
    return map_errors(_ERROR_MAP, f"Prometheus at {base_url} failed to {action}", _HINTS)


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector (or a scalar, with empty labels)."""

    labels: dict[str, str]
    timestamp: float
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range query: (unix time, value) points, NaN kept as NaN."""

    labels: dict[str, str]
    points: tuple[tuple[float, float], ...] = field(default_factory=tuple)

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.points]


def _time(value: datetime | float | int) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise PrometheusPermanentError(f"time {value!r} has no timezone; pass an aware datetime (UTC)")
        return value.timestamp()
    return float(value)


def _seconds(value: timedelta | float | int) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class PrometheusHook(BaseHook):
    """Prometheus's HTTP API.

    Connection fields: ``host`` is the base URL (``http://prometheus:9090``) or a host name (then ``port``, and
    extra ``https``); ``login`` + ``password`` are basic auth, a ``password`` alone a bearer token. Extras:
    ``timeout`` (seconds, default 10), ``insecure_tls``.
    """

    conn_name_attr = "prometheus_conn_id"
    default_conn_name = "prometheus_default"
    conn_type = "prometheus"
    hook_name = "Prometheus"

    def __init__(
        self, prometheus_conn_id: str | None = default_conn_name, *, base_url: str | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__()
        self.prometheus_conn_id = prometheus_conn_id
        self._base_url = base_url
        self._timeout = timeout

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema"],
            "relabeling": {"host": "Prometheus URL", "login": "Username", "password": "Password or token"},
            "placeholders": {"host": "http://prometheus:9090", "extra": '{"timeout": 10, "insecure_tls": false}'},
        }

    @cached_property
    def _connection(self) -> Any | None:
        if self._base_url:
            return None
        return get_connection(self.prometheus_conn_id or self.default_conn_name, error=PrometheusPermanentError,
                              conn_type="prometheus", example='{"conn_type": "prometheus", "host": "http://prometheus:9090"}')

    @staticmethod
    def url_of(conn: Any) -> str:
        return connection_url(conn, what="Prometheus's URL", error=PrometheusPermanentError)

    @cached_property
    def base_url(self) -> str:
        return self._base_url.rstrip("/") if self._base_url else self.url_of(self._connection)

    @cached_property
    def client(self) -> httpx.Client:
        conn = self._connection
        extra = (conn.extra_dejson or {}) if conn is not None else {}
        auth: Any = None
        headers = {}
        if conn is not None and conn.login and conn.password:
            auth = httpx.BasicAuth(conn.login, conn.password)
        elif conn is not None and conn.password:
            headers["Authorization"] = f"Bearer {conn.password}"
        timeout = float(self._timeout or extra.get("timeout") or 10.0)
        verify = str(extra.get("insecure_tls", "")).lower() != "true"
        return httpx.Client(base_url=self.base_url, auth=auth, headers=headers, timeout=timeout, verify=verify)

    def _api(self, path: str, params: dict[str, str], action: str) -> dict[str, Any]:
        with prometheus_errors(action, self.base_url):
            response = self.client.post(path, data=params)
            try:
                body = response.json()
            except ValueError:
                body = {}
            message = f"HTTP {response.status_code} {body.get('errorType', '')}: {body.get('error', response.text[:200])}"
            if response.status_code >= 500 or response.status_code == 429:
                raise _Transient(response.status_code, message)
            if response.status_code >= 400:
                raise _Permanent(response.status_code, message)
            if body.get("status") != "success":
                raise ValueError(f"unexpected answer: {response.text[:200]}")
            return body["data"]

    def query(self, promql: str, *, at: datetime | float | None = None) -> list[Sample]:
        """Evaluate ``promql`` at one instant (now by default): one :class:`Sample` per series."""
        params = {"query": promql}
        if at is not None:
            params["time"] = repr(_time(at))
        data = self._api("/api/v1/query", params, f"run query {promql!r}")
        if data["resultType"] in ("scalar", "string"):
            ts, value = data["result"]
            return [Sample({}, float(ts), float(value))]
        return [Sample(r["metric"], float(r["value"][0]), float(r["value"][1])) for r in data["result"]]

    def query_range(
        self, promql: str, *, start: datetime | float, end: datetime | float, step: timedelta | float
    ) -> list[Series]:
        """Evaluate ``promql`` every ``step`` from ``start`` to ``end``: one :class:`Series` per series."""
        params = {"query": promql, "start": repr(_time(start)), "end": repr(_time(end)), "step": repr(_seconds(step))}
        data = self._api("/api/v1/query_range", params, f"run range query {promql!r}")
        return [
            Series(r["metric"], tuple((float(t), float(v)) for t, v in r["values"])) for r in data["result"]
        ]

    def value(self, promql: str, *, at: datetime | float | None = None) -> float | None:
        """The single value of a query that yields at most one series; None when it yields nothing or NaN."""
        samples = self.query(promql, at=at)
        if len(samples) > 1:
            raise PrometheusPermanentError(
                f"query {promql!r} returned {len(samples)} series, expected one: aggregate it (e.g. sum(...))"
            )
        if not samples or math.isnan(samples[0].value):
            return None
        return samples[0].value

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.query("vector(1)")
        except AiinfraError as exc:
            return False, str(exc)
        return True, f"Prometheus answered at {self.base_url}"
