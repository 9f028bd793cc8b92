"""``experiment``: the MLflow run of each pipeline run, and model registration.

No credentials are ever written here: the Airflow side reads them from a connection (``conn_id``),
stage pods from a Kubernetes Secret (``credentials_secret``).
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator, model_validator

from airflow_aiinfra.spec.types import ConnId, K8sObjectName, Strict, TemplatedStr

RESERVED_TAG_PREFIXES = ("airflow.", "aiinfra.", "mlflow.")
_ALIAS_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_OP_SPELLINGS = {"=>": ">=", "=<": "<=", "gt": ">", "ge": ">=", "gte": ">=", "lt": "<", "le": "<=", "lte": "<="}
_URI_SCHEMES = ("http", "https", "file", "sqlite", "postgresql", "mysql", "mssql", "databricks", "databricks-uc")


# Moved only by the canary rollout (rollout/ operators), never by registration.
RESERVED_ALIASES = ("champion", "previous")


class MetricGate(Strict):
    """Registration happens only when the run's latest value of ``metric`` passes ``op threshold``."""

    metric: str = Field(min_length=1, max_length=250, description="A metric of the run, e.g. accuracy.")
    op: Literal[">", ">=", "<", "<="] = ">="
    threshold: float

    @field_validator("op", mode="before")
    @classmethod
    def _op_spelling(cls, op: Any) -> Any:
        fix = _OP_SPELLINGS.get(str(op).strip().lower())
        if fix is not None and fix != op:
            raise ValueError(f"op {op!r} is not allowed; did you mean {fix!r}? (one of '>', '>=', '<', '<=')")
        return op


def _strip_credentials(uri: str) -> str:
    parts = urlsplit(uri)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class DatasetFile(Strict):
    """A file a registered version was trained (or validated) on; its path templated by the run."""

    path: TemplatedStr = Field(min_length=1, max_length=4096)
    format: Literal["parquet", "csv"] | None = Field(None, description="Default: from the file name.")


class Experiment(Strict):
    """One MLflow run per pipeline run; optionally register the model a stage logged."""

    name: str | None = Field(None, min_length=1, description="MLflow experiment; default: the spec's name.")
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking server (http://host:5000) or store URI. No credentials here: use conn_id. "
        "Neither this nor conn_id: the [aiinfra] mlflow_conn_id connection, else a local SQLite store.",
    )
    conn_id: ConnId | None = Field(None, description="Airflow connection of type mlflow (URL and credentials).")
    credentials_secret: K8sObjectName | None = Field(
        None,
        description="Kubernetes Secret exposed to every stage pod as env (envFrom): its keys are "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN.",
    )
    registered_model: str | None = Field(None, min_length=1, description="Model registry name to register into.")
    model_stage: str | None = Field(None, description="Stage whose logged model is registered.")
    model_name: str | None = Field(
        None, description="Name the stage logged the model under (log_model(name=...)); needed when it logs several."
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags of every run.")
    metric_gates: list[MetricGate] = Field(
        default_factory=list, description="Metrics the run must reach before the model is registered."
    )
    alias: str = Field("challenger", description="Registry alias given to each new version.")
    datasets: dict[Literal["training", "validation"], DatasetFile] = Field(
        default_factory=dict,
        description="The data each registered version was trained/validated on, recorded as MLflow dataset "
        "inputs of its run (path, hash, schema, rows). The Feast training set is recorded without it.")

    @field_validator("tracking_uri")
    @classmethod
    def _no_credentials(cls, uri: str | None) -> str | None:
        if uri is None:
            return uri
        parts = urlsplit(uri)
        scheme = parts.scheme.split("+", 1)[0]
        if scheme not in _URI_SCHEMES or ("://" not in uri and scheme not in ("databricks", "databricks-uc")):
            raise ValueError(
                f"tracking_uri {uri!r} is not a tracking server URL or store URI ({', '.join(_URI_SCHEMES)}); "
                f"did you mean {'http://' + uri.split('://')[-1]!r}?"
            )
        secret_query = re.search(r"(?i)(token|password|secret|key)=", parts.query)
        if "@" in parts.netloc or secret_query:
            raise ValueError(
                "tracking_uri contains credentials; store them in an Airflow connection of type mlflow and set "
                f"conn_id (and credentials_secret for the pods); did you mean {_strip_credentials(uri)!r}?"
            )
        return uri

    @field_validator("tags")
    @classmethod
    def _own_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        for key in tags:
            if key.startswith(RESERVED_TAG_PREFIXES):
                raise ValueError(
                    f"tag {key!r} uses a reserved prefix ({', '.join(RESERVED_TAG_PREFIXES)}): aiinfra and "
                    f"MLflow set those; rename it, e.g. {key.split('.', 1)[1]!r}"
                )
        return tags

    @field_validator("alias")
    @classmethod
    def _alias(cls, alias: str) -> str:
        if not _ALIAS_RE.match(alias) or alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
            raise ValueError(
                f"alias {alias!r} is not a valid MLflow alias: use letters, digits, '_' or '-', not 'latest' "
                "and not 'v<number>' (those name versions); e.g. 'challenger'"
            )
        if alias.lower() in RESERVED_ALIASES:
            raise ValueError(
                f"alias {alias!r} is reserved: the rollout moves 'champion' (what the stable slot serves) and "
                "'previous' (the champion before it); a new version gets this alias before any canary "
                "analysis, so use e.g. 'challenger'"
            )
        return alias

    @model_validator(mode="after")
    def _one_target(self) -> Experiment:
        if self.tracking_uri and self.conn_id:
            raise ValueError(
                "give tracking_uri or conn_id, not both (the connection holds the URL and its credentials)"
            )
        if self.registered_model and not self.model_stage:
            raise ValueError("registered_model needs model_stage: the stage that logs the model")
        if self.model_stage and not self.registered_model:
            raise ValueError(
                f"model_stage {self.model_stage!r} is set but registered_model is not; name the registry model "
                "to register into, or drop model_stage"
            )
        if (self.metric_gates or self.model_name) and not self.registered_model:
            raise ValueError("metric_gates and model_name apply to registration; set registered_model and model_stage")
        return self
