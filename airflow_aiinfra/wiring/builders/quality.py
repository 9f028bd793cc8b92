"""Builders for the quality task kinds (see airflow_aiinfra.plan.quality)."""

from __future__ import annotations

from typing import Any

from airflow_aiinfra.plan.model import DagPlan, TaskPlan
from airflow_aiinfra.wiring.registry import common_kwargs, register


@register("dq_gate")
def build_gate(task: TaskPlan, dag: DagPlan, common: dict[str, Any]) -> Any:
    from airflow_aiinfra.operators.data_quality import DataQualityOperator

    p = task.payload
    return DataQualityOperator(
        **common_kwargs(task, common),
        gate=p["gate"],
        path=p["path"],
        format=p["format"],
        query=p["query"],
        conn_id=p["conn_id"],
        expectations=p["expectations"],
        suite_path=p["suite_path"],
        on_failure=p["on_failure"],
        base_dir=p["base_dir"],
    )
