"""The whole spec: metadata, defaults and the seven sections.

Each section's models are imported and built only when a spec has that section (``sections.py``): pydantic
builds a model class in about a millisecond, and a parse unit holding one training-only spec should not pay
for the feature-store, quality, experiment and serving models too. For type checkers the section fields are
their real models; at run time they are validated by those models through a plain validator, which keeps
pydantic's error locations (``training_pipeline.stages[0].name``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainValidator, field_validator, model_validator

from airflow_aiinfra.spec.model.defaults import Defaults
from airflow_aiinfra.spec.model.sections import section_model
from airflow_aiinfra.spec.types import ConnId, Name, Strict

if TYPE_CHECKING:
    from airflow_aiinfra.spec.model.experiment import Experiment
    from airflow_aiinfra.spec.model.features import FeatureStore
    from airflow_aiinfra.spec.model.monitoring import BatchInference, Drift
    from airflow_aiinfra.spec.model.quality import DataQuality
    from airflow_aiinfra.spec.model.serving import ModelServing
    from airflow_aiinfra.spec.model.training import TrainingPipeline

SPEC_VERSION = 1


class ParamSpec(Strict):
    """A run-time parameter shown in Airflow's trigger form."""

    default: Any = None
    type: Literal["string", "integer", "number", "boolean", "array", "object"] | None = None
    description: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    enum: list[Any] | None = None

    @model_validator(mode="after")
    def _default_fits(self) -> ParamSpec:
        """Airflow refuses a scheduled DAG whose param defaults break their own schema: say so here."""
        v = self.default
        if v is None:
            return self
        ok_type = {
            "string": isinstance(v, str),
            "integer": isinstance(v, int) and not isinstance(v, bool),
            "number": isinstance(v, int | float) and not isinstance(v, bool),
            "boolean": isinstance(v, bool),
            "array": isinstance(v, list),
            "object": isinstance(v, dict),
        }
        if self.type is not None and not ok_type[self.type]:
            raise ValueError(f"default {v!r} is not of type {self.type!r}")
        number = isinstance(v, int | float) and not isinstance(v, bool)
        if number and self.minimum is not None and v < self.minimum:
            raise ValueError(f"default {v!r} is below minimum {self.minimum:g}")
        if number and self.maximum is not None and v > self.maximum:
            raise ValueError(f"default {v!r} is above maximum {self.maximum:g}")
        if self.enum is not None and v not in self.enum:
            raise ValueError(f"default {v!r} is not one of the enum values {self.enum!r}")
        return self


def _param(value: Any) -> Any:
    return value if isinstance(value, dict) and "default" in value else {"default": value}


Param = Annotated[ParamSpec, BeforeValidator(_param, json_schema_input_type=ParamSpec | str | int | float | bool | list)]


class Notify(Strict):
    """Who hears about failures: e-mail addresses and/or a webhook connection (Slack-compatible JSON)."""

    email: list[str] = Field(default_factory=list)
    webhook_conn_id: ConnId | None = None
    on: list[Literal["failure", "retry", "success"]] = Field(default_factory=lambda: ["failure"])

    @field_validator("email")
    @classmethod
    def _emails(cls, values: list[str]) -> list[str]:
        for v in values:
            if "@" not in v or " " in v:
                raise ValueError(f"{v!r} is not an e-mail address")
        return values


def _lazy(name: str) -> Any:
    def validate(value: Any) -> Any:
        return None if value is None else section_model(name).model_validate(value)

    return Annotated[Any, PlainValidator(validate)]


class Spec(Strict):
    """One ML system: its training pipeline, data gates, features, experiment and serving."""

    spec_version: Literal[1] = Field(SPEC_VERSION, description="Format version of this file.")
    name: Name = Field(description="Becomes the prefix of the DAG ids.")
    description: str = ""
    owner: str = "airflow"
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, description="Airflow DAG tags (at most 100 characters each)."
    )
    schedule: str | None = Field(None, description="Cron, preset (@daily) or null for manual runs.")
    start_date: str = "2024-01-01"
    timezone: str = "UTC"
    catchup: bool = False
    max_active_runs: int = Field(1, ge=1, le=64)
    params: dict[str, Param] = Field(default_factory=dict)
    notify: Notify | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    if TYPE_CHECKING:
        training_pipeline: TrainingPipeline | None = None
        data_quality: DataQuality | None = None
        feature_store: FeatureStore | None = None
        experiment: Experiment | None = None
        model_serving: ModelServing | None = None
        batch_inference: BatchInference | None = None
        drift: Drift | None = None
    else:
        training_pipeline: _lazy("training_pipeline") = None
        data_quality: _lazy("data_quality") = None
        feature_store: _lazy("feature_store") = None
        experiment: _lazy("experiment") = None
        model_serving: _lazy("model_serving") = None
        batch_inference: _lazy("batch_inference") = None
        drift: _lazy("drift") = None

    @field_validator("start_date", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an ISO date; write it like '2024-01-01'") from None
        return value
