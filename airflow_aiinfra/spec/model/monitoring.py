"""``batch_inference`` and ``drift``: scoring with the champion, and watching what it scores.

``batch_inference`` is its own DAG (``<name>__inference``): the model as a registry URI (``models:/recsys@champion``)
pinned to a concrete version at the start of each run, a templated input, one output file per data interval.
``drift`` is its own DAG too (``<name>__monitor``): feature and prediction drift against what the champion was
trained on, performance decay once labels arrive, and retraining requested through an Airflow Asset.
(The name is not ``monitoring``: the seed's ``model_serving.monitoring`` is serving latency and errors.)
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_aiinfra.spec.model.experiment import MetricGate
from airflow_aiinfra.spec.model.training import Resources
from airflow_aiinfra.spec.types import ConnId, Duration, EnvMap, Strict, TemplatedStr

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(@(?P<alias>[A-Za-z0-9_-]+)|/(?P<version>\d+))$")
NUMERIC_TESTS = ("psi", "wasserstein", "ks")
CATEGORICAL_TESTS = ("chi2", "jensenshannon")
P_VALUE_TESTS = ("ks", "chi2")  # drift when the p-value is *below* the threshold; the others when above
DEFAULT_THRESHOLDS = {"psi": 0.2, "wasserstein": 0.1, "ks": 0.05, "chi2": 0.05, "jensenshannon": 0.1}


class DataFile(Strict):
    """A file (Parquet or CSV), its path templated by the run: ``.data/{{ ds_nodash }}/x.parquet``."""

    path: TemplatedStr = Field(min_length=1, max_length=4096)
    format: Literal["parquet", "csv"] | None = Field(None, description="Default: from the file name.")


class OutputTable(Strict):
    """A PostgreSQL table the interval's rows are also published to (its rows of the interval replaced)."""

    table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$", max_length=127,
                       description="schema.table or table; created when missing.")
    conn_id: ConnId = Field(description="Airflow connection of type postgres.")


class BatchInference(Strict):
    """Score a window of data in batch with the model an alias names, on its own schedule."""

    model: str = Field(description="Registry URI: models:/NAME@ALIAS or models:/NAME/VERSION.")
    schedule: str | None = Field("@daily", description="Cron or preset of the <name>__inference DAG.")
    input: DataFile
    output_dir: TemplatedStr = Field(
        min_length=1, max_length=4096,
        description="Folder of the outputs: one Parquet file per data interval, replaced on a rerun.")
    features: list[str] = Field(default_factory=list,
                                description="Columns the model takes; default: its signature's inputs.")
    keep_columns: list[str] = Field(default_factory=list,
                                    description="Input columns copied to the output (join keys for labels).")
    output_table: OutputTable | None = Field(None, description="Also publish each interval into this table.")
    chunk_rows: int = Field(50_000, ge=1, le=10_000_000, description="Rows scored at once (bounds memory).")
    image: str = Field("aiinfra-inference:latest", min_length=1, description="Image of the scoring pod.")
    resources: Resources = Field(default_factory=Resources)
    env: EnvMap = Field(default_factory=dict)

    @field_validator("model")
    @classmethod
    def _registry_uri(cls, uri: str) -> str:
        if not _MODEL_URI.match(uri):
            name = uri.split(":")[-1].strip("/").split("/")[0].split("@")[0] or "recsys"
            raise ValueError(f"model {uri!r} is not a registry URI; write models:/NAME@ALIAS or models:/NAME/VERSION, "
                             f"e.g. 'models:/{name}@champion'")
        return uri

    @property
    def registered_model(self) -> str:
        m = _MODEL_URI.match(self.model)
        assert m is not None
        return m["name"]


class FeatureCheck(Strict):
    """One column's drift test. ``test`` default: ``psi`` for numbers, ``chi2`` for categories."""

    name: str = Field(min_length=1, max_length=250)
    type: Literal["numerical", "categorical"] = "numerical"
    test: Literal["psi", "wasserstein", "ks", "chi2", "jensenshannon"] | None = None
    threshold: float | None = Field(
        None, description="Drift when the statistic is above it (psi, wasserstein, jensenshannon) or when the "
        "p-value is below it (ks, chi2). Defaults: psi 0.2, wasserstein 0.1, ks 0.05, chi2 0.05, "
        "jensenshannon 0.1.")

    @model_validator(mode="after")
    def _fits(self) -> FeatureCheck:
        allowed = NUMERIC_TESTS + CATEGORICAL_TESTS if self.type == "numerical" else CATEGORICAL_TESTS
        if self.test is not None and self.test not in allowed:
            raise ValueError(f"test {self.test!r} does not apply to a {self.type} column; use one of "
                             f"{', '.join(allowed)}")
        t = self.threshold
        if t is not None:
            test = self.effective_test
            if test in P_VALUE_TESTS and not 0 < t < 1:
                raise ValueError(f"threshold {t:g} of {test} is a p-value: give one between 0 and 1, e.g. 0.05")
            if test == "jensenshannon" and not 0 < t <= 1:
                raise ValueError(f"threshold {t:g} of jensenshannon is a distance in (0, 1]: e.g. 0.1")
            if test in ("psi", "wasserstein") and not 0 < t <= 100:
                raise ValueError(f"threshold {t:g} of {test} must be above 0 (and at most 100), e.g. "
                                 f"{DEFAULT_THRESHOLDS[test]:g}")
        return self

    @property
    def effective_test(self) -> str:
        return self.test or ("psi" if self.type == "numerical" else "chi2")

    @property
    def effective_threshold(self) -> float:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[self.effective_test]


class Labels(Strict):
    """Where the labels of a window arrive, and how they join the predictions."""

    path: TemplatedStr = Field(min_length=1, max_length=4096)
    format: Literal["parquet", "csv"] | None = None
    key: list[str] = Field(min_length=1, description="Columns joining labels to predictions.")
    label: str = Field("label", min_length=1, description="The label column.")


class Decay(Strict):
    labels: Labels
    task: Literal["classification", "regression"] = "classification"
    floors: list[MetricGate] = Field(
        default_factory=list, description="Metrics the champion must keep; default: experiment.metric_gates.")
    on_decay: Literal["warn", "fail"] = "fail"


class Drift(Strict):
    """Feature and prediction drift against what the champion was trained on; decay; retraining."""

    schedule: str | None = Field(None, description="Default: batch_inference's schedule, else the spec's.")
    reference: Literal["champion"] | DataFile = Field(
        "champion", description="'champion': the training data recorded on the champion's MLflow run; or a file.")
    current: Literal["batch_inference", "request_log", "offline_store"] | DataFile = Field(
        "batch_inference", description="The window: batch_inference's output, the model servers' request log, the "
        "feature store's offline sources (rows whose timestamp is in the interval), or a file templated by it.")
    request_log_dir: str | None = Field(None, description="With current: request_log, the servers' log folder.")
    features: list[FeatureCheck] = Field(min_length=1)
    prediction: FeatureCheck | None = Field(
        None, description="Drift test of the predictions (name: the prediction column, default 'prediction').")
    drift_share: float = Field(0.5, description="Share of drifted features (0 < share <= 1) that is drift of the "
                               "whole dataset; a drifted prediction is always drift.")
    on_drift: Literal["warn", "fail"] = "warn"
    decay: Decay | None = None
    retrain_on: list[Literal["drift", "decay"]] = Field(default_factory=list)
    cooldown: Duration = Field(timedelta(days=1), description="Least time between two retraining requests.")
    wait_timeout: Duration = Field(timedelta(hours=6), description="How long to wait for <name>__inference.")

    @field_validator("drift_share")
    @classmethod
    def _share(cls, v: float) -> float:
        if not 0 < v <= 1:
            raise ValueError(f"drift_share {v:g} is a share of features: give one in (0, 1], e.g. 0.5")
        return v

    @field_validator("features")
    @classmethod
    def _unique(cls, features: list[FeatureCheck]) -> list[FeatureCheck]:
        seen: set[str] = set()
        for f in features:
            if f.name in seen:
                raise ValueError(f"feature {f.name!r} is listed twice")
            seen.add(f.name)
        return features

    @model_validator(mode="after")
    def _consistent(self) -> Drift:
        if self.current == "request_log" and not self.request_log_dir:
            raise ValueError("current: request_log needs request_log_dir (the model servers' --request-log-dir)")
        if "decay" in self.retrain_on and self.decay is None:
            raise ValueError("retrain_on names 'decay' but there is no decay section: add decay.labels or drop it")
        return self

    def as_plain(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
