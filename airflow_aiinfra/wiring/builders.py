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
from airflow_aiinfra.plan.model import TaskPlan


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
    if task.outlets:
        kw["outlets"] = [asset(uri) for uri in task.outlets]
    if task.inlets:
        kw["inlets"] = [asset(uri) for uri in task.inlets]
    return kw


def asset(uri: str) -> Any:
    """The Airflow Asset of a planned URI (``aiinfra://<spec>/<what>``), named ``<spec>.<what>`` in the UI."""
    from airflow.sdk import Asset

    name = uri.split("://", 1)[-1].replace("/", ".")
    return Asset(name=name, uri=uri, group="aiinfra")


def _no_extra(task: TaskPlan) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Builder:
    """``operator(**common, **extra(task), **payload)``; ``extra`` adds what is not plain payload (a pod).
    ``load`` imports the operator class when a DAG first needs it: a parse unit of training-only specs never
    imports the quality, Feast or MLflow operator modules."""

    load: Callable[[], type]
    extra: Callable[[TaskPlan], dict[str, Any]] = field(default=_no_extra)

    @property
    def operator(self) -> type:
        return self.load()

    def __call__(self, task: TaskPlan, common: dict[str, Any]) -> Any:
        return self.operator(**common_kwargs(task, common), **self.extra(task), **task.payload.kwargs())


def _stage_pod(task: TaskPlan) -> dict[str, Any]:
    from airflow_aiinfra.wiring.k8s import pod_kwargs

    assert task.pod is not None, f"stage task {task.task_id} has no pod"
    return {**pod_kwargs(task.pod), "name": task.name.replace("_", "-"), "on_finish_action": "delete_pod",
            "get_logs": True}


def _stage() -> type:
    from airflow_aiinfra.operators.stage import StageOperator

    return StageOperator


def _gate() -> type:
    from airflow_aiinfra.operators.data_quality import DataQualityOperator

    return DataQualityOperator


def _distributed_job() -> type:
    from airflow_aiinfra.operators.distributed import DistributedJobOperator

    return DistributedJobOperator


def _spark() -> type:
    from airflow_aiinfra.operators.spark import SparkStageOperator

    return SparkStageOperator


def _feast(name: str) -> Callable[[], type]:
    def load() -> type:
        from airflow_aiinfra.operators import feast

        return getattr(feast, name)

    return load


def _mlflow(name: str) -> Callable[[], type]:
    def load() -> type:
        from airflow_aiinfra.operators import mlflow

        return getattr(mlflow, name)

    return load


def _monitoring(name: str) -> Callable[[], type]:
    def load() -> type:
        from airflow_aiinfra.operators import monitoring

        return getattr(monitoring, name)

    return load


def _rollout(name: str) -> Callable[[], type]:
    def load() -> type:
        from airflow_aiinfra.operators import rollout

        return getattr(rollout, name)

    return load


def _check(name: str) -> Callable[[], type]:
    def load() -> type:
        from airflow_aiinfra.operators import drift

        return getattr(drift, name)

    return load


def _publish() -> type:
    from airflow_aiinfra.operators.inference_table import PublishTableOperator

    return PublishTableOperator


def _wait_dag_run() -> type:
    from airflow_aiinfra.sensors.dag_run import WaitDagRunSensor

    return WaitDagRunSensor


def _analysis() -> type:
    from airflow_aiinfra.sensors.rollout import RolloutAnalysisSensor

    return RolloutAnalysisSensor


BUILDERS: dict[TaskKind, Builder] = {
    TaskKind.STAGE: Builder(_stage, _stage_pod),
    TaskKind.DQ_GATE: Builder(_gate),
    TaskKind.FEAST_APPLY: Builder(_feast("FeastApplyOperator")),
    TaskKind.FEAST_MATERIALIZE: Builder(_feast("FeastMaterializeOperator")),
    TaskKind.FEAST_CONSISTENCY: Builder(_feast("FeastConsistencyOperator")),
    TaskKind.FEAST_TRAINING_SET: Builder(_feast("FeastTrainingSetOperator")),
    TaskKind.MLFLOW_START_RUN: Builder(_mlflow("MlflowStartRunOperator")),
    TaskKind.MLFLOW_REGISTER_MODEL: Builder(_mlflow("MlflowRegisterModelOperator")),
    TaskKind.MLFLOW_END_RUN: Builder(_mlflow("MlflowEndRunOperator")),
    TaskKind.DISTRIBUTED_JOB: Builder(_distributed_job),
    TaskKind.SPARK: Builder(_spark),
    TaskKind.INFERENCE_RESOLVE: Builder(_monitoring("ResolveModelOperator")),
    TaskKind.DRIFT_CHECK: Builder(_check("DriftCheckOperator")),
    TaskKind.DECAY_CHECK: Builder(_check("DecayCheckOperator")),
    TaskKind.RETRAIN_REQUEST: Builder(_monitoring("RetrainRequestOperator")),
    TaskKind.WAIT_DAG_RUN: Builder(_wait_dag_run),
    TaskKind.INFERENCE_PUBLISH: Builder(_publish),
    TaskKind.ROLLOUT_DEPLOY: Builder(_rollout("RolloutDeployOperator")),
    TaskKind.ROLLOUT_ANALYZE: Builder(_analysis),
    TaskKind.ROLLOUT_SHIFT: Builder(_rollout("RolloutShiftOperator")),
    TaskKind.ROLLOUT_PROMOTE: Builder(_rollout("RolloutPromoteOperator")),
    TaskKind.ROLLOUT_ROLLBACK: Builder(_rollout("RolloutRollbackOperator")),
}


def build_operator(task: TaskPlan, common: dict[str, Any]) -> Any:
    return BUILDERS[task.kind](task, common)
