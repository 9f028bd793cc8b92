"""``stage`` tasks → StageOperator (a KubernetesPodOperator that can also run locally)."""

from __future__ import annotations

from typing import Any

from airflow_aiinfra.plan.model import DagPlan, TaskPlan
from airflow_aiinfra.wiring.registry import common_kwargs, register


@register("stage")
def build_stage(task: TaskPlan, dag: DagPlan, common: dict[str, Any]) -> Any:
    from airflow_aiinfra.operators.stage import StageOperator
    from airflow_aiinfra.wiring.k8s import pod_kwargs

    assert task.pod is not None
    return StageOperator(
        **common_kwargs(task, common),
        **pod_kwargs(task.pod),
        name=task.name.replace("_", "-"),
        gpu_count=task.pod.gpu,
        local_cwd=task.pod.local_cwd,
        on_finish_action="delete_pod",
        get_logs=True,
    )
