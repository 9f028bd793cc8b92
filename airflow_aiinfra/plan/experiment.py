"""experiment → MLflow start/end/register tasks around the pipeline, and MLflow env in every stage."""

from __future__ import annotations

from airflow_aiinfra.plan.context import PlanContext
from airflow_aiinfra.plan.graph import PlanGraph


def plan_experiment(ctx: PlanContext, graph: PlanGraph) -> None:
    return None
