"""MlflowHook: where MLflow is, credentials scoped to calls, and error mapping against real HTTP servers
(the real `mlflow server` for 4xx, a real listener answering 503 for 5xx, a closed port for "down")."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from airflow.sdk import Connection

from airflow_aiinfra import get_provider_info
from airflow_aiinfra.errors import MlflowPermanentError, MlflowTransientError
from airflow_aiinfra.hooks.mlflow import MlflowHook, embedded_store, redact, run_url
from tests.mlflow_server import MlflowServer, free_port

SECRET = "s3cr3t-pa55word"


def test_provider_registers_the_connection_type() -> None:
    types = {c["connection-type"]: c["hook-class-name"] for c in get_provider_info()["connection-types"]}
    assert types["mlflow"] == "airflow_aiinfra.hooks.mlflow.MlflowHook"
    assert (MlflowHook.conn_type, MlflowHook.default_conn_name, MlflowHook.conn_name_attr) == (
        "mlflow", "mlflow_default", "mlflow_conn_id")
    behaviour = MlflowHook.get_ui_field_behaviour()
    assert "schema" in behaviour["hidden_fields"] and behaviour["relabeling"]["host"] == "Tracking server URL"


@pytest.mark.parametrize(
    ("kwargs", "uri"),
    [
        pytest.param({"host": "http://mlflow.svc:5000"}, "http://mlflow.svc:5000", id="url"),
        pytest.param({"host": "mlflow.svc", "port": 5000}, "http://mlflow.svc:5000", id="host-port"),
        pytest.param({"host": "mlflow.example.com", "extra": '{"https": true}'}, "https://mlflow.example.com",
                     id="https-extra"),
        pytest.param({"host": "https://user:pw@mlflow.example.com/prefix/"}, "https://mlflow.example.com/prefix",
                     id="credentials-stripped"),
    ],
)
def test_tracking_uri_from_connection(kwargs: dict, uri: str) -> None:
    assert MlflowHook.uri_of(Connection(conn_id="m", conn_type="mlflow", **kwargs)) == uri


def test_connection_credentials_live_only_during_a_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_T", f'{{"conn_type": "mlflow", "host": "http://h:5000", '
                                                f'"login": "bot", "password": "{SECRET}", "extra": {{"timeout": 7}}}}')
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    hook = MlflowHook("mlflow_t")
    assert hook.tracking_uri == "http://h:5000"
    with hook.session():
        assert os.environ["MLFLOW_TRACKING_USERNAME"] == "bot"
        assert os.environ["MLFLOW_TRACKING_PASSWORD"] == SECRET
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert "MLFLOW_TRACKING_PASSWORD" not in os.environ


def test_missing_connection(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    # the configured default connection is optional: the embedded store beside AIRFLOW_HOME
    assert MlflowHook("mlflow_absent", conn_required=False).tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    assert embedded_store()[1] == (tmp_path / "mlartifacts").as_uri()
    # a connection the spec names must exist
    with pytest.raises(MlflowPermanentError, match="connection 'mlflow_absent' does not exist.*AIRFLOW_CONN_MLFLOW_ABSENT"):
        _ = MlflowHook("mlflow_absent").tracking_uri


def test_redact_and_run_url() -> None:
    assert redact(f"GET https://bot:{SECRET}@h/x failed", (SECRET,)) == "GET https://***@h/x failed"
    assert redact(f"token {SECRET}", (SECRET,)) == "token ***"
    assert run_url("http://h:5000/", "3", "abc") == "http://h:5000/#/experiments/3/runs/abc"
    assert run_url("sqlite:///x/mlflow.db", "3", "abc") == ""


@pytest.mark.integration
def test_4xx_is_permanent_with_the_server_message(mlflow_server: MlflowServer) -> None:
    hook = MlflowHook(None, tracking_uri=mlflow_server.url)
    with pytest.raises(MlflowPermanentError, match=r"HTTP 404, RESOURCE_DOES_NOT_EXIST.*Run with id=0+ not found"):
        with hook.session() as client:
            client.get_run("0" * 32)


class _Answer503(BaseHTTPRequestHandler):
    hits: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        type(self).hits.append(self.headers.get("Authorization"))
        body = b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "overloaded"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server_503() -> Iterator[str]:
    _Answer503.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer503)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_5xx_is_transient_after_bounded_retries(server_503: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_503", f'{{"conn_type": "mlflow", "host": "{server_503}", '
                                                  f'"password": "{SECRET}", "extra": {{"backoff_factor": 0}}}}')
    hook = MlflowHook("mlflow_503")
    with pytest.raises(MlflowTransientError, match=r"MLflow unavailable or failing \(HTTP 500") as info:
        with hook.session() as client:
            client.get_experiment_by_name("x")
    assert len(_Answer503.hits) == 3  # 1 try + MLFLOW_HTTP_REQUEST_MAX_RETRIES=2, not the client's default 7
    assert _Answer503.hits[0] == f"Bearer {SECRET}"  # a password without login is a bearer token
    assert SECRET not in str(info.value)


def test_server_down_is_transient() -> None:
    hook = MlflowHook(None, tracking_uri=f"http://127.0.0.1:{free_port()}", http={"max_retries": 0, "timeout": 5})
    with pytest.raises(MlflowTransientError, match="MLflow unavailable or failing.*Connection refused|Max retries"):
        with hook.session() as client:
            client.search_experiments(max_results=1)


def test_log_to_pipeline_run_is_false_without_an_experiment() -> None:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    from airflow_aiinfra.operators.pipeline_run import log_to_pipeline_run

    with DAG("plain", schedule=None) as dag:
        EmptyOperator(task_id="a")
    assert log_to_pipeline_run({"dag": dag}, tags={"k": "v"}, metrics={"m": 1.0}) is False
    assert log_to_pipeline_run({}, tags={"k": "v"}) is False
