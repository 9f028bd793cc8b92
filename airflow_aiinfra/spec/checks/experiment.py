"""``experiment``: the model stage exists, stages leave the MLflow environment alone."""

from __future__ import annotations

from collections.abc import Iterator

from airflow_aiinfra.contract import MLFLOW_ENV
from airflow_aiinfra.spec.checks.common import Issue
from airflow_aiinfra.spec.model.root import Spec
from airflow_aiinfra.spec.options import SpecOptions
from airflow_aiinfra.spec.suggest import did_you_mean


def issues(spec: Spec, options: SpecOptions) -> Iterator[Issue]:
    ex = spec.experiment
    if ex is None:
        return
    stages = spec.training_pipeline.stages if spec.training_pipeline else []
    names = {s.name for s in stages}
    if ex.model_stage is not None and ex.model_stage not in names:
        hint = did_you_mean(ex.model_stage, names) or (f"; stages are {', '.join(sorted(names))}" if names else
                                                        "; there is no training_pipeline")
        yield ("experiment", "model_stage"), f"unknown stage {ex.model_stage!r}{hint}"
    for i, stage in enumerate(stages):
        for key in MLFLOW_ENV:
            if key in stage.env:
                yield ("training_pipeline", "stages", i, "env", key), (
                    f"{key} is set by the experiment section for every stage (one MLflow run per pipeline "
                    "run); remove it from the stage's env"
                )
