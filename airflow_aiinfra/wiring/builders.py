"""Task kind → operator: one literal table, the only place a plan's kinds meet operator classes.

Every kind is ``Operator(**common, **payload.kwargs())``: the keyword arguments every kind shares (id,
group, retries, pool, ...) and the payload, whose fields are the operator's keyword arguments
(``airflow_aiinfra.contract``). A stage also gets its pod, built from the task's ``PodPlan`` into
KubernetesPodOperator arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_aiinfra.contract import TaskKind
from airflow_aiinfra.operators.data_quality import DataQualityOperator
from airflow_aiinfra.operators.feast import (
    FeastApplyOperator,
    FeastConsistencyOperator,
    FeastMaterializeOperator,
    FeastTrainingSetOperator,
)
from airflow_aiinfra.operators.mlflow import (
    MlflowEndRunOperator,
    MlflowRegisterModelOperator,
    MlflowStartRunOperator,
)
from airflow_aiinfra.operators.stage import StageOperator
from airflow_aiinfra.plan.model import TaskPlan
from airflow_aiinfra.wiring.k8s import pod_kwargs


def common_kwargs(task: TaskPlan, common: dict[str, Any]) -> dict[str, Any]:
    """Task arguments every kind shares: id, group, retries, timeout, pool, trigger rule, docs."""
    kw: dict[str, Any] = {
        "task_id": task.name,
        "retries": task.retries,
        "retry_delay": task.retry_delay,
        "retry_exponential_backoff": 2.0 if task.retry_exponential_backoff else 0,
        "execution_timeout": task.execution_timeout,
        "pool_slots": task.pool_slots,
        "trigger_rule": task.trigger_rule,
        **common,
    }
    if task.max_retry_delay is not None:
        kw["max_retry_delay"] = task.max_retry_delay
    if task.pool:
        kw["pool"] = task.pool
    if task.doc:
        kw["doc_md"] = task.doc
    return kw


def _no_extra(task: TaskPlan) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Builder:
    """``operator(**common, **extra(task), **payload)``; ``extra`` adds what is not plain payload (a pod)."""

    operator: type
    extra: Callable[[TaskPlan], dict[str, Any]] = field(default=_no_extra)

    def __call__(self, task: TaskPlan, common: dict[str, Any]) -> Any:
        return self.operator(**common_kwargs(task, common), **self.extra(task), **task.payload.kwargs())


def _stage_pod(task: TaskPlan) -> dict[str, Any]:
    assert task.pod is not None, f"stage task {task.task_id} has no pod"
    return {**pod_kwargs(task.pod), "name": task.name.replace("_", "-"), "on_finish_action": "delete_pod",
            "get_logs": True}


BUILDERS: dict[TaskKind, Builder] = {
    TaskKind.STAGE: Builder(StageOperator, _stage_pod),
    TaskKind.DQ_GATE: Builder(DataQualityOperator),
    TaskKind.FEAST_APPLY: Builder(FeastApplyOperator),
    TaskKind.FEAST_MATERIALIZE: Builder(FeastMaterializeOperator),
    TaskKind.FEAST_CONSISTENCY: Builder(FeastConsistencyOperator),
    TaskKind.FEAST_TRAINING_SET: Builder(FeastTrainingSetOperator),
    TaskKind.MLFLOW_START_RUN: Builder(MlflowStartRunOperator),
    TaskKind.MLFLOW_REGISTER_MODEL: Builder(MlflowRegisterModelOperator),
    TaskKind.MLFLOW_END_RUN: Builder(MlflowEndRunOperator),
}


def build_operator(task: TaskPlan, common: dict[str, Any]) -> Any:
    return BUILDERS[task.kind](task, common)
