"""The published JSON Schema of a spec (what editors use to autocomplete and check)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from airflow_aiinfra.spec.model.experiment import Experiment
from airflow_aiinfra.spec.model.features import FeatureStore
from airflow_aiinfra.spec.model.monitoring import BatchInference, Drift
from airflow_aiinfra.spec.model.quality import DataQuality
from airflow_aiinfra.spec.model.root import Spec
from airflow_aiinfra.spec.model.serving import ModelServing
from airflow_aiinfra.spec.model.training import TrainingPipeline


class _FullSpec(Spec):
    """The spec with its sections typed (at parse time they are validated lazily; see spec/model/root.py)."""

    model_config = ConfigDict(title="Spec")

    training_pipeline: TrainingPipeline | None = None
    data_quality: DataQuality | None = None
    feature_store: FeatureStore | None = None
    experiment: Experiment | None = None
    model_serving: ModelServing | None = None
    batch_inference: BatchInference | None = None
    drift: Drift | None = None


def json_schema() -> dict[str, Any]:
    schema = _FullSpec.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://airflow-aiinfra.dev/schema/spec-v1.json"
    schema["title"] = "airflow-aiinfra spec"
    return schema
