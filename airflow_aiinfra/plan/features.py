"""feature_store → apply / training-set tasks in the pipeline, and a materialization DAG of its own."""

from __future__ import annotations

from airflow_aiinfra.plan.context import PlanContext
from airflow_aiinfra.plan.graph import PlanGraph
from airflow_aiinfra.plan.model import DagPlan


def plan_feature_tasks(ctx: PlanContext, graph: PlanGraph) -> None:
    return None


def plan_materialize_dag(ctx: PlanContext) -> DagPlan | None:
    return None
