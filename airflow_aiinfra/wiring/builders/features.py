"""Builders for the features task kinds (see airflow_aiinfra.plan.features)."""

from __future__ import annotations

from typing import Any

from airflow_aiinfra.plan.model import DagPlan, TaskPlan
from airflow_aiinfra.wiring.registry import common_kwargs, register


@register("feast_apply")
def build_feast_apply(task: TaskPlan, dag: DagPlan, common: dict[str, Any]) -> Any:
    from airflow_aiinfra.operators.feast import FeastApplyOperator

    return FeastApplyOperator(**common_kwargs(task, common), **task.payload)


@register("feast_materialize")
def build_feast_materialize(task: TaskPlan, dag: DagPlan, common: dict[str, Any]) -> Any:
    from airflow_aiinfra.operators.feast import FeastMaterializeOperator

    return FeastMaterializeOperator(**common_kwargs(task, common), **task.payload)


@register("feast_consistency")
def build_feast_consistency(task: TaskPlan, dag: DagPlan, common: dict[str, Any]) -> Any:
    from airflow_aiinfra.operators.feast import FeastConsistencyOperator

    return FeastConsistencyOperator(**common_kwargs(task, common), **task.payload)


@register("feast_training_set")
def build_feast_training_set(task: TaskPlan, dag: DagPlan, common: dict[str, Any]) -> Any:
    from airflow_aiinfra.operators.feast import FeastTrainingSetOperator

    return FeastTrainingSetOperator(**common_kwargs(task, common), **task.payload)
