"""PrometheusHook against a real Prometheus (scraping itself every second), real listeners for the answers
a healthy Prometheus never gives (503, 429, 401, silence), and stopped instances / closed ports for "down":
a failed query is always an exception, never an empty answer a judge could pass."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from airflow_aiinfra.errors import PrometheusPermanentError, PrometheusTransientError
from airflow_aiinfra.hooks.prometheus import PrometheusHook
from airflow_aiinfra.rollout.promql import BUILTIN_METRICS, builtin_query, render_template
from tests.support.serving import Prometheus, free_port, need_binary

SECRET = "pr0m-s3cret"
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prometheus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    proc = Prometheus(tmp_path_factory.mktemp("prometheus"), {}, need_binary(request, "prometheus"))
    proc.jobs = {"self": [f"127.0.0.1:{proc.port}"]}
    proc.start()
    proc.wait_for_targets()
    hook = PrometheusHook(base_url=proc.url)
    deadline = time.monotonic() + 20
    while not hook.query_range("up", start=time.time() - 3, end=time.time(), step=1)[0].points[2:]:
        assert time.monotonic() < deadline, "Prometheus did not collect 3 scrapes"
        time.sleep(0.5)
    yield proc
    proc.stop()


@pytest.fixture
def hook(prometheus: Prometheus) -> PrometheusHook:
    return PrometheusHook(base_url=prometheus.url)


def test_instant_and_range_queries(hook: PrometheusHook) -> None:
    [sample] = hook.query('up{job="self"}')
    assert sample.labels["job"] == "self" and sample.value == 1.0
    [scalar] = hook.query("1 + 1")
    assert scalar.labels == {} and scalar.value == 2.0
    now = datetime.now(UTC)
    [past] = hook.query('up{job="self"}', at=now - timedelta(seconds=1))
    assert past.timestamp == pytest.approx((now - timedelta(seconds=1)).timestamp(), abs=0.01)
    [series] = hook.query_range('up{job="self"}', start=now - timedelta(seconds=2), end=now, step=timedelta(seconds=1))
    assert len(series.points) == 3 and series.values == [1.0, 1.0, 1.0]
    assert hook.value('sum(up{job="self"})') == 1.0
    assert hook.value('up{job="nobody"}') is None  # empty: no value, the judge turns it into no_data
    assert hook.value("0/0") is None  # NaN likewise
    assert hook.test_connection() == (True, f"Prometheus answered at {hook.base_url}")


def test_every_builtin_and_a_custom_query_is_valid_promql(hook: PrometheusHook) -> None:
    for metric in BUILTIN_METRICS:
        hook.query(builtin_query(metric, version="recsys/1", slot="canary", window="5s"))
    hook.query(render_template('sum(rate(prometheus_http_requests_total{handler="{version}"}[5s]))', version="/metrics"))


@pytest.mark.parametrize(
    ("promql", "match"),
    [
        pytest.param("sum(rate(up[1m]", r"HTTP 400 bad_data", id="syntax"),
        pytest.param("up + on(job) group_left up{__name__=~'.+'}", r"HTTP (400|422)", id="execution"),
    ],
)
def test_bad_queries_are_permanent(hook: PrometheusHook, promql: str, match: str) -> None:
    with pytest.raises(PrometheusPermanentError, match=match):
        hook.query(promql)


def test_more_than_one_series_for_a_value_is_permanent(hook: PrometheusHook) -> None:
    with pytest.raises(PrometheusPermanentError, match="returned 2 series, expected one: aggregate it"):
        hook.value('label_replace(up{job="self"}, "x", "a", "", "") or label_replace(up{job="self"}, "x", "b", "", "")')


def test_naive_times_are_refused(hook: PrometheusHook) -> None:
    with pytest.raises(PrometheusPermanentError, match="has no timezone"):
        hook.query("up", at=datetime(2026, 1, 1))


def test_a_stopped_prometheus_is_transient(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    own = Prometheus(tmp_path, {}, need_binary(request, "prometheus")).start()
    hook = PrometheusHook(base_url=own.url, timeout=2)
    assert hook.query("1")[0].value == 1.0
    own.stop()
    with pytest.raises(PrometheusTransientError, match=r"failed to run query '1': ConnectError.*reachable"):
        hook.query("1")
    with pytest.raises(PrometheusTransientError, match="ConnectError"):
        PrometheusHook(base_url=f"http://127.0.0.1:{free_port()}").query_range("up", start=0, end=1, step=1)


class _Answer(BaseHTTPRequestHandler):
    status = 503
    seen: list[str] = []

    def do_POST(self) -> None:
        _Answer.seen.append(self.headers.get("Authorization", ""))
        body = b'{"status": "error", "errorType": "unavailable", "error": "overloaded"}'
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[tuple[str, type[_Answer]]]:
    handler = type("Handler", (_Answer,), {"status": 503})
    _Answer.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(503, PrometheusTransientError, id="503"),
        pytest.param(500, PrometheusTransientError, id="500"),
        pytest.param(429, PrometheusTransientError, id="429"),
        pytest.param(401, PrometheusPermanentError, id="401"),
    ],
)
def test_http_statuses_map_by_class_and_credentials_stay_out_of_messages(
    answering: tuple[str, type[_Answer]], monkeypatch: pytest.MonkeyPatch, status: int, error: type[Exception]
) -> None:
    url, handler = answering
    handler.status = status
    monkeypatch.setenv("AIRFLOW_CONN_PROM_T", f'{{"conn_type": "prometheus", "host": "{url}", "login": "bot", '
                                              f'"password": "{SECRET}", "extra": {{"timeout": 3}}}}')
    with pytest.raises(error, match=f"HTTP {status}") as info:
        PrometheusHook("prom_t").query("up")
    assert SECRET not in str(info.value) and "bot" not in str(info.value)
    assert _Answer.seen[-1].startswith("Basic ")

    monkeypatch.setenv("AIRFLOW_CONN_PROM_B", f'{{"conn_type": "prometheus", "host": "{url}", "password": "{SECRET}"}}')
    with pytest.raises(error):
        PrometheusHook("prom_b").query("up")
    assert _Answer.seen[-1] == f"Bearer {SECRET}"


def test_a_prometheus_that_never_answers_times_out_as_transient() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        hook = PrometheusHook(base_url=f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.5)
        with pytest.raises(PrometheusTransientError, match="ReadTimeout"):
            hook.query("up")
    finally:
        listener.close()


def test_missing_connection_says_how_to_create_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_PROM_ABSENT", raising=False)
    with pytest.raises(PrometheusPermanentError, match="connection 'prom_absent' does not exist.*AIRFLOW_CONN_PROM_ABSENT"):
        PrometheusHook("prom_absent").query("up")


def test_connection_url_forms() -> None:
    from airflow.sdk import Connection

    assert PrometheusHook.url_of(Connection(conn_id="p", conn_type="prometheus", host="prom.svc", port=9090)) == \
        "http://prom.svc:9090"
    assert PrometheusHook.url_of(Connection(conn_id="p", conn_type="prometheus", host="https://u:pw@prom.example.com/")) \
        == "https://prom.example.com"
