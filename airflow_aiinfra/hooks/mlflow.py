"""MLflow hook (connection type ``mlflow``): the client, its credentials and its errors.

Where a pipeline's run lives is decided once, by ``mlflow.start_run``: an explicit tracking URI, else the
connection (spec ``conn_id``, else ``[aiinfra] mlflow_conn_id`` when it exists), else the embedded local
store ``sqlite:///<AIRFLOW_HOME>/mlflow.db`` (beside Feast's and the Data Docs' embedded stores). Errors are
mapped at this boundary: unreachable server, timeouts, 5xx and 429 → :class:`MlflowTransientError` (retry);
any other 4xx → :class:`MlflowPermanentError`. How other tasks reach the pipeline's run is
``operators/pipeline_run.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any, TypeVar

from airflow.sdk import BaseHook

from airflow_aiinfra import config
from airflow_aiinfra.errors import MlflowPermanentError, MlflowTransientError
from airflow_aiinfra.hooks._connections import connection_url, get_connection

# The client's defaults (7 retries, backoff factor 2, 120 s timeout) retry for minutes against a dead
# server; Airflow's own task retries are the outer loop, so keep the inner one short.
DEFAULT_HTTP = {"max_retries": 2, "backoff_factor": 1, "timeout": 30}
QUICK_HTTP = {"max_retries": 0, "backoff_factor": 1, "timeout": 10}
_HTTP_ENV = {
    "max_retries": "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "backoff_factor": "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "timeout": "MLFLOW_HTTP_REQUEST_TIMEOUT",
}
_CRED_ENV = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_INSECURE_TLS")

T = TypeVar("T")


def embedded_store() -> tuple[str, str]:
    """(tracking URI, artifact folder) of the local default: SQLite and artifacts beside each other."""
    base = config.airflow_home().resolve()
    return f"sqlite:///{base / 'mlflow.db'}", (base / "mlartifacts").as_uri()


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove URL credentials and known secret values from a message."""
    text = re.sub(r"(?<=://)[^/@\s]+@", "***@", text)
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


def run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """The run's page in the MLflow UI, or "" when the store has no UI (SQLite, files)."""
    if not tracking_uri.startswith(("http://", "https://")):
        return ""
    return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def map_error(exc: BaseException, secrets: tuple[str, ...] = ()) -> Exception | None:
    """The package error for a client exception, or None when it is not an MLflow/HTTP failure."""
    import requests
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        status = exc.get_http_status_code()
        message = redact(exc.message, secrets)
        if status >= 500 or status == 429:
            return MlflowTransientError(f"MLflow unavailable or failing (HTTP {status}, {exc.error_code}): {message}")
        return MlflowPermanentError(f"MLflow rejected the request (HTTP {status}, {exc.error_code}): {message}")
    if isinstance(exc, requests.RequestException | ConnectionError | TimeoutError):
        return MlflowTransientError(f"MLflow unreachable: {redact(str(exc), secrets)}")
    return None


class MlflowHook(BaseHook):
    """An MLflow tracking server (or store URI) and its credentials.

    Connection fields: ``host`` is the server URL (``http://mlflow:5000``) or a host name (then ``port``
    and extra ``https`` build it); ``login`` + ``password`` are HTTP basic auth, a ``password`` alone a
    bearer token. Extras: ``max_retries``, ``backoff_factor``, ``timeout`` (the client's HTTP retries),
    ``insecure_tls``, ``https``.
    """

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "mlflow_default"
    conn_type = "mlflow"
    hook_name = "MLflow"

    def __init__(
        self,
        mlflow_conn_id: str | None = default_conn_name,
        *,
        tracking_uri: str | None = None,
        conn_required: bool = True,
        http: dict[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.mlflow_conn_id = mlflow_conn_id
        self._tracking_uri = tracking_uri
        self.conn_required = conn_required
        self._http = http

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema"],
            "relabeling": {"host": "Tracking server URL", "login": "Username", "password": "Password or token"},
            "placeholders": {
                "host": "http://mlflow.mlflow.svc:5000",
                "login": "empty for a bearer token",
                "password": "basic-auth password, or a token when Username is empty",
                "extra": '{"timeout": 30, "max_retries": 2, "backoff_factor": 1, "insecure_tls": false}',
            },
        }

    @cached_property
    def connection(self) -> Any | None:
        """The Airflow connection, or None when it does not exist and is optional."""
        if not self.mlflow_conn_id:
            return None
        return get_connection(self.mlflow_conn_id, error=MlflowPermanentError, conn_type="mlflow",
                              example="mlflow://mlflow-host:5000", optional=not self.conn_required)

    @staticmethod
    def uri_of(conn: Any) -> str:
        return connection_url(conn, what="the tracking server URL", error=MlflowPermanentError)

    @cached_property
    def tracking_uri(self) -> str:
        if self._tracking_uri:
            return self._tracking_uri
        if self.connection is not None:
            return self.uri_of(self.connection)
        return embedded_store()[0]

    @property
    def is_embedded(self) -> bool:
        return self.tracking_uri == embedded_store()[0]

    @cached_property
    def _secrets(self) -> tuple[str, ...]:
        conn = self.connection
        return (conn.password,) if conn is not None and conn.password else ()

    def _env(self) -> dict[str, str]:
        """Environment the client reads on every request: bounded retries and the credentials."""
        extra = dict(self.connection.extra_dejson or {}) if self.connection is not None else {}
        http = {**DEFAULT_HTTP, **{k: int(extra[k]) for k in DEFAULT_HTTP if k in extra}, **(self._http or {})}
        env = {_HTTP_ENV[k]: str(v) for k, v in http.items()}
        env["MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"] = "0"
        # The client resolves some URIs (models:/<id> when registering) against the default store: make it ours.
        env["MLFLOW_TRACKING_URI"] = env["MLFLOW_REGISTRY_URI"] = self.tracking_uri
        conn = self.connection
        if conn is not None:
            if conn.login and conn.password:
                env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"] = conn.login, conn.password
            elif conn.password:
                env["MLFLOW_TRACKING_TOKEN"] = conn.password
            if str(extra.get("insecure_tls", "")).lower() == "true":
                env["MLFLOW_TRACKING_INSECURE_TLS"] = "true"
        return env

    @contextmanager
    def session(self) -> Iterator[Any]:
        """The client, with this hook's env applied and errors mapped; the env is restored afterwards
        so credentials never outlive the call (nor reach a local-runner subprocess)."""
        env = self._env()
        keys = set(env) | set(_CRED_ENV)
        saved = {k: os.environ.get(k) for k in keys}
        for k in _CRED_ENV:
            os.environ.pop(k, None)
        os.environ.update(env)
        try:
            yield self.client
        except Exception as exc:
            mapped = map_error(exc, self._secrets)
            if mapped is None:
                raise
            raise mapped from None
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self.session():
            return fn(*args, **kwargs)

    @cached_property
    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def test_connection(self) -> tuple[bool, str]:
        try:
            with self.session() as client:
                client.search_experiments(max_results=1)
        except Exception as exc:
            return False, str(exc)
        return True, f"MLflow at {self.tracking_uri} answered"

    # --- the pipeline run ------------------------------------------------------------------------
    def ensure_experiment(self, name: str) -> str:
        """The experiment's id, created if missing (with artifacts beside the embedded store)."""
        with self.session() as client:
            exp = client.get_experiment_by_name(name)
            if exp is not None:
                if exp.lifecycle_stage == "deleted":
                    raise MlflowPermanentError(
                        f"MLflow experiment {name!r} is deleted; restore it (mlflow experiments restore "
                        f"--experiment-id {exp.experiment_id}) or set experiment.name to another name"
                    )
                return exp.experiment_id
            location = f"{embedded_store()[1]}/{name}" if self.is_embedded else None
            try:
                return client.create_experiment(name, artifact_location=location)
            except Exception as exc:  # created concurrently by another run
                exp = client.get_experiment_by_name(name)
                if exp is None:
                    raise exc from None
                return exp.experiment_id

    def find_run(self, experiment_id: str, dag_id: str, run_id: str) -> Any | None:
        """The MLflow run tagged with this Airflow DAG run, if one exists."""
        esc = lambda v: v.replace("\\", "\\\\").replace("'", "\\'")  # noqa: E731
        flt = f"tags.`airflow.dag_id` = '{esc(dag_id)}' and tags.`airflow.run_id` = '{esc(run_id)}'"
        with self.session() as client:
            runs = client.search_runs([experiment_id], filter_string=flt, order_by=["attributes.start_time ASC"])
        return runs[0] if runs else None


def hook_for(info: dict[str, str], *, http: dict[str, int] | None = None) -> MlflowHook:
    return MlflowHook(info.get("conn_id") or None, tracking_uri=info["tracking_uri"], http=http)
