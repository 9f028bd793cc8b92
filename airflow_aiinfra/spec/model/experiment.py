"""``experiment``: the MLflow run of each pipeline run, and model registration."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from airflow_aiinfra.spec.types import Strict


class MetricGate(Strict):
    metric: str
    op: Literal[">", ">=", "<", "<="] = ">="
    threshold: float


class Experiment(Strict):
    name: str | None = Field(None, description="MLflow experiment; default: the spec's name.")
    tracking_uri: str | None = Field(None, description="No credentials here: use conn_id for those.")
    conn_id: str | None = Field(None, description="Airflow connection of type mlflow.")
    registered_model: str | None = None
    model_stage: str | None = Field(None, description="Stage whose logged model is registered.")
    model_name: str | None = Field(None, description="Which logged model to register when a stage logs several.")
    tags: dict[str, str] = Field(default_factory=dict)
    metric_gates: list[MetricGate] = Field(default_factory=list)
    alias: str = "challenger"

    @field_validator("tracking_uri")
    @classmethod
    def _no_credentials(cls, uri: str | None) -> str | None:
        if uri and re.match(r"^[a-z+]+://[^/@]+:[^/@]*@", uri):
            raise ValueError(
                "tracking_uri contains a password; store it in an Airflow connection and set conn_id instead"
            )
        return uri

    @model_validator(mode="after")
    def _one_target(self) -> Experiment:
        if self.tracking_uri and self.conn_id:
            raise ValueError("give tracking_uri or conn_id, not both")
        if self.registered_model and not self.model_stage:
            raise ValueError("registered_model needs model_stage: the stage that logs the model")
        return self
