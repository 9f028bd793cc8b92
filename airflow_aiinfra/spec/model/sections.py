"""Section name → its pydantic model, imported on first use (see root.py for why)."""

from __future__ import annotations

from typing import Any

SECTIONS = ("training_pipeline", "data_quality", "feature_store", "experiment", "model_serving", "batch_inference",
            "drift")


def section_model(name: str) -> Any:
    """The model class of top-level section ``name``."""
    if name == "training_pipeline":
        from airflow_aiinfra.spec.model.training import TrainingPipeline

        return TrainingPipeline
    if name == "data_quality":
        from airflow_aiinfra.spec.model.quality import DataQuality

        return DataQuality
    if name == "feature_store":
        from airflow_aiinfra.spec.model.features import FeatureStore

        return FeatureStore
    if name == "experiment":
        from airflow_aiinfra.spec.model.experiment import Experiment

        return Experiment
    if name == "model_serving":
        from airflow_aiinfra.spec.model.serving import ModelServing

        return ModelServing
    if name == "batch_inference":
        from airflow_aiinfra.spec.model.monitoring import BatchInference

        return BatchInference
    if name == "drift":
        from airflow_aiinfra.spec.model.monitoring import Drift

        return Drift
    raise KeyError(name)
