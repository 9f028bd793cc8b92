"""Builders for the experiment task kinds (see airflow_aiinfra.plan.experiment)."""

from __future__ import annotations

from typing import Any

from airflow_aiinfra.plan.model import DagPlan, TaskPlan
from airflow_aiinfra.wiring.registry import common_kwargs, register


@register("mlflow_start_run")
def build_start_run(task: TaskPlan, dag: DagPlan, common: dict[str, Any]) -> Any:
    from airflow_aiinfra.operators.mlflow import MlflowStartRunOperator

    p = task.payload
    return MlflowStartRunOperator(
        **common_kwargs(task, common),
        experiment_name=p["experiment_name"],
        tracking_uri=p["tracking_uri"],
        conn_id=p["conn_id"],
        tags=p["tags"],
        params_to_log=p["params"],
        spec_name=p["spec_name"],
        spec_file=p["spec_file"],
        spec_text=p["spec_text"],
        spec_sha256=p["spec_sha256"],
    )


@register("mlflow_register_model")
def build_register_model(task: TaskPlan, dag: DagPlan, common: dict[str, Any]) -> Any:
    from airflow_aiinfra.operators.mlflow import MlflowRegisterModelOperator

    p = task.payload
    return MlflowRegisterModelOperator(
        **common_kwargs(task, common),
        registered_model=p["registered_model"],
        alias=p["alias"],
        model_name=p["model_name"],
        metric_gates=p["metric_gates"],
        spec_sha256=p["spec_sha256"],
    )


@register("mlflow_end_run")
def build_end_run(task: TaskPlan, dag: DagPlan, common: dict[str, Any]) -> Any:
    from airflow_aiinfra.operators.mlflow import MlflowEndRunOperator

    return MlflowEndRunOperator(**common_kwargs(task, common))
